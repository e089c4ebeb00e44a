/**
 * Enforces each action's declared `auth` and `permissions` on the node that runs it, for every call: from
 * the gateway, from another service, from the REPL. A rule is compiled once when the action is registered.
 *
 * Permission strings (any one grants access; a super admin passes all):
 * - a persona: "super_admin", "builder", "end_user"
 * - a minimum tenant role: "tenant:owner" | "tenant:admin" | "tenant:member" | "tenant:viewer" (the token's
 *   active tenant and role)
 * - a minimum role in the tenant a param names: "tenant:admin@id" (for /tenants/:id/… paths): the caller's
 *   membership role in the tenant params.id, current (read now, not the token's); a caller who is not a member,
 *   and an id that is malformed or names no tenant, get 404 alike; a member below the role 403 ROLE_REQUIRED.
 *   The role found is left in ctx.locals.tenantRole (read it with `tenantRoleOf(ctx)`).
 * - "$method": a method of the service, `(ctx) => boolean | Promise<boolean>` (e.g. "$isSelf")
 *
 * API-key callers must also hold the action's scopes (see requiredKeyScopes).
 */
import type { Context, Middleware, Service } from "moleculer";
import type { ActionSchema } from "moleculer";
import {
	PERSONAS,
	TENANT_ROLES,
	roleRank,
	isAuthenticated,
	isPlatformCaller,
	isSuperAdmin,
	normalizeUuid,
	systemCall,
	type CallerMeta,
	type Persona,
	type TenantRole,
} from "../lib/caller";
import { EntityNotFoundError, ForbiddenError, UnauthorizedError } from "../lib/errors";

/** Grants (true), refuses (false), or refuses with its own reason. */
type Check = (ctx: Context<unknown, CallerMeta>, service: Service) => boolean | ForbiddenError | Promise<boolean | ForbiddenError>;

/** Where tenants answer who belongs to them (identity's tenants service). */
const MEMBERSHIP_ACTION = "tenants.membershipOf";

/** The caller's current role in a tenant, or 404 for anyone who is not a member (so ids reveal nothing). */
async function currentTenantRole(ctx: Context<unknown, CallerMeta>, raw: unknown): Promise<TenantRole> {
	const tenantId = normalizeUuid(raw);
	const userId = ctx.meta.user?.id;
	let role: TenantRole | undefined;
	if (tenantId && userId) {
		// broker.call, not ctx.call: $system must not merge back into the caller's meta.
		const membership = await ctx.broker.call<{ role: TenantRole } | null, object>(MEMBERSHIP_ACTION, { tenantId, userId }, { ...systemCall(), requestID: ctx.requestID ?? undefined });
		role = membership?.role;
	} else if (tenantId && ctx.meta.tenantId === tenantId) {
		// API keys act inside their own tenant with the role they were given.
		role = ctx.meta.role;
	}
	if (!role) throw new EntityNotFoundError("Tenant", typeof raw === "string" ? raw : String(raw));
	return role;
}

/** The caller's role in the tenant a "tenant:<role>@<param>" permission checked; platform callers act as owners. */
export function tenantRoleOf(ctx: Context<unknown, CallerMeta>): TenantRole {
	const role = (ctx.locals as { tenantRole?: TenantRole }).tenantRole;
	if (role) return role;
	if (isPlatformCaller(ctx.meta)) return "owner";
	throw new Error(`${ctx.action?.name ?? "An action"} reads a tenant role but declares no "tenant:<role>@<param>" permission`);
}

