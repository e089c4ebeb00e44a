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
	409: "Conflict",
	413: "Content Too Large",
	415: "Unsupported Media Type",
	422: "Unprocessable Content",
	429: "Too Many Requests",
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

const BODY_PARSER_CODES: Record<string, { code: string; detail: string }> = {
	"entity.too.large": { code: "PAYLOAD_TOO_LARGE", detail: "The request body is larger than this API accepts" },
	"entity.parse.failed": { code: "INVALID_JSON", detail: "The request body is not valid JSON" },
	"encoding.unsupported": { code: "UNSUPPORTED_ENCODING", detail: "The request body encoding is not supported" },
	"charset.unsupported": { code: "UNSUPPORTED_CHARSET", detail: "The request body charset is not supported" },
};

function httpLibraryError(err: ErrorLike, status: number): { status: number; code: string; detail: string } {
	const known = typeof err.type === "string" ? BODY_PARSER_CODES[err.type] : undefined;
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
	// moleculer-web re-wraps body-parser's errors, keeping its `type`; recognise them either way.
	if (typeof err.type === "string" && BODY_PARSER_CODES[err.type]) {
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
