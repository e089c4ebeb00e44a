/**
 * The gateway's checks on the body of a multipart route (uploads) or a stream route, made before
 * moleculer-web hands it to busboy or to the action.
 */
import type { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { BadRequestError, UnsupportedMediaTypeError } from "../errors";

/** RFC 2046: a boundary parameter of 1 to 70 characters, quoted or not. */
const MULTIPART_BOUNDARY = /;\s*boundary=(?:"[^"]{1,70}"|[^\s";]{1,70})\s*(?:;|$)/i;

/**
 * Multipart and stream routes hand the body to their reader as sent, never decoded: an encoded (or falsely
 * labelled) one is refused rather than stored as it came.
 */
export function refuseEncodedBody(req: IncomingMessage): void {
	const encoding = req.headers["content-encoding"];
	if (encoding !== undefined && encoding.trim().toLowerCase() !== "identity") {
		throw new UnsupportedMediaTypeError("Send this body without a Content-Encoding", "UNSUPPORTED_ENCODING", { encoding });
	}
}

/**
 * moleculer-web pipes a multipart route's body into busboy, which throws (a 500) on a body of another type
 * and never learns that a client went away mid-upload, since pipe() doesn't pass an abort on: the action
 * would wait for file bytes that never come. Other types, encoded bodies and a missing boundary are refused
 * here, and an aborted or cut-short request fails the unfinished file part and so the upload.
 */
export function guardMultipartBody(req: IncomingMessage): void {
	const type = req.headers["content-type"];
	if (typeof type !== "string" || !/^multipart\/form-data\s*;/i.test(type)) {
		throw new UnsupportedMediaTypeError("Send this request as multipart/form-data", "MULTIPART_REQUIRED");
	}
	refuseEncodedBody(req);
	// RFC 2046: a boundary of 1 to 70 characters. busboy throws on a missing one and on one over 256 characters.
	if (!MULTIPART_BOUNDARY.test(type)) {
		throw new BadRequestError("multipart/form-data needs a boundary parameter of 1 to 70 characters", "INVALID_MULTIPART");
	}
	const pipe = req.pipe.bind(req);
	req.pipe = ((destination: NodeJS.WritableStream, options?: { end?: boolean }) => {
		req.once("close", () => {
			if (!req.complete) destination.end();
		});
		// busboy only emits 'error' on a file part the body cuts short, then ends it as if complete: an action
		// that starts reading after that would store the fragment. Destroyed with the error, the part fails its reader.
		(destination as NodeJS.WritableStream & EventEmitter).on("file", (_field: string, file: Readable) => {
			file.on("error", (err: Error) => file.destroy(err));
		});
		return pipe(destination, options);
	}) as typeof req.pipe;
}

