/**
 * RFC 9457 problem details for every error the gateway answers with. The mapping from Moleculer's own
 * errors lives here once: the gateway, the ops listener and tests all use it.
 */
import { Errors } from "moleculer";
import { ServiceUnavailableError } from "./errors";

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";

export interface ProblemFieldError {
	field: string;
	message: string;
	type: string;
}

export interface Problem {
	type: string;
	title: string;
	status: number;
	detail: string;
	code: string;
	requestId?: string;
	instance?: string;
	errors?: ProblemFieldError[];
	[extension: string]: unknown;
}

export interface ProblemResponse {
	status: number;
	headers: Record<string, string>;
	body: Problem;
}

const TITLES: Record<number, string> = {
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	408: "Request Timeout",
	409: "Conflict",
	413: "Content Too Large",
	415: "Unsupported Media Type",
	422: "Unprocessable Content",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
};

interface ErrorLike {
	name?: string;
	/** Set by Node HTTP libraries (body-parser, busboy) on their own errors. */
	status?: unknown;
	statusCode?: unknown;
	message?: string;
	code?: unknown;
	type?: unknown;
	data?: unknown;
	retryAfterSeconds?: number;
}

function slug(code: string): string {
	return code.toLowerCase().replace(/_/g, "-");
}

function fieldErrors(data: unknown): ProblemFieldError[] {
	if (!Array.isArray(data)) return [];
	return data.map((item: { field?: unknown; message?: unknown; type?: unknown }) => ({
		field: String(item.field ?? ""),
		message: String(item.message ?? "is invalid"),
		type: String(item.type ?? "invalid"),
	}));
}

/** Errors that mean "no healthy node can run this now": the caller should retry later, not fix the request. */
function isUnavailable(err: ErrorLike): boolean {
	return (
		err instanceof Errors.ServiceNotFoundError ||
		err instanceof Errors.ServiceNotAvailableError ||
		err.type === "SERVICE_NOT_FOUND" ||
		err.type === "SERVICE_NOT_AVAILABLE" ||
		err.name === "QueueIsFullError"
	);
}

/**
 * The request-reading errors of the HTTP libraries (body-parser and raw-body by `type`; a decompression
 * stream's by its zlib code; the multipart parser's by its message, the only thing it sets), each a client's
 * mistake with a code of its own. Mapped here once, for the gateway's body parsers and its multipart route.
 */
const BODY_PARSER_CODES: Record<string, { code: string; detail: string }> = {
	"entity.too.large": { code: "PAYLOAD_TOO_LARGE", detail: "The request body is larger than this API accepts" },
	"entity.parse.failed": { code: "INVALID_JSON", detail: "The request body is not valid JSON" },
	"encoding.unsupported": { code: "UNSUPPORTED_ENCODING", detail: "The request body's Content-Encoding is not supported (use gzip, deflate, br or none)" },
	"charset.unsupported": { code: "UNSUPPORTED_CHARSET", detail: "The request body charset is not supported" },
	"parameters.too.many": { code: "TOO_MANY_PARAMETERS", detail: "The form has more fields than this API accepts" },
	"querystring.parse.rangeError": { code: "TOO_MANY_PARAMETERS", detail: "The form nests deeper than this API accepts" },
	"request.size.invalid": { code: "INVALID_CONTENT_LENGTH", detail: "The request body is not as long as its Content-Length says" },
	"request.aborted": { code: "REQUEST_ABORTED", detail: "The request body ended early" },
};
const INVALID_ENCODED_BODY = { code: "INVALID_ENCODED_BODY", detail: "The request body is not encoded as its Content-Encoding says" };
const INVALID_MULTIPART = { code: "INVALID_MULTIPART", detail: "The multipart/form-data body is malformed or cut short" };
/** @fastify/busboy's parse errors (plain Errors, known only by their wording). */
const MULTIPART_PARSER_MESSAGES = /^(Multipart: Boundary not found|Unexpected end of multipart data|(Part|Preamble) terminated early due to unexpected end of multipart data|Malformed part header)$/;

/** moleculer-web's own client errors, under the platform's names. */
const GATEWAY_CODES: Record<string, { status: number; code: string; detail: string }> = {
	UNABLE_DECODE_PARAM: { status: 400, code: "INVALID_PATH_ENCODING", detail: "The URL path has an invalid percent-escape: a % must start the %XX escapes of a character's UTF-8 bytes" },
};

/** An error of a zlib, brotli or zstd decompression stream: the body is not data of its Content-Encoding. */
function isDecompressionError(err: ErrorLike & { errno?: unknown }): boolean {
	return typeof err.errno === "number" && typeof err.code === "string" && /^(Z_|ERR__ERROR|ZSTD_)/.test(err.code);
}

/** The multipart parser's errors, which carry no status or code of their own. */
export function isMultipartParserError(err: unknown): boolean {
	const error = err as ErrorLike | undefined;
	return Boolean(error) && error!.code === undefined && typeof error!.message === "string" && MULTIPART_PARSER_MESSAGES.test(error!.message);
}

/**
 * A body parser's error as a typed client error. moleculer-web passes a route middleware's error on as a
 * new MoleculerError of `err.code || err.status`, so a decompression error (code "Z_DATA_ERROR") would
 * become a 500; the gateway hands every body parser's error to this first. Server-side errors pass as they are.
 */
