/**
 * Typed client errors: each has a fixed HTTP status and an UPPER_SNAKE type, so a business rule never
 * surfaces as a 500 and the gateway can turn any of them into problem+json without knowing the domain.
 */
import { Errors } from "moleculer";

export class BadRequestError extends Errors.MoleculerClientError {
	constructor(message = "Bad request", type = "BAD_REQUEST", data?: unknown) {
		super(message, 400, type, data);
	}
}

export class UnauthorizedError extends Errors.MoleculerClientError {
	constructor(message = "Authentication is required", type = "UNAUTHORIZED", data?: unknown) {
		super(message, 401, type, data);
	}
}

export class ForbiddenError extends Errors.MoleculerClientError {
	constructor(message = "You are not allowed to do this", type = "FORBIDDEN", data?: unknown) {
		super(message, 403, type, data);
	}
}

export class NotFoundError extends Errors.MoleculerClientError {
	constructor(message = "Not found", type = "NOT_FOUND", data?: unknown) {
		super(message, 404, type, data);
	}
}

/** "Not found" for a tenant-owned entity: another tenant's id answers exactly like a missing one. */
export class EntityNotFoundError extends NotFoundError {
	constructor(entity: string, id: unknown) {
		super(`${entity} ${String(id)} not found`, "ENTITY_NOT_FOUND", { entity, id });
	}
}

export class ConflictError extends Errors.MoleculerClientError {
	constructor(message = "Conflict", type = "CONFLICT", data?: unknown) {
		super(message, 409, type, data);
	}
}

export class PayloadTooLargeError extends Errors.MoleculerClientError {
	constructor(message = "Payload too large", type = "PAYLOAD_TOO_LARGE", data?: unknown) {
		super(message, 413, type, data);
	}
}

export class UnsupportedMediaTypeError extends Errors.MoleculerClientError {
	constructor(message = "Unsupported media type", type = "UNSUPPORTED_MEDIA_TYPE", data?: unknown) {
		super(message, 415, type, data);
	}
}

export class UnprocessableEntityError extends Errors.MoleculerClientError {
	constructor(message = "Unprocessable entity", type = "UNPROCESSABLE_ENTITY", data?: unknown) {
		super(message, 422, type, data);
	}
}

export class TooManyRequestsError extends Errors.MoleculerClientError {
	constructor(
		readonly retryAfterSeconds: number,
		message = "Too many requests",
		type = "RATE_LIMITED",
	) {
		super(message, 429, type, { retryAfter: retryAfterSeconds });
	}
}

export class ServiceUnavailableError extends Errors.MoleculerRetryableError {
	constructor(message = "Service unavailable", type = "SERVICE_UNAVAILABLE", data?: unknown) {
		super(message, 503, type, data);
	}
}

/**
 * True when a called service refused with a 4xx of its own: asking again gets the same answer, so a durable
 * consumer logs it and acknowledges the message. A missing service (also 404, but retryable), a timeout or
 * a 5xx may pass: the message is retried.
 */
export function isFinalRefusal(err: unknown): boolean {
	const error = err as { code?: unknown; retryable?: boolean };
	return !error.retryable && typeof error.code === "number" && error.code >= 400 && error.code < 500;
}
