/**
 * Whose fault a failure is. A database error caused by what a caller sent (a duplicate, a missing reference,
 * a value the column can't hold) is a typed 4xx client error; a database that can't be reached is a 503
 * DATABASE_UNAVAILABLE; and only infrastructure failures (timeouts, lost connections, an unavailable
 * database or object store) count against a circuit breaker, so no caller can switch an action off for
 * everyone by sending bad requests.
 *
 * middlewares/database-errors.middleware.ts applies translateDatabaseError to every action's error on the node
 * that ran it; moleculer.config.ts gives isInfrastructureFailure to the circuit breaker.
 */
import type { Errors } from "moleculer";
import { BadRequestError, ConflictError, NotFoundError, ServiceUnavailableError, UnprocessableEntityError } from "./errors";

type MoleculerError = InstanceType<typeof Errors.MoleculerError>;

/** The parts of Sequelize's and pg's errors read here. */
interface DatabaseErrorLike {
	name?: string;
	message?: string;
	code?: unknown;
	type?: unknown;
	errno?: unknown;
	parent?: DatabaseErrorLike;
	original?: DatabaseErrorLike;
	errors?: Array<{ path?: string | null; message?: string }>;
	fields?: unknown;
	column?: string;
	detail?: string;
	constraint?: string;
	table?: string;
}

/** Sequelize's ConnectionError family and its other "the database can't be used" errors. */
const CONNECTION_ERROR_NAMES = new Set([
	"SequelizeConnectionError",
	"SequelizeConnectionRefusedError",
	"SequelizeConnectionTimedOutError",
	"SequelizeConnectionAcquireTimeoutError",
	"SequelizeHostNotFoundError",
	"SequelizeHostNotReachableError",
	"SequelizeAccessDeniedError",
	"SequelizeInvalidConnectionError",
	"SequelizeTimeoutError",
]);

/** Socket errors of a lost or refused connection (pg, ioredis, NATS, HTTP clients). */
const SOCKET_ERROR_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "ENOTCONN"]);

/** pg's messages for a connection that went away, which carry no SQLSTATE. */
const LOST_CONNECTION_MESSAGE = /terminating connection|connection terminated|connection is closed|client has encountered a connection error|server closed the connection|connection refused|the database system is (starting up|shutting down|in recovery mode)/i;

/** Moleculer's errors for a call that never got an answer: timed out, or the node or the transporter went away. */
const TRANSPORT_ERROR_NAMES = new Set(["RequestTimeoutError", "RequestRejectedError", "BrokerDisconnectedError"]);

/** Our own 503 types that say this node's infrastructure is down (another node may still have it). */
const INFRASTRUCTURE_TYPES = new Set(["DATABASE_UNAVAILABLE", "STORAGE_UNAVAILABLE", "REQUEST_TIMEOUT"]);

/**
 * The error and the driver errors Sequelize wraps in it (parent, original), nearest first. `cause` is not
 * followed: an outbound request's failure wraps the socket error of a host the caller named.
 */
function chain(err: unknown): DatabaseErrorLike[] {
	const found: DatabaseErrorLike[] = [];
	const pending: unknown[] = [err];
	while (pending.length > 0 && found.length < 8) {
		const item = pending.shift();
		if (!item || typeof item !== "object" || found.includes(item as DatabaseErrorLike)) continue;
		const error = item as DatabaseErrorLike;
		found.push(error);
		pending.push(error.parent, error.original);
	}
	return found;
}

/** The SQLSTATE of a PostgreSQL error anywhere in the chain (five characters, e.g. "23505"). */
function sqlState(err: unknown): string | undefined {
	for (const item of chain(err)) {
		if (typeof item.code === "string" && /^[0-9A-Z]{5}$/.test(item.code)) return item.code;
	}
	return undefined;
}

/** SQLSTATE classes of a database that can't serve: connection exception, insufficient resources, operator intervention, system error. */
function isUnavailableState(state: string): boolean {
	return state.startsWith("08") || state.startsWith("53") || state.startsWith("57P") || state === "57014" || state.startsWith("58");
}

/** True when the database (or a connection to it) is unusable: not the caller's doing, retry later. */
export function isDatabaseUnavailable(err: unknown): boolean {
	for (const item of chain(err)) {
		if (typeof item.name === "string" && CONNECTION_ERROR_NAMES.has(item.name)) return true;
		if (typeof item.code === "string" && SOCKET_ERROR_CODES.has(item.code)) return true;
		if (isDriverError(item) && typeof item.message === "string" && LOST_CONNECTION_MESSAGE.test(item.message)) return true;
	}
	const state = sqlState(err);
	return state !== undefined && isUnavailableState(state);
}

/** An error of pg or Sequelize (pg's connection errors are plain Errors), not one of ours that names a cause. */
function isDriverError(err: DatabaseErrorLike): boolean {
	return err.name === undefined || err.name === "Error" || err.name === "DatabaseError" || isSequelizeError(err);
}

function isSequelizeError(err: DatabaseErrorLike): boolean {
	return typeof err.name === "string" && err.name.startsWith("Sequelize");
}

/** The columns a Sequelize constraint error names. */
function fieldsOf(err: DatabaseErrorLike): string[] {
	const fromItems = (err.errors ?? []).map((item) => item.path).filter((path): path is string => typeof path === "string" && path.length > 0);
	if (fromItems.length > 0) return fromItems;
	if (Array.isArray(err.fields)) return err.fields.filter((field): field is string => typeof field === "string");
	if (err.fields && typeof err.fields === "object") return Object.keys(err.fields);
	return [];
}

