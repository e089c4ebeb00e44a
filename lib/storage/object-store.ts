/**
 * Object storage behind one interface, so the files service doesn't care whether the bytes live in AWS S3,
 * MinIO, R2 or the embedded s3rver: all of them speak the S3 API, through the `minio` client.
 *
 * Uploads stream: at most one part (PART_SIZE) is held in memory at a time. A file that fits in one part
 * is a single PUT; a larger one is an S3 multipart upload, aborted on failure so no object appears.
 */
import type { Readable } from "node:stream";
import { Client, CopyDestinationOptions, CopySourceOptions } from "minio";
import type { ServiceBroker } from "moleculer";
import { ServiceUnavailableError } from "../errors";

/** S3's smallest allowed part is 5 MiB; 8 MiB keeps request counts low without holding much memory. */
export const PART_SIZE = 8 * 1024 * 1024;

export interface S3Connection {
	endpoint: string;
	accessKey: string;
	secretKey: string;
	region: string;
	/** Where clients reach the store, if not at `endpoint` (S3_PUBLIC_URL): presigned URLs are signed for it. */
	publicEndpoint?: string;
}

export interface StoredObject {
	size: number;
	contentType?: string;
}

export interface PutOptions {
	cacheControl?: string;
}

export interface PresignedDownload {
	/** The name the browser saves the file as (Content-Disposition: attachment). */
	filename: string;
	contentType: string;
}

export interface ObjectStore {
	readonly bucket: string;
	/** Creates the bucket when it doesn't exist yet. */
	ensureBucket(): Promise<void>;
	/**
	 * Stores the chunks as one object; nothing is visible under `key` unless every chunk arrived. `cacheControl` is
	 * kept with the object and answered with its bytes (a CDN in front of the store honours it).
	 */
	put(key: string, chunks: AsyncIterable<Buffer>, contentType: string, options?: PutOptions): Promise<void>;
	/** Size and type of an object, or undefined when there is none. */
	stat(key: string): Promise<StoredObject | undefined>;
	/** The object's bytes, or `length` bytes from `offset`. */
	read(key: string, range?: { offset: number; length: number }): Promise<Readable>;
	/** Copies an object inside the bucket, on the store's side (the bytes don't pass through this process). */
	copy(sourceKey: string, targetKey: string): Promise<void>;
	/** Removes the object; removing one that doesn't exist is not an error. */
	remove(key: string): Promise<void>;
	presignPut(key: string, ttlSeconds: number): Promise<string>;
	presignGet(key: string, ttlSeconds: number, download: PresignedDownload): Promise<string>;
}