export function bodyParserError(error: unknown): unknown {
	const err = (error && typeof error === "object" ? error : {}) as ErrorLike & { errno?: unknown };
	const status = typeof err.status === "number" ? err.status : typeof err.statusCode === "number" ? err.statusCode : undefined;
	if (status === undefined || status < 400 || status >= 500) return error;
	const known = (typeof err.type === "string" && Object.hasOwn(BODY_PARSER_CODES, err.type) ? BODY_PARSER_CODES[err.type] : undefined) ?? (isDecompressionError(err) ? INVALID_ENCODED_BODY : undefined);
	const { code, detail } = known ?? httpLibraryError(err, status);
	return new Errors.MoleculerClientError(detail, status, code);
}

function httpLibraryError(err: ErrorLike, status: number): { status: number; code: string; detail: string } {
	const known = typeof err.type === "string" && Object.hasOwn(BODY_PARSER_CODES, err.type) ? BODY_PARSER_CODES[err.type] : undefined;
	if (known) return { status, ...known };
	return { status, code: (TITLES[status] ?? "BAD_REQUEST").toUpperCase().replace(/ /g, "_"), detail: err.message || TITLES[status] || "Bad request" };
}

function classify(err: ErrorLike): { status: number; code: string; detail: string; errors?: ProblemFieldError[] } {
	if (err instanceof Errors.ValidationError || err.type === "VALIDATION_ERROR") {
		const errors = fieldErrors(err.data);
		const fields = errors.map((item) => item.field).filter(Boolean);
		return {
			status: 400,
			code: "VALIDATION_ERROR",
			detail: fields.length > 0 ? `Invalid request: check ${fields.join(", ")}` : "Invalid request",
			errors,
		};
	}
	if (isUnavailable(err)) {
		return { status: 503, code: "SERVICE_UNAVAILABLE", detail: "The service that answers this request is not available right now; retry shortly" };
	}
	if (err instanceof Errors.RequestTimeoutError || err.type === "REQUEST_TIMEOUT") {
		return { status: 504, code: "REQUEST_TIMEOUT", detail: "The service did not answer in time" };
	}
	if (typeof err.type === "string" && Object.hasOwn(GATEWAY_CODES, err.type)) return GATEWAY_CODES[err.type];
	if (isMultipartParserError(err)) return { status: 400, ...INVALID_MULTIPART };
	// moleculer-web re-wraps body-parser's errors, keeping its `type`; recognise them either way.
	if (typeof err.type === "string" && Object.hasOwn(BODY_PARSER_CODES, err.type)) {
		const status = typeof err.code === "number" ? err.code : typeof err.status === "number" ? err.status : 400;
		return { status, ...BODY_PARSER_CODES[err.type] };
	}
	const httpLibraryStatus = typeof err.status === "number" ? err.status : typeof err.statusCode === "number" ? err.statusCode : undefined;
	if (httpLibraryStatus !== undefined && httpLibraryStatus >= 400 && httpLibraryStatus < 500 && typeof err.code !== "number") {
		return httpLibraryError(err, httpLibraryStatus);
	}
	const status = typeof err.code === "number" && err.code >= 400 && err.code < 600 ? err.code : 500;
	if (status >= 500) {
		// Server faults never leak internals (SQL, stack, hostnames) to the client; the log has them.
		if (status === 503) {
			// Our own 503s (lib/errors) say why; anything else gets the generic wording.
			const ours = err instanceof ServiceUnavailableError;
			return {
				status,
				code: ours && typeof err.type === "string" ? err.type : "SERVICE_UNAVAILABLE",
				detail: ours && err.message ? err.message : "The service is not available right now; retry shortly",
			};
		}
		return { status, code: "INTERNAL_ERROR", detail: "An unexpected error occurred" };
	}
	const code = typeof err.type === "string" && err.type ? err.type.toUpperCase() : (TITLES[status] ?? "ERROR").toUpperCase().replace(/ /g, "_");
	return { status, code, detail: err.message || TITLES[status] || "Request failed" };
}

const RESERVED = new Set(["type", "title", "status", "detail", "code", "requestId", "instance", "errors"]);

/** A client error's data (e.g. the states of a refused transition) travels as RFC 9457 extension members. */
function addExtensions(body: Problem, data: unknown): void {
	if (!data || typeof data !== "object" || Array.isArray(data)) return;
	for (const [key, value] of Object.entries(data)) {
		if (!RESERVED.has(key) && value !== undefined) body[key] = value;
	}
}

export function toProblem(error: unknown, requestId?: string, instance?: string): ProblemResponse {
	const err: ErrorLike = error && typeof error === "object" ? (error as ErrorLike) : { message: String(error) };
	const { status, code, detail, errors } = classify(err);
	const body: Problem = {
		type: `/problems/${slug(code)}`,
		title: TITLES[status] ?? "Error",
		status,
		detail,
		code,
		requestId,
	};
	if (instance) body.instance = instance;
	if (errors && errors.length > 0) body.errors = errors;
	if (status < 500 && !errors) addExtensions(body, err.data);
	const headers: Record<string, string> = { "Content-Type": PROBLEM_CONTENT_TYPE };
	if (status === 429) {
		const retryAfter = err.retryAfterSeconds ?? (err.data as { retryAfter?: number } | undefined)?.retryAfter;
		headers["Retry-After"] = String(Math.max(1, Math.ceil(retryAfter ?? 1)));
	}
	if (status === 503) headers["Retry-After"] = "5";
	return { status, headers, body };
}
