/**
 * Issue 11, finding 2: which failures are the caller's (typed 4xx), which the infrastructure's (503, and the
 * only ones a circuit breaker counts). Errors are built with Sequelize's, pg's and Moleculer's own classes and
 * shapes; test/integration/hardening-validation.test.ts gets the same errors from a real PostgreSQL.
 */
import { describe, expect, it } from "vitest";
import { Errors } from "moleculer";
import { ConnectionRefusedError, DatabaseError, ForeignKeyConstraintError, UniqueConstraintError, ValidationError } from "sequelize";
import { isInfrastructureFailure, translateDatabaseError } from "../../lib/failures";
import { ConflictError, ServiceUnavailableError } from "../../lib/errors";
import { OutboundFailedError } from "../../lib/outbound/errors";
import { tripsBreaker } from "../../moleculer.config";

/** What pg rejects a query with: an Error carrying the SQLSTATE and, for some, the column. */
function pgError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
	return Object.assign(new Error(message), { code, ...extra });
}

function databaseError(code: string, message: string, extra: Record<string, unknown> = {}): DatabaseError {
	return new DatabaseError(Object.assign(pgError(code, message, extra), { sql: "SELECT 1" }) as never);
}

function socketError(code: string): Error {
	return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: "connect" });
}

describe("finding 2: translateDatabaseError", () => {
	it("finding 2: maps constraint and data errors to typed client errors with clear codes", () => {
		const cases: Array<[unknown, number, string]> = [
			[new UniqueConstraintError({ errors: [{ message: "email must be unique", path: "email" }] as never }), 409, "ALREADY_EXISTS"],
			[new ForeignKeyConstraintError({ parent: pgError("23503", 'insert or update on table "child" violates foreign key constraint "child_parent_id_fkey"') as never }), 422, "REFERENCE_NOT_FOUND"],
			[new ForeignKeyConstraintError({ parent: pgError("23503", 'update or delete on table "parent" violates foreign key constraint "child_parent_id_fkey" on table "child"') as never }), 409, "STILL_REFERENCED"],
			[new ValidationError("notNull Violation: fullName cannot be null", [{ message: "fullName cannot be null", path: "fullName" }] as never), 400, "VALIDATION_ERROR"],
			[databaseError("23502", 'null value in column "full_name" violates not-null constraint', { column: "full_name" }), 400, "VALIDATION_ERROR"],
			[databaseError("22001", "value too long for type character varying(200)"), 400, "VALUE_TOO_LONG"],
			[databaseError("22003", "value \"99999999999\" is out of range for type integer"), 400, "VALUE_OUT_OF_RANGE"],
			[databaseError("22P02", 'invalid input syntax for type uuid: "x"'), 400, "INVALID_VALUE"],
			[databaseError("22021", 'invalid byte sequence for encoding "UTF8": 0x00'), 400, "INVALID_VALUE"],
			[databaseError("22012", "division by zero"), 400, "INVALID_VALUE"],
			[databaseError("23514", 'new row violates check constraint "amount_positive"'), 422, "CONSTRAINT_VIOLATION"],
			[databaseError("40P01", "deadlock detected"), 409, "CONCURRENT_UPDATE"],
		];
		for (const [error, code, type] of cases) {
			expect(translateDatabaseError(error), type).toMatchObject({ code, type });
		}
		const notNull = translateDatabaseError(databaseError("23502", "null value", { column: "full_name" }));
		expect(notNull?.data).toEqual([expect.objectContaining({ field: "full_name", type: "required" })]);
	});

	it("finding 2: an unreachable database is 503 DATABASE_UNAVAILABLE; typed errors and programming faults are left alone", () => {
		for (const error of [
			new ConnectionRefusedError(socketError("ECONNREFUSED")),
			databaseError("57P01", "terminating connection due to administrator command"),
			databaseError("53300", "sorry, too many clients already"),
			new DatabaseError(new Error("Connection terminated unexpectedly") as never),
		]) {
			expect(translateDatabaseError(error)).toMatchObject({ code: 503, type: "DATABASE_UNAVAILABLE" });
		}
		const emailTaken = new ConflictError("An account with this email already exists", "EMAIL_TAKEN");
		expect(translateDatabaseError(emailTaken)).toBeUndefined();
		expect(translateDatabaseError(new TypeError("Cannot read properties of null"))).toBeUndefined();
		expect(translateDatabaseError(databaseError("42P01", 'relation "nosuch" does not exist'))).toBeUndefined();
	});
});

describe("finding 2: the circuit breaker counts only infrastructure failures", () => {
	it("finding 2: timeouts, lost nodes and transporters, and an unavailable database or object store trip it", () => {
		const infrastructure: unknown[] = [
			new Errors.RequestTimeoutError({ action: "users.updateProfile", nodeID: "n1" }),
			new Errors.RequestRejectedError({ action: "users.updateProfile", nodeID: "n1" }),
			new Errors.BrokerDisconnectedError("The broker is disconnected"),
			new ServiceUnavailableError("The database is not available right now", "DATABASE_UNAVAILABLE"),
			new ServiceUnavailableError("The object store is not available right now", "STORAGE_UNAVAILABLE"),
			new ConnectionRefusedError(socketError("ECONNREFUSED")),
			databaseError("57P01", "terminating connection due to administrator command"),
			socketError("ECONNRESET"),
			// As it arrives from another node: name and type survive the transporter, the class does not.
			Object.assign(new Error("The database is not available right now"), { name: "ServiceUnavailableError", code: 503, type: "DATABASE_UNAVAILABLE" }),
			Object.assign(new Error("connect ECONNREFUSED"), { name: "SequelizeConnectionRefusedError" }),
		];
		for (const err of infrastructure) expect(tripsBreaker(err as Error), String(err)).toBe(true);
	});

	it("finding 2: a caller's 4xx, a programming 500, a missing service and third-party outages never do", () => {
		const callers: unknown[] = [
			new TypeError("Cannot read properties of null (reading 'trim')"),
			new Error("null value in column violates not-null constraint"),
			new Errors.MoleculerServerError("Something broke", 500, "INTERNAL"),
			new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", []),
			new Errors.MoleculerClientError("Conflict", 409, "CONFLICT"),
			new Errors.ServiceNotAvailableError({ action: "x.y" }),
			new Errors.QueueIsFullError({ action: "x.y", nodeID: "n1" }),
			new UniqueConstraintError({}),
			databaseError("22P02", 'invalid input syntax for type uuid: "x"'),
			databaseError("23502", "null value in column"),
			new ServiceUnavailableError("The mail server did not accept the message", "MAIL_DELIVERY_FAILED"),
			new ServiceUnavailableError("Stripe is unavailable", "PAYMENT_PROVIDER_UNAVAILABLE"),
			// A webhook URL the caller named refused the connection: the caller's target, not our infrastructure.
			new OutboundFailedError("CONNECTION_FAILED", "connection refused", socketError("ECONNREFUSED")),
			null,
			"string",
		];
		for (const err of callers) expect(isInfrastructureFailure(err), String(err)).toBe(false);
	});
});