function columnOf(err: unknown): string | undefined {
	for (const item of chain(err)) if (typeof item.column === "string" && item.column) return item.column;
	return undefined;
}

/** What a PostgreSQL data exception (class 22) means for the caller. */
const DATA_EXCEPTIONS: Record<string, { type: string; message: string }> = {
	"22001": { type: "VALUE_TOO_LONG", message: "A value is longer than the field allows" },
	"22003": { type: "VALUE_OUT_OF_RANGE", message: "A number is out of the range the field allows" },
	"22007": { type: "INVALID_VALUE", message: "A date or time is not valid" },
	"22008": { type: "VALUE_OUT_OF_RANGE", message: "A date or time is out of range" },
	"22021": { type: "INVALID_VALUE", message: "A text value contains characters that can't be stored" },
	"22P02": { type: "INVALID_VALUE", message: "A value is not valid for its field" },
	"22P05": { type: "INVALID_VALUE", message: "A text value contains characters that can't be stored" },
};

/**
 * The client error a database error stands for, the 503 for an unavailable database, or undefined when it
 * is neither (a programming fault stays a 500). Errors that are already typed are left alone, so a service
 * that maps a unique violation itself (EMAIL_TAKEN) keeps its code.
 */
export function translateDatabaseError(error: unknown): MoleculerError | undefined {
	if (!error || typeof error !== "object") return undefined;
	const err = error as DatabaseErrorLike;
	if (typeof err.code === "number") return undefined;
	if (isDatabaseUnavailable(err)) return new ServiceUnavailableError("The database is not available right now; retry shortly", "DATABASE_UNAVAILABLE");
	const state = sqlState(err);
	if (!isSequelizeError(err) && state === undefined) return undefined;

	switch (err.name) {
		case "SequelizeValidationError":
			return new BadRequestError(
				"Invalid request",
				"VALIDATION_ERROR",
				(err.errors ?? []).map((item) => ({ field: item.path ?? "", message: item.message ?? "is not valid", type: "invalid" })),
			);
		case "SequelizeUniqueConstraintError":
			return new ConflictError("A record with these values already exists", "ALREADY_EXISTS", { fields: fieldsOf(err) });
		case "SequelizeExclusionConstraintError":
			return new ConflictError("This conflicts with an existing record", "CONFLICT");
		case "SequelizeForeignKeyConstraintError":
			return foreignKeyError(err);
		case "SequelizeOptimisticLockError":
			return new ConflictError("A concurrent change got in the way; retry", "CONCURRENT_UPDATE");
		case "SequelizeEmptyResultError":
			return new NotFoundError("Not found", "NOT_FOUND");
		default:
			break;
	}
	if (state === undefined) return undefined;
	if (state === "23505") return new ConflictError("A record with these values already exists", "ALREADY_EXISTS");
	if (state === "23503") return foreignKeyError(err);
	if (state === "23502") {
		const field = columnOf(err) ?? "";
		return new BadRequestError("Invalid request", "VALIDATION_ERROR", [{ field, message: `The '${field}' field is required.`, type: "required" }]);
	}
	if (state === "23514") return new UnprocessableEntityError("A value breaks a rule of its field", "CONSTRAINT_VIOLATION");
	if (state === "23P01") return new ConflictError("This conflicts with an existing record", "CONFLICT");
	if (state.startsWith("23")) return new ConflictError("This conflicts with existing records", "CONFLICT");
	// Serialization failures and deadlocks: two requests raced; the client may simply retry.
	if (state === "40001" || state === "40P01") return new ConflictError("A concurrent change got in the way; retry", "CONCURRENT_UPDATE");
	if (state.startsWith("22")) {
		const known = DATA_EXCEPTIONS[state] ?? { type: "INVALID_VALUE", message: "A value is not valid for its field" };
		return new BadRequestError(known.message, known.type);
	}
	return undefined;
}

function foreignKeyError(err: DatabaseErrorLike): MoleculerError {
	const message = chain(err)
		.map((item) => `${item.message ?? ""} ${item.detail ?? ""}`)
		.join(" ");
	// Deleting (or re-keying) a row others still point to, versus pointing to a row that doesn't exist.
	if (/still referenced|update or delete on table/i.test(message)) return new ConflictError("Other records still refer to this one", "STILL_REFERENCED");
	return new UnprocessableEntityError("A referenced record does not exist", "REFERENCE_NOT_FOUND", { fields: fieldsOf(err) });
}

/**
 * The circuit breaker's `check`: true only for failures that say something about the node's health (no
 * answer in time, a lost node or transporter, an unavailable database or object store). A caller's 4xx, a
 * programming 500 caused by odd input, and third-party outages (mail, payment and sign-in providers, which
 * every node shares) never open a breaker.
 */
export function isInfrastructureFailure(err: unknown): boolean {
	if (!err || typeof err !== "object") return false;
	const error = err as DatabaseErrorLike;
	if (typeof error.name === "string" && TRANSPORT_ERROR_NAMES.has(error.name)) return true;
	if (typeof error.type === "string" && INFRASTRUCTURE_TYPES.has(error.type)) return true;
	// A typed error of a service (any 4xx, our other 503s) is what it says, whatever it wraps.
	if (typeof error.code === "number") return false;
	return isDatabaseUnavailable(error);
}