/** Content-Disposition for a download (RFC 6266): an ASCII fallback name and the exact UTF-8 one. */
export function attachmentDisposition(filename: string): string {
	const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, "_");
	const encoded = encodeURIComponent(filename).replace(/['()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
	return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/** Network failures and S3's own "try again" answers: the store is unavailable, which is a 503, not a bug. */
const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"]);

async function reachable<T>(operation: Promise<T>): Promise<T> {
	try {
		return await operation;
	} catch (err) {
		const code = (err as { code?: string } | undefined)?.code;
		if (code !== undefined && UNAVAILABLE_CODES.has(code)) throw new ServiceUnavailableError("The object store is not available right now", "STORAGE_UNAVAILABLE");
		throw err;
	}
}

function isNotFound(err: unknown): boolean {
	const code = (err as { code?: string } | undefined)?.code;
	return code === "NotFound" || code === "NoSuchKey" || code === "NoSuchObject";
}

function clientFor(endpoint: string, connection: S3Connection): Client {
	const url = new URL(endpoint);
	const useSSL = url.protocol === "https:";
	return new Client({
		endPoint: url.hostname,
		port: url.port ? Number(url.port) : useSSL ? 443 : 80,
		useSSL,
		accessKey: connection.accessKey,
		secretKey: connection.secretKey,
		// A fixed region spares the client a bucket-location request, and lets it presign without any request.
		region: connection.region,
		// Path-style (endpoint/bucket/key) works with every S3 implementation, MinIO and s3rver included.
		pathStyle: true,
	});
}

export class S3ObjectStore implements ObjectStore {
	private readonly client: Client;
	/** Signs the URLs handed to clients, for the address they reach the store at. */
	private readonly signer: Client;

	constructor(
		connection: S3Connection,
		readonly bucket: string,
	) {
		this.client = clientFor(connection.endpoint, connection);
		this.signer = connection.publicEndpoint ? clientFor(connection.publicEndpoint, connection) : this.client;
	}

	async ensureBucket(): Promise<void> {
		if (await this.client.bucketExists(this.bucket)) return;
		try {
			await this.client.makeBucket(this.bucket);
		} catch (err) {
			// Another node created it in the meantime.
			const code = (err as { code?: string }).code;
			if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") throw err;
		}
	}

	async put(key: string, chunks: AsyncIterable<Buffer>, contentType: string, options: PutOptions = {}): Promise<void> {
		const headers: Record<string, string> = { "Content-Type": contentType };
		if (options.cacheControl) headers["Cache-Control"] = options.cacheControl;
		const iterator = chunks[Symbol.asyncIterator]();
		let first = await this.nextPart(iterator);
		if (first.done) {
			await reachable(this.client.putObject(this.bucket, key, first.part, first.part.length, headers));
			return;
		}
		const uploadId = await reachable(this.client.initiateNewMultipartUpload(this.bucket, key, headers));
		try {
			const parts: Array<{ part: number; etag: string }> = [];
			for (let partNumber = 1; ; partNumber += 1) {
				const uploaded = await reachable(this.client.uploadPart({ bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber, headers: {} }, first.part));
				parts.push({ part: partNumber, etag: uploaded.etag });
				if (first.done) break;
				first = await this.nextPart(iterator);
				// A stream that ends exactly on a part boundary leaves nothing for a last part.
				if (first.done && first.part.length === 0) break;
			}
			await reachable(this.client.completeMultipartUpload(this.bucket, key, uploadId, parts));
		} catch (err) {
			// Best effort: some S3 implementations (s3rver) can't abort, and an unfinished upload is no object.
			await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
			throw err;
		}
	}

	/** Reads chunks until a part is full or the stream ends; `done` says the stream ended. */
	private async nextPart(iterator: AsyncIterator<Buffer>): Promise<{ part: Buffer; done: boolean }> {
		const buffers: Buffer[] = [];
		let length = 0;
		while (length < PART_SIZE) {
			const next = await iterator.next();
			if (next.done) return { part: Buffer.concat(buffers, length), done: true };
			buffers.push(next.value);
			length += next.value.length;
		}
		return { part: Buffer.concat(buffers, length), done: false };
	}

	async stat(key: string): Promise<StoredObject | undefined> {
		try {
			const stat = await reachable(this.client.statObject(this.bucket, key));
			return { size: stat.size, contentType: stat.metaData?.["content-type"] as string | undefined };
		} catch (err) {
			if (isNotFound(err)) return undefined;
			throw err;
		}
	}

	read(key: string, range?: { offset: number; length: number }): Promise<Readable> {
		return reachable(range ? this.client.getPartialObject(this.bucket, key, range.offset, range.length) : this.client.getObject(this.bucket, key));
	}

	async copy(sourceKey: string, targetKey: string): Promise<void> {
		await reachable(this.client.copyObject(new CopySourceOptions({ Bucket: this.bucket, Object: sourceKey }), new CopyDestinationOptions({ Bucket: this.bucket, Object: targetKey })));
	}

	async remove(key: string): Promise<void> {
		try {
			await reachable(this.client.removeObject(this.bucket, key));
		} catch (err) {
			if (!isNotFound(err)) throw err;
		}
	}

	presignPut(key: string, ttlSeconds: number): Promise<string> {
		return this.signer.presignedPutObject(this.bucket, key, ttlSeconds);
	}

	presignGet(key: string, ttlSeconds: number, download: PresignedDownload): Promise<string> {
		// The store answers with these headers, whatever the uploader sent as Content-Type.
		return this.signer.presignedGetObject(this.bucket, key, ttlSeconds, {
			"response-content-disposition": attachmentDisposition(download.filename),
			"response-content-type": download.contentType,
		});
	}
}

const connections = new WeakMap<ServiceBroker, S3Connection>();

/** Where this node's object store is, once the node has resolved it (configured, or the embedded server). */
export function setStorageConnection(broker: ServiceBroker, connection: S3Connection): void {
	connections.set(broker, connection);
}

export function storageConnectionOf(broker: ServiceBroker): S3Connection | undefined {
	return connections.get(broker);
}

/** True when a created service keeps files in the object store (it says so in its metadata). */
export function usesObjectStorage(service: { metadata?: Record<string, unknown> }): boolean {
	return Boolean(service.metadata?.needsObjectStorage);
}
