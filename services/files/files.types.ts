/**
 * The shapes of the files service, shared by its API (files.service.ts) and its storage pipeline
 * (file-storage.ts).
 */
import type { Context } from "moleculer";
import type { Readable } from "node:stream";
import type { DbService } from "../../mixins/db.mixin";
import type { AuditMixinMethods } from "../../mixins/audit.mixin";
import type { CallerMeta } from "../../lib/caller";
import type { PlatformConfig } from "../../lib/config";
import type { ObjectStore } from "../../lib/storage/object-store";
import type { FileModel, FileRow, PublicFile, UploaderKind } from "../../models/files/files/file.model";
import type { AggregateMethods } from "../../mixins/aggregate.mixin";

export interface StreamUpload {
	tenantId: string;
	name: string;
	/** Hints that choose among the types the bytes allow (the part's Content-Type, the name's extension). */
	typeHints: string[];
	/** What the caller insists the type is (files.store): bytes of another type are refused (422). */
	requiredType?: string;
	contentLength?: number;
	/**
	 * A file the platform keeps for the tenant (files.storeSystemFile): stored under this key, outside the
	 * quota and the upload allow-list (its type is `requiredType`, checked against the bytes).
	 */
	systemKey?: string;
	/** files.store: the caller's id for the file (idempotent), and the object's Cache-Control. */
	id?: string;
	cacheControl?: string;
}

export type NewFile = Omit<FileRow, "createdAt" | "updatedAt" | "size" | "systemKey"> & { size: number; systemKey?: string | null };

export type FilesContext<P = Record<string, unknown>> = Context<P, CallerMeta & { headers?: Record<string, string> }>;

export interface FilesMethods extends Pick<AggregateMethods<FileRow, FileRow["status"], PublicFile>, "announce"> {
	present(row: FileRow): PublicFile;
	storage(): PlatformConfig["storage"];
	/** The tenant a file goes to: the caller's own; platform callers ($system) name one. */
	targetTenant(ctx: FilesContext<unknown>, requested?: string): string;
	uploader(meta: CallerMeta): { uploadedBy: string | null; uploaderKind: UploaderKind };
	toPublic(row: FileRow): PublicFile;
	uploadKeyOf(row: Pick<FileRow, "tenantId" | "id">): string;
	usedBytes(tenantId: string): Promise<number>;
	storedBytes(tenantId: string): Promise<number>;
	meterStorage(tenantId: string, change: string): void;
	quotaAllows(tenantId: string, current: number, increment: number): Promise<boolean>;
	reserveWithinQuota(row: NewFile): Promise<FileRow>;
	/** Inserts a system file's row; answers the one stored before under the same key instead, if any. */
	insertSystemFile(row: NewFile & { systemKey: string }): Promise<{ row: FileRow; existing: boolean }>;
	ingest(ctx: FilesContext<unknown>, stream: Readable, upload: StreamUpload): Promise<PublicFile>;
	storedWithId(id: string, tenantId: string): Promise<FileRow | undefined>;
	acceptedType(sniffed: string[], hints: string[], requiredType?: string): string;
	downloadUrl(row: FileRow): Promise<{ url: string; expiresAt: string }>;
	readHead(key: string, size: number): Promise<Buffer>;
	checksumOf(key: string): Promise<string>;
	discard(row: Pick<FileRow, "id" | "objectKey" | "tenantId">): Promise<void>;
	sweepExpiredUploads(): Promise<number>;
}

export interface FilesLocals {
	store: ObjectStore;
	sweepTimer?: NodeJS.Timeout;
}

export type FilesThis = DbService<typeof FileModel> & FilesMethods & FilesLocals & AuditMixinMethods;
