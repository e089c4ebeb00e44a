/**
 * Who is calling: the shape of `ctx.meta` that the gateway fills from a token or an API key and that
 * travels with every call, so a service several hops away still knows the principal and the tenant.
 */
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
