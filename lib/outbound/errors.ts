/**
 * What an outbound request can end in besides a response: refused by policy (the target is private, the
 * scheme isn't http(s)) or failed on the way (timeout, connection, redirects).
 */
import { UnprocessableEntityError } from "../errors";

/** The target may not be reached; a client that named it gets a 422 it can act on. */
export class OutboundRefusedError extends UnprocessableEntityError {
	constructor(
		message: string,
		readonly reason: "SCHEME" | "ADDRESS" | "URL",
		data: { url?: string; host?: string; address?: string; range?: string } = {},
	) {
		super(message, "OUTBOUND_TARGET_REFUSED", { reason, ...data });
		this.name = "OutboundRefusedError";
	}
}

export type OutboundFailure = "TIMEOUT" | "ABORTED" | "CONNECTION_FAILED" | "DNS_FAILED" | "TOO_MANY_REDIRECTS" | "INVALID_REDIRECT";

/** The request went out (or tried to) and did not come back with a response. */
export class OutboundFailedError extends Error {
	constructor(
		readonly code: OutboundFailure,
		message: string,
		cause?: unknown,
	) {
		super(message, { cause });
		this.name = "OutboundFailedError";
	}
}
