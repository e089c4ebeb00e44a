/**
 * Files of a tenant in an S3-compatible object store, with their metadata in PostgreSQL.
 *
 * Two ways in: a multipart upload streamed through the gateway (`POST /files`), or a presigned PUT straight
 * to the store (`POST /files/upload-url`, then `POST /files/:id/complete`). Either way the type is sniffed
 * from the bytes and checked against the allow-list, the size limit and the tenant's storage quota hold,
 * and a refused file leaves neither a row nor an object. Other services store and read files through
 * `files.store`, `files.openStream` and `files.presignDownload` with streams; the platform keeps files for a
 * tenant (invoice PDFs) through `files.storeSystemFile`, outside the tenant's quota.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";
import type { Service, ServiceSchema } from "moleculer";
import { DbMixin, PAGE_PARAMS, pageSchema, plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AuditMixin, type AuditMixinMethods } from "../../mixins/audit.mixin";
import { isPlatformCaller, requireTenant, roleRank, type CallerMeta } from "../../lib/caller";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { platformConfigOf } from "../../lib/node";
import { BadRequestError, ConflictError, EntityNotFoundError, ForbiddenError, ServiceUnavailableError, UnprocessableEntityError, UnsupportedMediaTypeError } from "../../lib/errors";
import { S3ObjectStore, storageConnectionOf } from "../../lib/storage/object-store";
import { SNIFF_BYTES, normalizeMediaType, sniffContentTypes, typeFromExtension } from "./content-type";
import { tooLarge } from "./ingest";
import { sanitizeFileName } from "./file-name";
import { FILE_EVENTS, type StoreParams, type SystemFileParams } from "./contracts";
import { FileStorage } from "./file-storage";
import type { FilesContext, FilesLocals, FilesMethods, FilesThis } from "./files.types";
import { FileModel, PRESIGNED_UPLOAD_SCHEMA, PUBLIC_FILE_SCHEMA, toPublicFile, type FileRow, type FileStatus, type PublicFile } from "../../models/files/files/file.model";
import { created } from "../../lib/api-path";
import { AggregateMixin } from "../../mixins/aggregate.mixin";

export { FILE_EVENTS };
export type { StoreParams, SystemFileParams } from "./contracts";

const SWEEP_INTERVAL_MS = 60_000;
/** The file an action names: another tenant's answers 404, exactly like a missing one; platform callers reach all (DbMixin's owner). */
const FILE_SCOPE = { entity: "file", name: "File" } as const;
const MEDIA_TYPE = { type: "string", trim: true, max: 255, pattern: /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?$/ } as const;

interface UploadParams {
	$fieldname: string;
	$filename: string;
	$mimetype?: string;
	name?: string;
}

function isReadable(stream: unknown): stream is Readable {
	return Boolean(stream) && typeof (stream as Readable).read === "function" && typeof (stream as Readable).on === "function";
}

