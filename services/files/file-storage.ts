/**
 * The files service's storage pipeline (a mixin of files.service.ts): streams into the object store under
 * the size limit, type sniffing and the tenant's quota (reserved with the row counted, so racing uploads
 * can't both pass), presigned downloads, and the sweep of pending uploads whose URL expired.
 */
import { createHash, randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { ServiceSchema } from "moleculer";
import { QueryTypes, UniqueConstraintError } from "sequelize";
import { plainRow } from "../../mixins/db.mixin";
import { Errors } from "moleculer";
import { systemCall } from "../../lib/caller";
import { ConflictError, PayloadTooLargeError } from "../../lib/errors";
import type { FileRow, PublicFile } from "../../models/files/files/file.model";
import { SNIFF_BYTES, acceptContentType, sniffContentTypes } from "./content-type";
import { ingestStream, tooLarge, UploadInterruptedError } from "./ingest";
import { FILE_EVENTS } from "./contracts";
import { STORAGE_METRIC, type RecordUsageParams } from "../billing/contracts";
import type { FilesContext, FilesThis, NewFile, StreamUpload } from "./files.types";

/** A stream that delivers nothing for this long is abandoned (a client gone without closing cleanly). */
const UPLOAD_IDLE_TIMEOUT_MS = 30_000;
/** Room for the multipart envelope (boundaries, part headers, small fields) around the file in a request. */
const MULTIPART_ENVELOPE_BYTES = 64 * 1024;
/** A pending upload whose URL expired this long ago is swept (row and any object). */
const PENDING_GRACE_MS = 60_000;
/** How long (× 100 ms) files.store waits for a concurrent attempt storing the same id. */
const STORING_WAIT_ATTEMPTS = 50;

export const FileStorage: Partial<ServiceSchema> = {
	methods: {
		/**
		 * Ready files, plus the declared sizes of presigned uploads that may still arrive. Files the platform keeps
		 * for the tenant (invoice PDFs) are not the tenant's use of its storage and don't count.
		 */
		async usedBytes(this: FilesThis, tenantId: string): Promise<number> {
			const pendingSince = new Date(Date.now() - this.storage().presignTtlSeconds * 1000 - PENDING_GRACE_MS);
			const [result] = await this.adapter.db.query<{ used: string }>(
				`SELECT COALESCE(SUM(size), 0)::text AS used FROM files.files WHERE tenant_id = :tenantId AND system_key IS NULL AND (status = 'ready' OR created_at > :pendingSince)`,
				{ replacements: { tenantId, pendingSince }, type: QueryTypes.SELECT },
			);
			return Number(result?.used ?? 0);
		},

		/** Bytes of the tenant's ready files: what it stores, as billed (reservations of pending uploads aside). */
		async storedBytes(this: FilesThis, tenantId: string): Promise<number> {
			const [result] = await this.adapter.db.query<{ stored: string }>(`SELECT COALESCE(SUM(size), 0)::text AS stored FROM files.files WHERE tenant_id = :tenantId AND status = 'ready'`, {
				replacements: { tenantId },
				type: QueryTypes.SELECT,
			});
			return Number(result?.stored ?? 0);
		},

		/**
		 * Meters storage after a file became ready or went (`change` names which, e.g. `<fileId>:ready`): a usage
		 * event of the billing domain's storage metric whose value is the tenant's stored bytes now, a level, so
		 * the next change corrects an event that was lost. Best effort and not awaited: an upload never fails or
		 * waits because billing is slow or not deployed; a failure is logged. The change names the event, so a
		 * repeat is not counted twice.
		 */
		meterStorage(this: FilesThis, tenantId: string, change: string): void {
			const record = async () => {
				const params: RecordUsageParams = { tenantId, events: [{ transactionId: `storage:${change}`, metric: STORAGE_METRIC, value: await this.storedBytes(tenantId) }] };
				await this.broker.call("usage.record", params, { ...systemCall(), retries: 0 });
			};
			record().catch((err: Error) => {
				if (err instanceof Errors.ServiceNotFoundError) this.logger.debug(`Storage of tenant ${tenantId} not metered: no usage service is deployed`);
				else this.logger.warn(`Storage of tenant ${tenantId} not metered (${change}):`, err.message);
			});
		},

		async quotaAllows(this: FilesThis, tenantId: string, current: number, increment: number): Promise<boolean> {
			const answer = await this.broker.call<{ allowed: boolean }, object>("tenants.checkLimit", { tenantId, limit: "storageBytes", current, increment }, systemCall());
			return answer.allowed;
		},

		/**
		 * Inserts the row (as pending), then asks the quota with the row already counted. Two uploads racing for
		 * the last bytes can't both pass: whichever sums second sees the other's row. Both may be refused
		 * under a tight race (never both accepted), and no lock is held across the call to the identity domain.
		 */
		async reserveWithinQuota(this: FilesThis, row: NewFile): Promise<FileRow> {
			const created = (await this.model.create({ ...row, status: "pending" })).get({ plain: true });
			let allowed = false;
			try {
				const used = await this.usedBytes(row.tenantId);
				allowed = await this.quotaAllows(row.tenantId, Math.max(0, used - row.size), row.size);
			} finally {
				if (!allowed) await this.model.destroy({ where: { id: row.id } });
			}
			if (!allowed) throw new PayloadTooLargeError("The tenant's storage quota would be exceeded", "QUOTA_EXCEEDED", { size: row.size });
			if (row.status === "pending") return created;
			await this.model.update({ status: row.status }, { where: { id: row.id } });
			return { ...created, status: row.status };
		},

		async insertSystemFile(this: FilesThis, row: NewFile & { systemKey: string }): Promise<{ row: FileRow; existing: boolean }> {
			try {
				return { row: plainRow(await this.model.create({ ...row }))!, existing: false };
			} catch (err) {
				if (!(err instanceof UniqueConstraintError)) throw err;
				const existing = plainRow(await this.model.findOne({ where: { tenantId: row.tenantId, systemKey: row.systemKey } }));
				if (!existing) throw err;
				return { row: existing, existing: true };
			}
		},

		async ingest(this: FilesThis, ctx: FilesContext<unknown>, stream: Readable, upload: StreamUpload): Promise<PublicFile> {
			const storage = this.storage();
			const timeout = ctx.options?.timeout;
			const deadline = typeof timeout === "number" && timeout > 0 ? Date.now() + timeout : undefined;
			if (upload.contentLength !== undefined && upload.contentLength > storage.maxFileBytes + MULTIPART_ENVELOPE_BYTES) throw tooLarge(storage.maxFileBytes);
			const { systemKey, requiredType } = upload;
			// A tenant already at its quota is refused before a byte is stored (system files don't count against it).
			if (!systemKey && !(await this.quotaAllows(upload.tenantId, await this.usedBytes(upload.tenantId), 0))) {
				throw new PayloadTooLargeError("The tenant's storage quota is used up", "QUOTA_EXCEEDED");
			}
			if (upload.id) {
				const existing = await this.storedWithId(upload.id, upload.tenantId);
				if (existing) {
					// Stored before (a retried job): the same file, and these bytes are not kept.
					stream.on("error", () => undefined).resume();
					return this.toPublic(existing);
				}
			}
			const id = upload.id ?? randomUUID();
			// A caller's id may be stored by two attempts at once: each writes its own object, and the loser removes its.
			const objectKey = upload.id ? `${upload.tenantId}/${id}.${randomUUID().slice(0, 8)}` : `${upload.tenantId}/${id}`;
			const ingested = await ingestStream(stream, {
				store: this.store,
				key: objectKey,
				maxBytes: storage.maxFileBytes,
				idleTimeoutMs: UPLOAD_IDLE_TIMEOUT_MS,
				cacheControl: upload.cacheControl,
				deadline,
				decideType: async (head, complete) => {
					const sniffed = await sniffContentTypes(head, complete);
					// The allow-list is about what callers may upload; a system file is the platform's own, of the type it declared.
					if (systemKey && requiredType) return acceptContentType({ sniffed, hints: [requiredType], allowed: [requiredType], requiredType });
					return this.acceptedType(sniffed, upload.typeHints, requiredType);
				},
			});
			const removeObject = () => this.store.remove(objectKey).catch((removeErr: Error) => this.logger.error(`Could not remove the refused object ${objectKey}:`, removeErr.message));
			let row: FileRow;
			try {
				// The caller stopped waiting: keeping the file would store something nobody was told about.
				if (deadline !== undefined && Date.now() > deadline) throw new UploadInterruptedError("the request timed out");
				const newFile = { id, tenantId: upload.tenantId, ...this.uploader(ctx.meta), name: upload.name, size: ingested.size, contentType: ingested.contentType, checksum: ingested.checksum, objectKey, status: "ready" as const };
				if (systemKey) {
					const stored = await this.insertSystemFile({ ...newFile, systemKey });
					if (stored.existing) {
						// Another call stored the same file first: that one is kept, these bytes go.
						await removeObject();
						return this.toPublic(stored.row);
					}
					row = stored.row;
				} else {
					row = await this.reserveWithinQuota(newFile);
				}
			} catch (err) {
				await removeObject();
				const winner = upload.id && (err as Error).name === "SequelizeUniqueConstraintError" ? await this.storedWithId(upload.id, upload.tenantId) : undefined;
				if (winner) return this.toPublic(winner);
				throw err;
			}
			this.meterStorage(row.tenantId, `${row.id}:ready`);
			return this.announce(ctx, FILE_EVENTS.created, row, "created");
		},

		/**
		 * The ready file a caller's id names in the tenant; another tenant's file with that id is 409. One being
		 * stored right now (a concurrent attempt, pending for the moment its quota is checked) is waited for.
		 */
		async storedWithId(this: FilesThis, id: string, tenantId: string): Promise<FileRow | undefined> {
			for (let attempt = 0; ; attempt += 1) {
				const existing = plainRow(await this.model.findByPk(id));
				if (!existing) return undefined;
				if (existing.tenantId !== tenantId || existing.uploaderKind !== "system") throw new ConflictError("Another file has this id", "FILE_ID_TAKEN", { id });
				if (existing.status === "ready") return existing;
				if (attempt >= STORING_WAIT_ATTEMPTS) throw new ConflictError("A file with this id is still being stored", "FILE_ID_TAKEN", { id });
				await new Promise((resolve) => setTimeout(resolve, 100));
			}
		},

		/** The type to store, or 415/422: hints only choose among what the bytes can be. */
		acceptedType(this: FilesThis, sniffed: string[], hints: string[], requiredType?: string): string {
			return acceptContentType({ sniffed, hints, requiredType, allowed: this.storage().allowedContentTypes });
		},

		async downloadUrl(this: FilesThis, row: FileRow) {
			if (row.status !== "ready") throw new ConflictError("The file's upload has not been completed", "FILE_NOT_READY");
			const ttl = this.storage().presignTtlSeconds;
			const url = await this.store.presignGet(row.objectKey, ttl, { filename: row.name, contentType: row.contentType });
			return { url, expiresAt: new Date(Date.now() + ttl * 1000).toISOString() };
		},

		async readHead(this: FilesThis, key: string, size: number): Promise<Buffer> {
			if (size === 0) return Buffer.alloc(0);
			const chunks: Buffer[] = [];
			for await (const chunk of await this.store.read(key, { offset: 0, length: Math.min(size, SNIFF_BYTES) })) chunks.push(chunk as Buffer);
			return Buffer.concat(chunks).subarray(0, SNIFF_BYTES);
		},

		async checksumOf(this: FilesThis, key: string): Promise<string> {
			const hash = createHash("sha256");
			for await (const chunk of await this.store.read(key)) hash.update(chunk as Buffer);
			return hash.digest("hex");
		},

		async discard(this: FilesThis, row: Pick<FileRow, "id" | "objectKey" | "tenantId">) {
			for (const key of [row.objectKey, this.uploadKeyOf(row)]) {
				await this.store.remove(key).catch((err: Error) => this.logger.error(`Could not remove object ${key} of file ${row.id}:`, err.message));
			}
		},

		/**
		 * Pending uploads whose URL has expired (plus a grace period) are removed with anything they uploaded.
		 * Every files node sweeps; SKIP LOCKED hands each row to one of them.
		 */
		async sweepExpiredUploads(this: FilesThis): Promise<number> {
			const cutoff = new Date(Date.now() - this.storage().presignTtlSeconds * 1000 - PENDING_GRACE_MS);
			const rows = await this.adapter.db.query<{ id: string; tenant_id: string; object_key: string }>(
				`DELETE FROM files.files WHERE id IN (SELECT id FROM files.files WHERE status = 'pending' AND created_at < :cutoff ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED)
				 RETURNING id, tenant_id, object_key`,
				{ replacements: { cutoff }, type: QueryTypes.SELECT },
			);
			for (const row of rows) await this.discard({ id: row.id, tenantId: row.tenant_id, objectKey: row.object_key });
			if (rows.length > 0) this.logger.info(`Removed ${rows.length} expired pending upload(s)`);
			return rows.length;
		},
	},
};
