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