const FilesService: DbServiceSchema<DbMixinSettings, FilesMethods & AuditMixinMethods, FilesLocals, typeof FileModel> = {
	name: "files",
	mixins: [
		DbMixin({
			schema: "files",
			migrations: path.join(__dirname, "../../models/files/files/migrations"),
			model: FileModel,
			// A file is its tenant's.
			owner: "tenant",
			entityName: "File",
		}),
		AggregateMixin({ model: "file", entityName: "File" }),
		AuditMixin,
		FileStorage,
	],
	// lib/node.ts gives this node an object store (configured, or the embedded one) before it starts.
	metadata: { needsObjectStorage: true },
	settings: { fields: ["id", "tenantId", "name", "size", "contentType", "checksum", "status", "uploadedBy", "uploaderKind", "createdAt", "updatedAt"] },

	/**
	 * The gateway's multipart parser takes its limits from the route, which travels to every gateway as
	 * plain data: one file part of at most FILES_MAX_BYTES, and a few small fields before it. The action's
	 * timeout travels the same way, and is what the gateway's call waits for: the whole body, not a service
	 * call's REQUEST_TIMEOUT_MS.
	 */
	merged(this: Service, schema: ServiceSchema) {
		const { maxFileBytes, uploadTimeoutMs } = platformConfigOf(this.broker).storage;
		const actions = schema.actions as Record<string, Record<string, unknown>>;
		actions.upload = {
			...actions.upload,
			timeout: uploadTimeoutMs,
			rest: { method: "POST", path: "/", type: "multipart", busboyConfig: { limits: { files: 1, fileSize: maxFileBytes, fields: 4, fieldSize: 1024, parts: 5, headerPairs: 20 } } },
		};
	},

	actions: {
		upload: {
			// The route itself (multipart, with the configured limits) is set in merged().
			rest: { method: "POST", path: "/" },
			permissions: ["tenant:member"],
			headers: ["content-length"],
			summary: "Upload one file (multipart/form-data, one file part named `file`), streamed to storage",
			description:
				"The type is sniffed from the bytes (the part's Content-Type only chooses among types the bytes allow, such as CSV versus plain text) and must be on the allow-list (else 415). Too large for the limit or the tenant's quota: 413. Only the first file part is read; later ones are ignored. A `name` field sent before the file renames it.",
			params: {
				$fieldname: "string|max:100",
				$filename: "string|max:1024",
				$mimetype: { type: "string", optional: true, max: 255 },
				name: { type: "string", optional: true, max: 1024 },
				$$strict: "remove",
			},
			// 413 and 415 come with the multipart route; the description says what else answers them.
			openapi: { fileParts: ["file"], responses: { "201": { description: "The stored file", content: { "application/json": { schema: PUBLIC_FILE_SCHEMA } } } } },
			async handler(this: FilesThis, ctx: FilesContext<UploadParams>) {
				if (!isReadable(ctx.stream)) throw new BadRequestError("Send the file as multipart/form-data", "FILE_REQUIRED");
				if (ctx.params.$fieldname !== "file") throw new BadRequestError('The file part must be named "file"', "FILE_FIELD_REQUIRED", { field: ctx.params.$fieldname });
				const tenantId = this.targetTenant(ctx);
				const name = sanitizeFileName(ctx.params.name ?? ctx.params.$filename);
				const hints = [ctx.params.$mimetype, typeFromExtension(name)].filter((hint): hint is string => Boolean(hint)).map(normalizeMediaType);
				const contentLength = Number(ctx.meta.headers?.["content-length"]);
				const file = await this.ingest(ctx, ctx.stream, { tenantId, name, typeHints: hints, contentLength: Number.isFinite(contentLength) ? contentLength : undefined });
				created(ctx, "files", file.id);
				return file;
			},
		},

		createUploadUrl: {
			rest: "POST /upload-url",
			errors: { 413: ["FILE_TOO_LARGE", "QUOTA_EXCEEDED"], 415: ["UNSUPPORTED_FILE_TYPE"], 503: ["STORAGE_UNAVAILABLE"] },
			permissions: ["tenant:member"],
			summary: "Reserve an upload: a presigned PUT URL for the bytes, then POST /files/:id/complete",
			params: {
				name: "string|trim|min:1|max:1024",
				size: "number|integer|min:0|convert",
				contentType: MEDIA_TYPE,
			},
			openapi: { responses: { "201": { description: "The pending file's id, the presigned URL and when it expires", content: { "application/json": { schema: PRESIGNED_UPLOAD_SCHEMA } } } } },
			async handler(this: FilesThis, ctx: FilesContext<{ name: string; size: number; contentType: string }>) {
				const tenantId = this.targetTenant(ctx);
				const storage = this.storage();
				const contentType = normalizeMediaType(ctx.params.contentType);
				if (!storage.allowedContentTypes.includes(contentType)) {
					throw new UnsupportedMediaTypeError(`Files of type ${contentType} are not accepted`, "UNSUPPORTED_FILE_TYPE", { contentType, allowed: storage.allowedContentTypes });
				}
				if (ctx.params.size > storage.maxFileBytes) throw tooLarge(storage.maxFileBytes);
				const id = randomUUID();
				const row = await this.reserveWithinQuota({
					id,
					tenantId,
					...this.uploader(ctx.meta),
					name: sanitizeFileName(ctx.params.name),
					size: ctx.params.size,
					contentType,
					checksum: null,
					objectKey: `${tenantId}/${id}`,
					status: "pending",
				});
				const uploadUrl = await this.store.presignPut(this.uploadKeyOf(row), storage.presignTtlSeconds);
				created(ctx, "files", id);
				return { id, uploadUrl, method: "PUT", expiresAt: new Date(Date.now() + storage.presignTtlSeconds * 1000).toISOString(), file: this.toPublic(row) };
			},
		},

		completeUpload: {
			rest: "POST /:id/complete",
			permissions: ["tenant:member"],
			summary: "Check a presigned upload (size, sniffed type) and make the file ready",
			params: { id: "string|max:64" },
			scope: FILE_SCOPE,
			openapi: {
				responses: {
					"200": { description: "The ready file (also when it was already complete)", content: { "application/json": { schema: PUBLIC_FILE_SCHEMA } } },
					"409": { $ref: "#/components/responses/Problem", description: "Nothing has been uploaded to the URL yet (UPLOAD_INCOMPLETE)" },
					"422": {
						$ref: "#/components/responses/Problem",
						description: "The bytes are not what was reserved (SIZE_MISMATCH, CONTENT_TYPE_MISMATCH, with what was declared and found); they are deleted, and the URL may be used again until it expires",
					},
				},
			},
			async handler(this: FilesThis, ctx: FilesContext<{ id: string }>) {
				const row = entityOf<FileRow>(ctx);
				if (row.status === "ready") return this.toPublic(row);
				const uploadKey = this.uploadKeyOf(row);
				const uploaded = await this.store.stat(uploadKey);
				if (!uploaded) throw new ConflictError("Nothing has been uploaded to the URL yet", "UPLOAD_INCOMPLETE");
				// The checked bytes are moved to a key the presigned URL can't write: a later PUT can't swap them.
				await this.store.copy(uploadKey, row.objectKey);
				await this.store.remove(uploadKey);
				const declaredSize = Number(row.size);
				const stored = await this.store.stat(row.objectKey);
				if (!stored || stored.size !== declaredSize) {
					await this.store.remove(row.objectKey);
					throw new UnprocessableEntityError(`The upload has ${stored?.size ?? 0} bytes, ${declaredSize} were declared`, "SIZE_MISMATCH", { declared: declaredSize, actual: stored?.size ?? 0 });
				}
				const sniffed = await sniffContentTypes(await this.readHead(row.objectKey, stored.size), stored.size <= SNIFF_BYTES);
				if (!sniffed.includes(row.contentType)) {
					await this.store.remove(row.objectKey);
					throw new UnprocessableEntityError(`The upload is ${sniffed[0]}, ${row.contentType} was declared`, "CONTENT_TYPE_MISMATCH", { declared: row.contentType, detected: sniffed[0] });
				}
				const checksum = await this.checksumOf(row.objectKey);
				const [updated] = await this.model.update({ status: "ready", checksum }, { where: { id: row.id, status: "pending" } });
				if (updated === 0) {
					// Completed by a concurrent call, or swept as expired in the meantime.
					const current = plainRow(await this.model.findByPk(row.id));
					if (!current) {
						await this.store.remove(row.objectKey);
						throw new EntityNotFoundError("File", row.id);
					}
					return this.toPublic(current);
				}
				this.meterStorage(row.tenantId, `${row.id}:ready`);
				return this.announce(ctx, FILE_EVENTS.created, { ...row, status: "ready" as const, checksum });
			},
		},

		listFiles: {
			rest: "GET /",
			permissions: ["tenant:viewer"],
			summary: "The tenant's files, newest first (ready ones unless `status` says otherwise)",
			params: {
				...PAGE_PARAMS,
				status: { type: "enum", values: ["ready", "pending", "all"], optional: true, default: "ready" },
				$$strict: "remove",
			},
			openapi: { responses: { "200": { description: "A page of files", content: { "application/json": { schema: pageSchema(PUBLIC_FILE_SCHEMA) } } } } },
			async handler(this: FilesThis, ctx: FilesContext<{ page: number; pageSize: number; status: FileStatus | "all" }>) {
				const { page, pageSize, status } = ctx.params;
				return this.scoped(ctx).page({ page, pageSize, where: status === "all" ? {} : { status } }, (row) => this.toPublic(row));
			},
		},

		getFile: {
			rest: "GET /:id",
			permissions: ["tenant:viewer"],
			summary: "A file's metadata",
			params: { id: "string|max:64" },
			scope: FILE_SCOPE,
			openapi: { responses: { "200": { description: "The file", content: { "application/json": { schema: PUBLIC_FILE_SCHEMA } } } } },
			async handler(this: FilesThis, ctx: FilesContext<{ id: string }>) {
				return this.toPublic(entityOf<FileRow>(ctx));
			},
		},

		download: {
			rest: "GET /:id/download",
			permissions: ["tenant:viewer"],
			summary: "302 to a short-lived presigned URL of the file's bytes (Content-Disposition: attachment)",
			params: { id: "string|max:64" },
			scope: FILE_SCOPE,
			openapi: { responses: { "302": { description: "Location is a presigned URL, valid for FILES_PRESIGN_TTL_SECONDS" } } },
			errors: { 409: ["FILE_NOT_READY"], 503: ["STORAGE_UNAVAILABLE"] },
			async handler(this: FilesThis, ctx: FilesContext<{ id: string }>) {
				const { url } = await this.downloadUrl(entityOf<FileRow>(ctx));
				ctx.meta.$statusCode = 302;
				ctx.meta.$location = url;
				// The redirect is as short-lived as the URL it points at.
				ctx.meta.$responseHeaders = { "Cache-Control": "no-store" };
				return null;
			},
		},

		deleteFile: {
			rest: "DELETE /:id",
			permissions: ["tenant:member"],
			summary: "Delete a file (its uploader, or a tenant admin): the object and the row",
			params: { id: "string|max:64" },
			scope: FILE_SCOPE,
			responses: { 204: "Deleted: the object and the row" },
			errors: { 409: ["FILE_MANAGED"] },
			async handler(this: FilesThis, ctx: FilesContext<{ id: string }>) {
				const row = entityOf<FileRow>(ctx);
				if (row.systemKey) throw new ConflictError("This file is kept by the platform (such as an invoice's PDF) and can't be deleted", "FILE_MANAGED");
				const callerId = ctx.meta.apiKeyId ?? ctx.meta.user?.id;
				const admin = isPlatformCaller(ctx.meta) || (!ctx.meta.apiKeyId && roleRank(ctx.meta.role) <= roleRank("admin"));
				if (!admin && (!callerId || row.uploadedBy !== callerId)) {
					throw new ForbiddenError("Only the file's uploader or a tenant admin can delete it", "NOT_FILE_OWNER");
				}
				// The row goes first: a file is never listed without its bytes. A failed object removal is retried by no one, so it is logged.
				await this.model.destroy({ where: { id: row.id } });
				if (row.status === "ready") this.meterStorage(row.tenantId, `${row.id}:deleted`);
				await this.discard(row);
				await this.audit(ctx, { action: FILE_EVENTS.deleted, tenantId: row.tenantId, targetType: "file", targetId: row.id, data: { name: row.name, size: Number(row.size) } });
				await this.announce(ctx, FILE_EVENTS.deleted, row, "removed");
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/**
		 * Internal: stores the call's stream (`broker.call("files.store", { name }, { stream, meta })`) as a
		 * file of the caller's tenant (platform callers name `tenantId`), under the same rules as an upload. With
		 * an `id`, storing again answers the file stored first (see StoreParams); `cacheControl` goes with the object.
		 */
		store: {
			visibility: "public",
			params: {
				name: "string|trim|min:1|max:1024",
				contentType: { ...MEDIA_TYPE, optional: true },
				tenantId: { type: "uuid", optional: true },
				id: { type: "uuid", optional: true },
				cacheControl: { type: "string", optional: true, max: 200, pattern: /^[\x20-\x7e]+$/ },
			},
			async handler(this: FilesThis, ctx: FilesContext<StoreParams>) {
				if (!isReadable(ctx.stream)) throw new BadRequestError("files.store needs a stream (the `stream` call option)", "STREAM_REQUIRED");
				const tenantId = this.targetTenant(ctx, ctx.params.tenantId);
				const name = sanitizeFileName(ctx.params.name);
				const requiredType = ctx.params.contentType ? normalizeMediaType(ctx.params.contentType) : undefined;
				const typeHints = [requiredType, typeFromExtension(name)].filter((hint): hint is string => Boolean(hint));
				return this.ingest(ctx, ctx.stream, { tenantId, name, typeHints, requiredType, id: ctx.params.id?.toLowerCase(), cacheControl: ctx.params.cacheControl });
			},
		},

		/**
		 * Internal, platform callers only ($system): stores the call's stream as a file the platform keeps for a
		 * tenant, such as an invoice's PDF (`{ tenantId, name, contentType: "application/pdf", key: "invoice:<id>" }`).
		 * The size limit holds and the bytes must be of the declared type (422), but the tenant's quota and the
		 * upload allow-list don't apply: the tenant didn't upload it, and a tenant over its quota still gets its
		 * invoices. One file per (tenant, key): a second call answers the file stored first and stores nothing,
		 * so a producer retrying a step doesn't leave copies. Such files can't be deleted through the API.
		 */
		storeSystemFile: {
			visibility: "public",
			params: {
				tenantId: "uuid",
				name: "string|trim|min:1|max:1024",
				contentType: MEDIA_TYPE,
				key: { type: "string", min: 1, max: 200, pattern: /^[A-Za-z0-9_.:-]+$/ },
			},
			async handler(this: FilesThis, ctx: FilesContext<SystemFileParams>) {
				if (!ctx.meta.$system) throw new ForbiddenError("Only platform services store system files", "SYSTEM_CALLER_REQUIRED");
				if (!isReadable(ctx.stream)) throw new BadRequestError("files.storeSystemFile needs a stream (the `stream` call option)", "STREAM_REQUIRED");
				const { tenantId, key } = ctx.params;
				const existing = plainRow(await this.model.findOne({ where: { tenantId, systemKey: key } }));
				if (existing) {
					// Nobody reads the stream now: let it drain, so a sender on another node isn't left waiting.
					ctx.stream.on("error", () => undefined).resume();
					return this.toPublic(existing);
				}
				const name = sanitizeFileName(ctx.params.name);
				const requiredType = normalizeMediaType(ctx.params.contentType);
				return this.ingest(ctx, ctx.stream, { tenantId, name, typeHints: [requiredType], requiredType, systemKey: key });
			},
		},

		/** Internal: a ready file's bytes as a stream. */
		openStream: {
			visibility: "public",
			scopes: ["files:read"],
			params: { id: "string|max:64" },
			scope: FILE_SCOPE,
			async handler(this: FilesThis, ctx: FilesContext<{ id: string }>) {
				const row = entityOf<FileRow>(ctx);
				if (row.status !== "ready") throw new ConflictError("The file's upload has not been completed", "FILE_NOT_READY");
				return this.store.read(row.objectKey);
			},
		},

		/** Internal: a short-lived URL of a ready file's bytes, for links in emails, pages and redirects. */
		presignDownload: {
			visibility: "public",
			scopes: ["files:read"],
			params: { id: "string|max:64" },
			scope: FILE_SCOPE,
			async handler(this: FilesThis, ctx: FilesContext<{ id: string }>) {
				return this.downloadUrl(entityOf<FileRow>(ctx));
			},
		},
	},

	methods: {
		storage(this: FilesThis) {
			return platformConfigOf(this.broker).storage;
		},

		targetTenant(this: FilesThis, ctx: FilesContext<unknown>, requested?: string): string {
			if (requested && ctx.meta.$system) return requested;
			if (requested && requested !== ctx.meta.tenantId) throw new ForbiddenError("Files can only be stored in your own tenant", "TENANT_MISMATCH");
			return requireTenant(ctx.meta);
		},

		uploader(meta: CallerMeta) {
			if (meta.apiKeyId) return { uploadedBy: meta.apiKeyId, uploaderKind: "api_key" as const };
			if (meta.user?.id) return { uploadedBy: meta.user.id, uploaderKind: "user" as const };
			return { uploadedBy: null, uploaderKind: "system" as const };
		},

		present(row: FileRow): PublicFile {
			return toPublicFile(row);
		},

		toPublic(row: FileRow): PublicFile {
			return toPublicFile(row);
		},

		/** Where a presigned PUT writes; completing moves the bytes to the file's own key. */
		uploadKeyOf(row: Pick<FileRow, "tenantId" | "id">): string {
			return `${row.tenantId}/uploads/${row.id}`;
		},

	},

	async started(this: FilesThis) {
		// Set by lib/node.ts before the broker starts; a broker made another way has no object store.
		const connection = storageConnectionOf(this.broker);
		if (!connection) throw new ServiceUnavailableError("No object store is configured for this node", "STORAGE_UNAVAILABLE");
		this.store = new S3ObjectStore(connection, this.storage().bucket);
		await this.store.ensureBucket();
		this.sweepTimer = setInterval(() => {
			this.sweepExpiredUploads().catch((err: Error) => this.logger.warn("Sweeping expired uploads failed:", err.message));
		}, SWEEP_INTERVAL_MS);
		this.sweepTimer.unref();
	},

	stopped(this: FilesThis) {
		clearInterval(this.sweepTimer);
	},
};

export default FilesService;