function compilePermission(permission: string, actionName: string): Check {
	if ((PERSONAS as readonly string[]).includes(permission)) {
		const persona = permission as Persona;
		return (ctx) => (ctx.meta.persona ?? ctx.meta.user?.persona) === persona;
	}
	const pathForm = /^tenant:([a-z]+)@([A-Za-z_$][\w$]*)$/.exec(permission);
	if (pathForm) {
		const [, minimum, param] = pathForm as unknown as [string, TenantRole, string];
		if (!TENANT_ROLES.includes(minimum)) throw new Error(`${actionName}: unknown tenant role in permission "${permission}"`);
		return async (ctx) => {
			const role = await currentTenantRole(ctx, (ctx.params as Record<string, unknown> | undefined)?.[param]);
			(ctx.locals as { tenantRole?: TenantRole }).tenantRole = role;
			return roleRank(role) <= roleRank(minimum) || new ForbiddenError(`This needs the ${minimum} role in the organization`, "ROLE_REQUIRED");
		};
	}
	if (permission.startsWith("tenant:")) {
		const role = permission.slice("tenant:".length) as TenantRole;
		if (!TENANT_ROLES.includes(role)) throw new Error(`${actionName}: unknown tenant role in permission "${permission}"`);
		return (ctx) => Boolean(ctx.meta.tenantId) && roleRank(ctx.meta.role) <= roleRank(role);
	}
	if (permission.startsWith("$")) {
		const method = permission.slice(1);
		return async (ctx, service) => {
			const check = (service as unknown as Record<string, unknown>)[method];
			if (typeof check !== "function") throw new Error(`${actionName}: permission method "${method}" is not defined`);
			return Boolean(await check.call(service, ctx));
		};
	}
	throw new Error(`${actionName}: unknown permission "${permission}"`);
}

/**
 * API keys carry scopes. An action may name the scopes it needs; otherwise a published action needs
 * "<service>:read" for GET and "<service>:write" for anything else. A key with "*" or "<service>:*" has all.
 */
function requiredKeyScopes(action: ActionSchema, serviceName: string): string[] {
	if (action.scopes) return action.scopes;
	const rest = Array.isArray(action.rest) ? action.rest[0] : action.rest;
	const method = typeof rest === "string" ? rest.trim().split(/\s+/)[0].toUpperCase() : (rest?.method ?? "POST").toUpperCase();
	return [`${serviceName}:${method === "GET" ? "read" : "write"}`];
}

function keyHasScope(granted: string[], needed: string): boolean {
	const service = needed.split(":")[0];
	return granted.includes("*") || granted.includes(needed) || granted.includes(`${service}:*`);
}

export const AccessControlMiddleware: Middleware = {
	name: "AccessControl",

	localAction(next: (ctx: Context) => Promise<unknown>, action: ActionSchema & { name?: string; service?: Service }) {
		const service = action.service;
		// Broker internals ($node) and private actions (callable only from inside their own service) have
		// already been vetted at the door their caller came through.
		if (!service || service.name.startsWith("$") || action.visibility === "private") return next;

		const actionName = action.name ?? "unknown";
		const auth = action.auth ?? "required";
		const checks = (action.permissions ?? []).map((permission) => compilePermission(permission, actionName));
		const keyScopes = requiredKeyScopes(action, service.name);
		if (auth !== "required" && checks.length === 0) return next;

		return async function checkAccess(ctx: Context<unknown, CallerMeta>) {
			const meta = ctx.meta ?? {};
			if (meta.$system) return next(ctx);
			if (auth === "required" && !isAuthenticated(meta)) {
				throw new UnauthorizedError("Authentication is required for this action");
			}
			if (meta.apiKeyId && !keyScopes.every((scope) => keyHasScope(meta.scopes ?? [], scope))) {
				throw new ForbiddenError(`This API key lacks the scope ${keyScopes.join(", ")}`, "SCOPE_REQUIRED");
			}
			if (checks.length > 0 && !isSuperAdmin(meta)) {
				let granted = false;
				let refusal: ForbiddenError | undefined;
				for (const check of checks) {
					const answer = await check(ctx, service);
					if (answer === true) {
						granted = true;
						break;
					}
					refusal ??= answer || undefined;
				}
				if (!granted) throw refusal ?? new ForbiddenError("You are not allowed to do this");
			}
			return next(ctx);
		};
	},
};
