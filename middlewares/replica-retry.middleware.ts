/**
 * Calls that were waiting on a node when it left may go to another replica, when repeating them is safe.
 *
 * A node that leaves (crashed and dropped by lib/discoverer.ts, or stopped) has the calls still waiting for
 * it rejected with RequestRejectedError: whether it ran them is unknown. The broker's retry policy only
 * repeats calls that no node took (moleculer.config.ts, isRetryable); this middleware, which sits inside the
 * Retry middleware on the calling node, marks a rejection as safe to repeat elsewhere when the action is:
 *  - a read: every `rest` route of it is GET or HEAD;
 *  - `idempotent: true` and the call carries an Idempotency-Key (the idempotency mixin never runs one key
 *    twice: a repeat replays the stored answer or says the first is still in progress).
 * Everything else answers 503 at once, as before.
 */
import { Errors, type ActionSchema, type Context, type Middleware } from "moleculer";

/** Set on an error that may be retried on another node (read by moleculer.config.ts, isRetryable). */
export const RETRY_ON_ANOTHER_NODE = Symbol("lattice.retryOnAnotherNode");

type Handler = (ctx: Context) => Promise<unknown>;
type RestRoute = string | { method?: string } | null | undefined;

function routeMethod(route: RestRoute): string | undefined {
	if (typeof route === "string") return route.trim().split(/\s+/)[0]?.toUpperCase();
	return route?.method?.toUpperCase();
}

/** Whether an action is published only on GET or HEAD routes. */
export function isReadAction(action: Pick<ActionSchema, "rest">): boolean {
	const rest = action.rest as RestRoute | RestRoute[];
	const routes = Array.isArray(rest) ? rest : [rest];
	return routes.length > 0 && routes.every((route) => ["GET", "HEAD"].includes(routeMethod(route) ?? ""));
}

export function isRetryableOnAnotherNode(err: unknown): boolean {
	return typeof err === "object" && err !== null && (err as { [RETRY_ON_ANOTHER_NODE]?: boolean })[RETRY_ON_ANOTHER_NODE] === true;
}

export const ReplicaRetryMiddleware: Middleware = {
	name: "ReplicaRetry",

	remoteAction(next: Handler, action: ActionSchema) {
		const read = isReadAction(action);
		if (!read && action.idempotent !== true) return next;
		return function retryOnAnotherNode(ctx: Context) {
			return next(ctx).catch((err: unknown) => {
				const safe = read || typeof (ctx.meta as { idempotencyKey?: unknown }).idempotencyKey === "string";
				if (safe && err instanceof Errors.RequestRejectedError) {
					Object.defineProperty(err, RETRY_ON_ANOTHER_NODE, { value: true });
				}
				throw err;
			});
		};
	},
};
