/**
 * Who is calling: the shape of `ctx.meta` that the gateway fills from a token or an API key and that
 * travels with every call, so a service several hops away still knows the principal and the tenant.
 */
import { ForbiddenError } from "./errors";

export const PERSONAS = ["super_admin", "builder", "end_user"] as const;
export type Persona = (typeof PERSONAS)[number];

/** Ordered from most to least powerful. */
export const TENANT_ROLES = ["owner", "admin", "member", "viewer"] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

export interface CallerUser {
	id: string;
	email?: string;
	persona: Persona;
}

export interface CallerMeta {
	user?: CallerUser;
	tenantId?: string;
	role?: TenantRole;
	persona?: Persona;
	/** Set for API-key callers: what the key may do. Absent for user sessions. */
	scopes?: string[];
	apiKeyId?: string;
	/**
	 * Platform work with no end user behind it (jobs, event reactions, bootstrap). Only code inside the
	 * cluster can set it: the gateway never copies client input into meta.
	 */
	$system?: boolean;
	ip?: string;
	userAgent?: string;
	/** The body as received, for actions that declare `rawBody: true` (signed webhooks). */
	rawBody?: string;
	/** Only the request cookies an action declared (`cookies` in its schema). */
	cookies?: Record<string, string>;
	[key: string]: unknown;
}

/**
 * Call options for platform work that acts on behalf of no user: `broker.call(name, params, systemCall())`.
 * Use with broker.call, never ctx.call: a child context's meta merges back into its parent's, which would
 * lift the parent to system rights. A fresh object each time, since Moleculer writes into call options.
 */
export function systemCall(): { meta: CallerMeta } {
	return { meta: { $system: true } };
}

export function roleRank(role: TenantRole | undefined): number {
	if (!role) return Number.POSITIVE_INFINITY;
	return TENANT_ROLES.indexOf(role);
}

export function isAuthenticated(meta: CallerMeta): boolean {
	return Boolean(meta.$system || meta.user || meta.apiKeyId);
}

/** A super admin: every persona check and scope passes for them (tokens and sessions carry the persona). */
export function isSuperAdmin(meta: CallerMeta): boolean {
	return (meta.persona ?? meta.user?.persona) === "super_admin";
}

/** Acts across tenants and owners: platform work ($system) or a super admin. */
export function isPlatformCaller(meta: CallerMeta): boolean {
	return Boolean(meta.$system) || isSuperAdmin(meta);
}

/** The one UUID shape ids have; a string that doesn't match names nothing (404, never a database error). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The id in its stored (lower-case) form, or undefined when it isn't a UUID. */
export function normalizeUuid(value: unknown): string | undefined {
	return typeof value === "string" && UUID_PATTERN.test(value) ? value.toLowerCase() : undefined;
}

/** The caller's active tenant, or 403 TENANT_REQUIRED. */
export function requireTenant(meta: CallerMeta): string {
	if (!meta.tenantId) throw new ForbiddenError("This action needs an active tenant", "TENANT_REQUIRED");
	return meta.tenantId;
}

/** The signed-in user behind the call, or 403 USER_REQUIRED: API keys and platform work have no person of their own. */
export function requireUser(meta: CallerMeta, message = "This action belongs to a signed-in user; API keys have none"): string {
	if (!meta.user?.id) throw new ForbiddenError(message, "USER_REQUIRED");
	return meta.user.id;
}
