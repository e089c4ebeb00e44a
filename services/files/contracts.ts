/**
 * The files domain's public face: what other domains may import from it (and nothing else).
 */
import type { PublicFile } from "../../models/files/files/file.model";

export type { PublicFile } from "../../models/files/files/file.model";

/** Events (fire and forget) a file's changes emit, with `{ file }` (FileEvent). */
export const FILE_EVENTS = { created: "file.created", deleted: "file.deleted" } as const;

/** What the `file.*` events carry. */
export interface FileEvent {
	file: PublicFile;
}

/** `files.store`: the call's stream is the file's bytes. */
export interface StoreParams {
	name: string;
	contentType?: string;
	/** For platform callers ($system) that act for a tenant; others store into their own tenant. */
	tenantId?: string;
}

/**
 * `files.storeSystemFile` ($system callers only): the call's stream is a file the platform keeps for the tenant
 * (an invoice's PDF). Answers the PublicFile; the same (tenantId, key) again answers the file stored first.
 */
export interface SystemFileParams {
	tenantId: string;
	name: string;
	/** What the bytes are (checked against them: 422 CONTENT_TYPE_MISMATCH otherwise). */
	contentType: string;
	/** The producer's name for the file, unique per tenant: `invoice:<invoiceId>`. `[A-Za-z0-9_.:-]`, ≤ 200. */
	key: string;
}

/** `files.presignDownload { id }`: a short-lived URL of a ready file's bytes. */
export interface PresignedDownload {
	url: string;
	expiresAt: string;
}
