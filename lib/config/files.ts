/**
 * The files domain's configuration section: the object store, upload limits and accepted types.
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { ConfigError, bytes, duration, integer, list, read, url, type Env } from "./env";

export interface StorageConfig {
	/**
	 * An S3 API (MinIO, AWS, R2...); undefined starts the embedded S3 server (s3rver) under dataDir.
	 * `publicEndpoint` is where clients reach the same store, when that differs from the nodes' address
	 * (e.g. http://minio:9000 inside Docker): presigned URLs are signed for it.
	 */
	s3?: { endpoint: string; accessKey: string; secretKey: string; region: string; publicEndpoint?: string };
	bucket: string;
	/** Port of the embedded S3 server; presigned URLs point at it, so it must be reachable by clients. */
	embeddedPort: number;
	/** Largest single file, in bytes. */
	maxFileBytes: number;
	/** Content types accepted, as sniffed from the bytes (never as the client declares them). */
	allowedContentTypes: string[];
	/** Lifetime of presigned upload and download URLs. */
	presignTtlSeconds: number;
	/** How long an upload through the gateway may take, body included (other calls: REQUEST_TIMEOUT_MS). */
	uploadTimeoutMs: number;
}

/** What uploads accept by default: images, PDF, plain text/CSV/JSON, zip, and office documents. */
export const DEFAULT_ALLOWED_CONTENT_TYPES = [
	"image/png",
	"image/jpeg",
	"image/gif",
	"image/webp",
	"image/avif",
	"application/pdf",
	"text/plain",
	"text/csv",
	"application/json",
	"application/zip",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

export function storage(env: Env): StorageConfig {
	const endpoint = url(env, "S3_ENDPOINT", ["http:", "https:"]);
	const accessKey = read(env, "S3_ACCESS_KEY");
	const secretKey = read(env, "S3_SECRET_KEY");
	if (endpoint === undefined && (accessKey !== undefined || secretKey !== undefined)) {
		throw new ConfigError("S3_ENDPOINT", "is required when S3_ACCESS_KEY or S3_SECRET_KEY is set");
	}
	if (endpoint !== undefined && accessKey === undefined) throw new ConfigError("S3_ACCESS_KEY", "is required when S3_ENDPOINT is set");
	if (endpoint !== undefined && secretKey === undefined) throw new ConfigError("S3_SECRET_KEY", "is required when S3_ENDPOINT is set");
	const publicEndpoint = url(env, "S3_PUBLIC_URL", ["http:", "https:"]);
	if (publicEndpoint !== undefined && endpoint === undefined) throw new ConfigError("S3_PUBLIC_URL", "is only used with S3_ENDPOINT (the embedded S3 server is reached at its own address)");
	// Presigned URLs are signed for host and path: a base path or query could never match a request.
	if (publicEndpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(publicEndpoint)) throw new ConfigError("S3_PUBLIC_URL", `must be a scheme, host and optional port only (got "${publicEndpoint}")`);
	const bucket = read(env, "S3_BUCKET") ?? "lattice";
	// S3's bucket naming rules: DNS-compatible, 3 to 63 characters.
	if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError("S3_BUCKET", `must be a valid S3 bucket name (got "${bucket}")`);
	const allowed = list(env, "FILES_ALLOWED_TYPES", DEFAULT_ALLOWED_CONTENT_TYPES);
	const badType = allowed.find((type) => !/^[a-z]+\/[a-z0-9.+-]+$/.test(type));
	if (badType !== undefined) throw new ConfigError("FILES_ALLOWED_TYPES", `must be a comma list of media types like image/png (got "${badType}")`);
	return {
		s3: endpoint && accessKey && secretKey ? { endpoint, accessKey, secretKey, region: read(env, "S3_REGION") ?? "us-east-1", publicEndpoint } : undefined,
		bucket,
		embeddedPort: integer(env, "EMBEDDED_S3_PORT", 54330, 0, 65535),
		maxFileBytes: bytes(env, "FILES_MAX_BYTES", 100 * 1024 ** 2),
		allowedContentTypes: allowed,
		presignTtlSeconds: integer(env, "FILES_PRESIGN_TTL_SECONDS", 300, 10, 7 * 86_400),
		uploadTimeoutMs: uploadTimeout(env),
	};
}

/** A 100 MB file takes over a minute on a slow uplink: far beyond a service call's timeout, so uploads get their own. */
function uploadTimeout(env: Env): number {
	const value = duration(env, "FILES_UPLOAD_TIMEOUT", "5m");
	if (value < 1_000 || value > 6 * 3_600_000) throw new ConfigError("FILES_UPLOAD_TIMEOUT", "must be between 1s and 6h");
	return value;
}
