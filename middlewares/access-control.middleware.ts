/**
 * Enforces each action's declared `auth` and `permissions` on the node that runs it, for every call: from
 * the gateway, from another service, from the REPL. A rule is compiled once when the action is registered.
 *
 * Permission strings (any one grants access; a super admin passes all):
 * - a persona: "super_admin", "builder", "end_user"
 * - a minimum tenant role: "tenant:owner" | "tenant:admin" | "tenant:member" | "tenant:viewer"
 * - "$method": a method of the service, `(ctx) => boolean | Promise<boolean>` (e.g. "$isSelf")
 *
 * API-key callers must also hold the action's scopes (see requiredKeyScopes).
 */
import type { Context, Middleware, Service } from "moleculer";
import type { ActionSchema } from "moleculer";
import { PERSONAS, TENANT_ROLES, roleRank, isAuthenticated, isSuperAdmin, type CallerMeta, type Persona, type TenantRole } from "../lib/caller";
import { ForbiddenError, UnauthorizedError } from "../lib/errors";

type Check = (ctx: Context<unknown, CallerMeta>, service: Service) => boolean | Promise<boolean>;

function compilePermission(permission: string, actionName: string): Check {
	if ((PERSONAS as readonly string[]).includes(permission)) {
		const persona = permission as Persona;
		return (ctx) => (ctx.meta.persona ?? ctx.meta.user?.persona) === persona;
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
				for (const check of checks) {
					if (await check(ctx, service)) {
						granted = true;
						break;
					}
				}
				if (!granted) throw new ForbiddenError("You are not allowed to do this");
			}
			return next(ctx);
		};
	},
};
