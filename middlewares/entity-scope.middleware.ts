/**
 * Loads the entity an action works on, in the caller's scope, before the handler runs (kantab's
 * `needEntity`, extended with ownership). An action declares it once:
 *
 *   scope: { entity: "order" }                                   // this.models.order, owned as DbMixin's `owner` says
 *   scope: { entity: "product", seesAll: "super_admin" }         // the declared ownership, adjusted for this action
 *   scope: { entity: "$findDelivery", owner: "tenant", name: "Webhook delivery" }   // a service method loads it
 *   scope: { entity: "$loadThing", owner: "none", param: "thingId" }
 *
 * and reads the row from `ctx.locals.entity` (typed: `entityOf<Row>(ctx)`).
 * Whose row it is comes from the one rule of mixins/db-scope.ts: for a model of the service, the ownership its
 * DbMixin declares (an action may not restate a different `owner`); for a "$method" loader, the `owner` the
 * action gives. The rule is compiled when the action is registered. A malformed id, a missing row and someone
 * else's row all answer the same 404 ENTITY_NOT_FOUND, so ids reveal nothing; platform callers ($system, super
 * admins) reach every owner's rows. A tenant-owned entity asked for without an active tenant is 403
 * TENANT_REQUIRED, as everywhere else. It runs inside access control and the validator: who may call and what
 * they sent are settled before a row is read.
 */
import type { ActionSchema, Context, Middleware, Service } from "moleculer";
import type { Model, ModelStatic } from "sequelize";
import { normalizeUuid, type CallerMeta } from "../lib/caller";
import { EntityNotFoundError } from "../lib/errors";
import { plainRow } from "../mixins/db-model";
import { meetsCondition, ownerCondition, type EntityOwner, type Ownership } from "../mixins/db-scope";

export type { EntityOwner } from "../mixins/db-scope";

export interface EntityScope extends Partial<Omit<Ownership, "owner">> {
	/** The DbMixin model by name (`this.models[entity]`), or "$method": a service method `(id, ctx) => row | undefined`. */
	entity: string;
	/** Who owns it; for a model whose owner the service declares (DbMixin's `owner`), leave it out. */
	owner?: EntityOwner;
	/** The param holding the id (default "id"); it must be a UUID, or the answer is 404. */
	param?: string;
	/** How the 404 names it (default: the entity, capitalised). */
	name?: string;
}

/** The row the action's declared scope loaded into `ctx.locals.entity`, typed by the handler that reads it. */
export function entityOf<TRow>(ctx: Context): TRow {
	const entity = (ctx.locals as { entity?: TRow }).entity;
	if (entity === undefined) throw new Error(`${ctx.action?.name ?? "An action"} reads an entity but declares no scope`);
	return entity;
}

type Loader = (id: string, ctx: Context<Record<string, unknown>, CallerMeta>, service: Service) => Promise<Record<string, unknown> | undefined>;
type ScopedService = Service & { ownershipOf?: (model: string) => Ownership | undefined; models?: Record<string, ModelStatic<Model>> };

/** The action's ownership: the service's declared one for a model, adjusted by the action; else the action's own. */
function resolveOwnership(scope: EntityScope, actionName: string, service: ScopedService | undefined): Ownership {
	const { entity: _entity, param: _param, name: _name, owner, ...adjustments } = scope;
	const declared = scope.entity.startsWith("$") ? undefined : service?.ownershipOf?.(scope.entity);
	if (declared && owner && owner !== declared.owner) {
		throw new Error(`${actionName}: scope says "${scope.entity}" is owned by "${owner}", its service declares "${declared.owner}"`);
	}
	const base = declared ?? (owner ? { owner } : undefined);
	if (!base) throw new Error(`${actionName}: scope of "${scope.entity}" names no owner, and its service declares none`);
	return { ...base, ...adjustments };
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
		const model = (service as ScopedService).models?.[scope.entity];
		if (!model) throw new Error(`${actionName}: scope entity "${scope.entity}" is not a model of the service`);
		return plainRow(await model.findByPk(id));
	};
}

/** Compiles an action's declared scope into the function that loads its row (exported for the unit tests). */
export function compileScope(scope: EntityScope, actionName: string, service?: Service) {
	const param = scope.param ?? "id";
	const name = scope.name ?? scope.entity.replace(/^\$(load)?/, "").replace(/^./, (c) => c.toUpperCase());
	const ownership = resolveOwnership(scope, actionName, service);
	const load = compileLoader(scope, actionName);
	return async (ctx: Context<Record<string, unknown>, CallerMeta>, service: Service): Promise<Record<string, unknown>> => {
		const raw = ctx.params?.[param];
		const id = normalizeUuid(raw);
		const condition = ownerCondition(ownership, ctx.meta ?? {}, "row");
		const row = id && condition ? await load(id, ctx, service) : undefined;
		// Compared after loading, so a method loader and a model get the same rule.
		if (!row || !condition || !meetsCondition(row, condition)) throw new EntityNotFoundError(name, typeof raw === "string" ? raw : String(raw));
		return row;
	};
}

export const EntityScopeMiddleware: Middleware = {
	name: "EntityScope",

	localAction(next: (ctx: Context) => Promise<unknown>, action: ActionSchema & { name?: string; service?: Service }) {
		const service = action.service;
		if (!action.scope || !service) return next;
		const loadScoped = compileScope(action.scope, action.name ?? "unknown", service);
		return async function loadEntity(ctx: Context<Record<string, unknown>, CallerMeta>) {
			ctx.locals.entity = await loadScoped(ctx, service);
			return next(ctx);
		};
	},
};
