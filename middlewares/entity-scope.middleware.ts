/**
 * Loads the entity an action works on, in the caller's scope, before the handler runs (kantab's
 * `needEntity`, extended with ownership). An action declares it once:
 *
 *   scope: { entity: "order", owner: "user" }                   // this.models.order, row.userId = the caller
 *   scope: { entity: "file", owner: "tenant", name: "File" }     // row.tenantId = the caller's tenant
 *   scope: { entity: "$loadProduct", owner: "none", param: "productId" }   // a service method loads it
 *
 * and reads the row from `ctx.locals.entity` (typed: `entityOf<Row>(ctx)`).
 * The rule is compiled when the action is registered. A malformed id, a missing row and someone else's row
 * all answer the same 404 ENTITY_NOT_FOUND, so ids reveal nothing; platform callers ($system, super admins)
 * see every owner's rows. A tenant-owned entity asked for without an active tenant is 403 TENANT_REQUIRED,
 * as everywhere else. It runs inside access control and the validator: who may call and what they sent are
 * settled before a row is read.
 */
import type { ActionSchema, Context, Middleware, Service } from "moleculer";
import type { Model, ModelStatic, WhereOptions } from "sequelize";
import { isPlatformCaller, normalizeUuid, requireTenant, type CallerMeta } from "../lib/caller";
import { EntityNotFoundError } from "../lib/errors";
import { plainRow } from "../mixins/db.mixin";

/** Who owns a row: its tenant, its user, both (the user's row inside the tenant), or nobody (the loader decides). */
export type EntityOwner = "tenant" | "user" | "tenant-and-user" | "none";

export interface EntityScope {
	/** The DbMixin model by name (`this.models[entity]`), or "$method": a service method `(id, ctx) => row | undefined`. */
	entity: string;
	owner: EntityOwner;
	/** The param holding the id (default "id"); it must be a UUID, or the answer is 404. */
	param?: string;
	/** How the 404 names it (default: the entity, capitalised). */
	name?: string;
	/** Columns naming the owner (defaults "tenantId", "userId"). */
	tenantField?: string;
	userField?: string;
}

/** The row the action's declared scope loaded into `ctx.locals.entity`, typed by the handler that reads it. */
export function entityOf<TRow>(ctx: Context): TRow {
	const entity = (ctx.locals as { entity?: TRow }).entity;
	if (entity === undefined) throw new Error(`${ctx.action?.name ?? "An action"} reads an entity but declares no scope`);
	return entity;
}

type Loader = (id: string, ctx: Context<Record<string, unknown>, CallerMeta>, service: Service) => Promise<Record<string, unknown> | undefined>;
type Filter = (meta: CallerMeta) => Record<string, unknown> | undefined;

/** The owner columns a caller may see, or undefined when no row can be theirs. */
function compileOwnerFilter(scope: EntityScope): Filter {
	const tenantField = scope.tenantField ?? "tenantId";
	const userField = scope.userField ?? "userId";
	const byTenant = scope.owner === "tenant" || scope.owner === "tenant-and-user";
	const byUser = scope.owner === "user" || scope.owner === "tenant-and-user";
	return (meta) => {
		if (scope.owner === "none" || isPlatformCaller(meta)) return {};
		const where: Record<string, unknown> = {};
		if (byTenant) where[tenantField] = requireTenant(meta);
		if (byUser) {
			// Things that belong to people: an API key or anonymous work has none of its own.
			if (!meta.user?.id) return undefined;
			where[userField] = meta.user.id;
		}
		return where;
	};
}

function compileLoader(scope: EntityScope, actionName: string): Loader {
	if (scope.entity.startsWith("$")) {
		const method = scope.entity.slice(1);
		return async (id, ctx, service) => {
			const load = (service as unknown as Record<string, unknown>)[method];
			if (typeof load !== "function") throw new Error(`${actionName}: scope loader "${method}" is not defined`);
			return (await load.call(service, id, ctx)) as Record<string, unknown> | undefined;
		};
	}
	return async (id, _ctx, service) => {
		const model = (service as unknown as { models?: Record<string, ModelStatic<Model>> }).models?.[scope.entity];
		if (!model) throw new Error(`${actionName}: scope entity "${scope.entity}" is not a model of the service`);
		return plainRow<Record<string, unknown>>(await model.findOne({ where: { id } as WhereOptions }));
	};
}

/** Compiles an action's declared scope into the function that loads its row (exported for the unit tests). */
export function compileScope(scope: EntityScope, actionName: string) {
	const param = scope.param ?? "id";
	const name = scope.name ?? scope.entity.replace(/^\$(load)?/, "").replace(/^./, (c) => c.toUpperCase());
	const filter = compileOwnerFilter(scope);
	const load = compileLoader(scope, actionName);
	return async (ctx: Context<Record<string, unknown>, CallerMeta>, service: Service): Promise<Record<string, unknown>> => {
		const raw = ctx.params?.[param];
		const id = normalizeUuid(raw);
		const owner = filter(ctx.meta ?? {});
		const row = id && owner ? await load(id, ctx, service) : undefined;
		// Compared after loading, so a method loader and a model get the same rule.
		const visible = row && owner && Object.entries(owner).every(([field, value]) => row[field] === value);
		if (!visible) throw new EntityNotFoundError(name, typeof raw === "string" ? raw : String(raw));
		return row;
	};
}

export const EntityScopeMiddleware: Middleware = {
	name: "EntityScope",

	localAction(next: (ctx: Context) => Promise<unknown>, action: ActionSchema & { name?: string; service?: Service }) {
		const service = action.service;
		if (!action.scope || !service) return next;
		const loadScoped = compileScope(action.scope, action.name ?? "unknown");
		return async function loadEntity(ctx: Context<Record<string, unknown>, CallerMeta>) {
			ctx.locals.entity = await loadScoped(ctx, service);
			return next(ctx);
		};
	},
};
