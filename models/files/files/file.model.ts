import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/**
 * pending: a presigned upload was handed out; its declared size holds quota until it completes or
 * expires. ready: the object is stored, sniffed and checksummed. Streamed uploads are ready at once.
 */
export const FILE_STATUSES = ["pending", "ready"] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

/** Who stored a file: a user, an API key, or platform work (another service, with no user behind it). */
export const UPLOADER_KINDS = ["user", "api_key", "system"] as const;
export type UploaderKind = (typeof UPLOADER_KINDS)[number];

export const FileModel: ModelDefinition<"file", FileRow> = {
	name: "file",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		uploadedBy: { type: DataTypes.UUID, allowNull: true },
		uploaderKind: { type: DataTypes.STRING(16), allowNull: false },
		/** The client's file name, sanitized; used for Content-Disposition only, never for the object key. */
		name: { type: DataTypes.STRING(255), allowNull: false },
		/** Bytes; for a pending file, the size the client declared. */
		size: { type: DataTypes.BIGINT, allowNull: false },
		contentType: { type: DataTypes.STRING(255), allowNull: false },
		/** SHA-256 of the stored bytes (hex); null while pending. */
		checksum: { type: DataTypes.STRING(64), allowNull: true },
		/** `<tenantId>/<id>`: tenant-prefixed and independent of anything the client sent. */
		objectKey: { type: DataTypes.STRING(255), allowNull: false },
		status: { type: DataTypes.STRING(16), allowNull: false },
		/**
		 * Set on files the platform keeps for the tenant (`files.storeSystemFile`, e.g. `invoice:<id>`): unique per
		 * tenant, outside the storage quota, not deletable through the API. Null for everything tenants store.
		 */
		systemKey: { type: DataTypes.STRING(200), allowNull: true },
	},
	options: { tableName: "files" },
};

/** A row as Sequelize gives it (BIGINT `size` arrives from pg as a string). */
export interface FileRow {
	id: string;
	tenantId: string;
	uploadedBy: string | null;
	uploaderKind: UploaderKind;
	name: string;
	size: string | number;
	contentType: string;
	checksum: string | null;
	objectKey: string;
	status: FileStatus;
	systemKey: string | null;
	createdAt: Date;
	updatedAt: Date;
}

/** What callers see of a file: never the object key. */
export interface PublicFile {
	id: string;
	tenantId: string;
	name: string;
	size: number;
	contentType: string;
	checksum: string | null;
	status: FileStatus;
	uploadedBy: string | null;
	uploaderKind: UploaderKind;
	createdAt: Date;
	updatedAt: Date;
}

/** PublicFile as it leaves the API (JSON), for the OpenAPI document. */
export const PUBLIC_FILE_SCHEMA = {
	type: "object",
	properties: {
		id: { type: "string", format: "uuid" },
		tenantId: { type: "string", format: "uuid" },
		name: { type: "string" },
		size: { type: "integer", minimum: 0, description: "Bytes; for a pending file, the size the client declared." },
		contentType: { type: "string" },
		checksum: { type: ["string", "null"], description: "SHA-256 of the stored bytes (hex); null while pending." },
		status: { enum: [...FILE_STATUSES] },
		uploadedBy: { type: ["string", "null"], format: "uuid", description: "The user or API key that stored the file; null for platform work." },
		uploaderKind: { enum: [...UPLOADER_KINDS] },
		createdAt: { type: "string", format: "date-time" },
		updatedAt: { type: "string", format: "date-time" },
	},
	required: ["id", "tenantId", "name", "size", "contentType", "checksum", "status", "uploadedBy", "uploaderKind", "createdAt", "updatedAt"],
};

/** What `POST /files/upload-url` answers: where to PUT the bytes, and the pending file they will become. */
export const PRESIGNED_UPLOAD_SCHEMA = {
	type: "object",
	properties: {
		id: { type: "string", format: "uuid" },
		uploadUrl: { type: "string", format: "uri", description: "Send the bytes here with a PUT, before expiresAt, then POST /files/{id}/complete." },
		method: { const: "PUT" },
		expiresAt: { type: "string", format: "date-time" },
		file: PUBLIC_FILE_SCHEMA,
	},
	required: ["id", "uploadUrl", "method", "expiresAt", "file"],
};

export function toPublicFile(row: FileRow): PublicFile {
	return {
		id: row.id,
		tenantId: row.tenantId,
		name: row.name,
		// Files are far below 2^53 bytes.
		size: Number(row.size),
		contentType: row.contentType,
		checksum: row.checksum,
		status: row.status,
		uploadedBy: row.uploadedBy,
		uploaderKind: row.uploaderKind,
		createdAt: row.createdAt,
		updatedAt: row.updatedAt,
	};
}
