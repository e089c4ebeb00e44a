/**
 * Database errors as the caller's or the infrastructure's, for every action of every service: a duplicate is
 * 409, a missing reference 422, a NOT NULL, too-long, out-of-range or malformed value 400, an unreachable
 * database 503 DATABASE_UNAVAILABLE (lib/failures.ts). It sits just outside the action hooks, so a service
 * (or DbMixin's own error hooks) that maps an error itself keeps its answer, and inside the circuit breaker,
 * which therefore sees the translated error.
 */
import type { Context, Middleware } from "moleculer";
import { translateDatabaseError } from "../lib/failures";

type Handler = (ctx: Context) => Promise<unknown>;

function rethrowTranslated(err: unknown): never {
	throw translateDatabaseError(err) ?? err;
}

export const DatabaseErrorsMiddleware: Middleware = {
	name: "DatabaseErrors",
	localAction(handler: Handler): Handler {
		return function databaseErrors(ctx: Context) {
			return handler(ctx).catch(rethrowTranslated);
		};
	},
};
