/**
 * Idempotency keys for any action that opts in with `idempotent: true`:
 *
 *   mixins: [IdempotencyMixin()],
 *   actions: { create: { rest: "POST /", idempotent: true, handler(ctx) { … } } }
 *
 * The gateway puts a valid `Idempotency-Key` header into `ctx.meta.idempotencyKey` for such actions only.
 * With a key, the first request claims (scope, key) in PostgreSQL (`idempotency.keys`) and runs; its
 * response (body, `ctx.meta.$statusCode`, `ctx.meta.$location`) is stored for 24 h. The same key again:
 *  - same parameters, first one finished → the stored response, the handler does not run;
 *  - same parameters, first one still running → 409 IDEMPOTENCY_REQUEST_IN_PROGRESS;
 *  - different parameters → 422 IDEMPOTENCY_KEY_REUSED.
 * A request that fails (any error, 4xx included) gives its claim up, so the client can retry with the key.
 * Without a key the action runs as usual.
 *
 * Keys are per caller and per action (the scope): tenant and user, API key or system caller, and, for
 * anonymous callers, the client address the gateway saw (`ctx.meta.ip`). They are never shared between
 * tenants. Responses must be JSON-serialisable (streams are not replayed).
 */
import path from "node:path";
import type { Context, Service, ServiceSchema } from "moleculer";
import { migrateSchema } from "../lib/database";
import { IDEMPOTENCY_SCHEMA, IdempotencyStore, requestHash } from "../lib/idempotency";
import { ConflictError, UnprocessableEntityError } from "../lib/errors";
import type { CallerMeta } from "../lib/caller";

export const IDEMPOTENCY_MIGRATIONS = path.join(__dirname, "../models/platform/idempotency/migrations");
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const WRAPPED = Symbol("lattice.idempotent");

export interface IdempotencyMeta extends CallerMeta {
	/** Set by the gateway from the Idempotency-Key header, only for actions declaring `idempotent: true`. */
	idempotencyKey?: string;
	$statusCode?: number;
	$location?: string;
}

export interface IdempotencyLocals {
	idempotencyStore?: IdempotencyStore;
	idempotencySweep?: NodeJS.Timeout;
}

type IdempotentService = Service & IdempotencyLocals;
type Handler = (this: IdempotentService, ctx: Context<unknown, IdempotencyMeta>) => unknown;

/** Who the key belongs to: keys of different callers (and of different tenants) never meet. */
export function idempotencyScope(meta: IdempotencyMeta, action: string): string {
	const parts: string[] = [];
	if (meta.tenantId) parts.push(`tenant:${meta.tenantId}`);
	if (meta.user?.id) parts.push(`user:${meta.user.id}`);
	else if (meta.apiKeyId) parts.push(`apikey:${meta.apiKeyId}`);
	else if (meta.$system) parts.push("system");
	else parts.push(`ip:${meta.ip ?? "unknown"}`);
	parts.push(`action:${action}`);
	return parts.join("|");
}

function wrapHandler(original: Handler): Handler {
	const wrapped: Handler = async function (this: IdempotentService, ctx) {
		const key = ctx.meta.idempotencyKey;
		if (typeof key !== "string" || key.length === 0) return original.call(this, ctx);
		// The key is for this call only: calls the handler makes must not inherit it.
		delete ctx.meta.idempotencyKey;
		const store = this.idempotencyStore;
		if (!store) throw new Error(`Idempotency store of "${this.fullName}" is not started`);

		const scope = idempotencyScope(ctx.meta, ctx.action?.name ?? this.fullName);
		const hash = requestHash(ctx.params);
		// A row can disappear between a failed claim and the read (its request failed): claim again then.
		for (let attempt = 0; ; attempt += 1) {
			if (await store.claim(scope, key, hash)) break;
			const record = await store.find(scope, key);
			if (!record) {
				if (attempt < 3) continue;
				throw new ConflictError("A request with this Idempotency-Key is being processed; retry shortly", "IDEMPOTENCY_REQUEST_IN_PROGRESS");
			}
			if (record.requestHash !== hash) {
				throw new UnprocessableEntityError("This Idempotency-Key was already used with a different request", "IDEMPOTENCY_KEY_REUSED");
			}
			if (record.status === "in_progress") {
				throw new ConflictError("A request with this Idempotency-Key is still being processed; retry later", "IDEMPOTENCY_REQUEST_IN_PROGRESS");
			}
			if (record.responseStatus !== null) ctx.meta.$statusCode = record.responseStatus;
			if (record.responseLocation !== null) ctx.meta.$location = record.responseLocation;
			return record.responseBody ?? undefined;
		}

		let result: unknown;
		try {
			result = await original.call(this, ctx);
		} catch (err) {
			await store.release(scope, key).catch((releaseError: Error) => this.logger.error(`Could not release idempotency key of ${scope}:`, releaseError));
			throw err;
		}
		try {
			await store.complete(scope, key, { status: ctx.meta.$statusCode, location: ctx.meta.$location, body: result });
		} catch (err) {
			// The work is done: answer it. The claim stays in progress (409 to retries) until its lease ends.
			this.logger.error(`Could not store the response for idempotency key of ${scope}:`, err);
		}
		return result;
	};
	(wrapped as Handler & { [WRAPPED]?: true })[WRAPPED] = true;
	return wrapped;
}

export function IdempotencyMixin(): Partial<ServiceSchema> {
	return {
		// Tells the node it needs PostgreSQL (lib/node.ts → usesDatabase).
		metadata: { needsDatabase: true },
		/** Wraps the handler of every action that declares `idempotent: true`. */
		merged(schema: ServiceSchema) {
			for (const action of Object.values(schema.actions ?? {})) {
				if (!action || typeof action !== "object" || action.idempotent !== true) continue;
				const handler = action.handler as (Handler & { [WRAPPED]?: true }) | undefined;
				if (typeof handler !== "function" || handler[WRAPPED]) continue;
				action.handler = wrapHandler(handler) as never;
			}
		},

		async started(this: IdempotentService) {
			const url = this.broker.options.platform?.databaseUrl;
			if (!url) throw new Error(`No database URL for the idempotency keys of "${this.fullName}": set DATABASE_URL or run the embedded database`);
			const store = new IdempotencyStore(url);
			this.idempotencyStore = store;
			await migrateSchema({ url, sequelize: store.sequelize, schema: IDEMPOTENCY_SCHEMA, migrationsDir: IDEMPOTENCY_MIGRATIONS, logger: this.logger });
			const sweep = () => store.sweep().catch((err: Error) => this.logger.warn("Sweeping expired idempotency keys failed:", err.message));
			this.idempotencySweep = setInterval(sweep, SWEEP_INTERVAL_MS);
			this.idempotencySweep.unref();
		},

		async stopped(this: IdempotentService) {
			if (this.idempotencySweep) clearInterval(this.idempotencySweep);
			this.idempotencySweep = undefined;
			const store = this.idempotencyStore;
			this.idempotencyStore = undefined;
			await store?.close();
		},
	};
}
