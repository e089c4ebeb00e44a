/**
 * Takes an incoming stream into the object store in one pass: counts and hashes the bytes, sniffs the type
 * from the first ones before anything is written, and stops at the size limit. The stream is never held
 * whole in memory: the sniffing sample (SNIFF_BYTES) and one upload part are the most that is buffered.
 *
 * A stream that stops delivering (a client gone mid-upload whose connection didn't close cleanly, a
 * caller that timed out) is abandoned after `idleTimeoutMs` or at `deadline`, so no upload waits forever.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { BadRequestError, PayloadTooLargeError } from "../../lib/errors";
import { SNIFF_BYTES } from "./content-type";
import type { ObjectStore } from "../../lib/storage/object-store";

export interface IngestOptions {
	store: ObjectStore;
	key: string;
	maxBytes: number;
	/** The type to store the object as, judged from its head; throws to refuse the file before any write. */
	decideType(head: Buffer, complete: boolean): Promise<string>;
	idleTimeoutMs: number;
	/** Stored with the object (files.store's `cacheControl`). */
	cacheControl?: string;
	/** Epoch ms after which nobody waits for the answer any more. */
	deadline?: number;
}

export interface Ingested {
	size: number;
	/** SHA-256 of the bytes, hex. */
	checksum: string;
	contentType: string;
}

export class UploadInterruptedError extends BadRequestError {
	constructor(reason: string) {
		super(`The upload was interrupted: ${reason}`, "UPLOAD_INTERRUPTED");
	}
}

export function tooLarge(maxBytes: number): PayloadTooLargeError {
	return new PayloadTooLargeError(`The file is larger than ${maxBytes} bytes`, "FILE_TOO_LARGE", { maxBytes });
}

/** The error the stream itself failed with, as a client error: the gateway's own size limit stays a 413. */
function streamFailure(err: unknown, maxBytes: number): Error {
	const code = (err as { code?: unknown } | undefined)?.code;
	if (code === 413) return tooLarge(maxBytes);
	return new UploadInterruptedError((err as Error | undefined)?.message ?? "the stream failed");
}

export async function ingestStream(source: Readable, options: IngestOptions): Promise<Ingested> {
	const { maxBytes, idleTimeoutMs, deadline } = options;
	const iterator = source.iterator({ destroyOnReturn: false });
	const hash = createHash("sha256");
	let size = 0;
	let ended = false;

	const pull = async (): Promise<Buffer | undefined> => {
		let timer: NodeJS.Timeout | undefined;
		const wait = deadline === undefined ? idleTimeoutMs : Math.max(0, Math.min(idleTimeoutMs, deadline - Date.now()));
		const stalled = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new UploadInterruptedError(`no data for ${Math.round(wait / 1000)} s`)), wait);
		});
		const pending = iterator.next();
		// If the stall wins, the pending read may still fail later: that must not become an unhandled rejection.
		pending.catch(() => undefined);
		let next: IteratorResult<unknown>;
		try {
			next = await Promise.race([pending, stalled]);
		} catch (err) {
			if (err instanceof UploadInterruptedError) throw err;
			throw streamFailure(err, maxBytes);
		} finally {
			clearTimeout(timer);
		}
		if (next.done) {
			ended = true;
			return undefined;
		}
		const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
		size += chunk.length;
		if (size > maxBytes) throw tooLarge(maxBytes);
		hash.update(chunk);
		return chunk;
	};

	try {
		const head: Buffer[] = [];
		let headLength = 0;
		while (headLength < SNIFF_BYTES) {
			const chunk = await pull();
			if (!chunk) break;
			head.push(chunk);
			headLength += chunk.length;
		}
		const contentType = await options.decideType(Buffer.concat(head, headLength).subarray(0, SNIFF_BYTES), ended);

		async function* body(): AsyncGenerator<Buffer> {
			yield* head;
			for (let chunk = await pull(); chunk; chunk = await pull()) yield chunk;
		}
		await options.store.put(options.key, body(), contentType, { cacheControl: options.cacheControl });
		return { size, checksum: hash.digest("hex"), contentType };
	} finally {
		if (!ended) abandon(source, iterator);
	}
}

/**
 * Lets the rest of a refused or broken stream drain without us. Destroying it instead could stall the
 * gateway's multipart parser that feeds it, and later chunks arriving from another node would meet a
 * destroyed stream.
 */
function abandon(source: Readable, iterator: AsyncIterator<unknown>): void {
	source.on("error", () => undefined);
	void iterator.return?.()?.catch(() => undefined);
	source.resume();
}
