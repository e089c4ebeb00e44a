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
	/**
	 * The file's id, chosen by the caller so that storing the same thing twice (a job retried after a crash) keeps
	 * one file: when a file of the tenant already has it, that file is answered and the stream is not stored.
	 * Another tenant's id is 409 FILE_ID_TAKEN.
	 */
	id?: string;
	/** Cache-Control kept with the object and answered with its bytes (a CDN in front of S3_PUBLIC_URL honours it). */
	cacheControl?: string;
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
