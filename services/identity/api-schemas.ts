/**
 * The identity domain's API answers: each schema is the OpenAPI document's (an action's `responses`), its
 * Static type the DTO. Re-exported by contracts.ts; apart from lib/ and models/, this file imports nothing, so
 * the service files can import it without a cycle through contracts.ts.
 */
import { PERSONAS, TENANT_ROLES } from "../../lib/caller";
import { AnyObject, DateTime, Enum, Nullable, Type, Uuid, type Static } from "../../lib/schema";
import { USER_STATUSES } from "../../models/identity/users/user.model";

export const PublicUserSchema = Type.Object({
	id: Uuid,
	email: Type.String(),
	fullName: Type.String(),
	phone: Nullable(Type.String()),
	address: Nullable(AnyObject),
	persona: Enum(PERSONAS),
	status: Enum(USER_STATUSES),
	emailVerified: Type.Boolean(),
	lastLoginAt: Nullable(DateTime),
	createdAt: DateTime,
	updatedAt: DateTime,
});

export type PublicUser = Static<typeof PublicUserSchema>;

export const UserStatsSchema = Type.Object({
	userId: Uuid,
	tenants: Type.Integer({ minimum: 0 }),
	activeSessions: Nullable(Type.Integer({ minimum: 0, description: "null when the auth service didn't answer" })),
	lastLoginAt: Nullable(DateTime),
	memberSince: DateTime,
	emailVerified: Type.Boolean(),
});

/** An organization as the API answers it; `role` is the caller's in it, where known. */
export const PublicTenantSchema = Type.Object({
	id: Uuid,
	name: Type.String(),
	plan: Type.String(),
	features: Type.Record(Type.String(), Type.Boolean()),
	createdAt: DateTime,
	role: Type.Optional(Enum(TENANT_ROLES)),
});

export const MemberSchema = Type.Object({ userId: Uuid, role: Enum(TENANT_ROLES), email: Nullable(Type.String()), fullName: Nullable(Type.String()), joinedAt: DateTime });
export const MemberRoleSchema = Type.Object({ userId: Uuid, role: Enum(TENANT_ROLES) });
export const InvitationSchema = Type.Object({
	id: Uuid,
	email: Type.String(),
	role: Enum(TENANT_ROLES),
	invitedBy: Type.Optional(Nullable(Uuid)),
	tenantId: Type.Optional(Uuid),
	expiresAt: DateTime,
	createdAt: Type.Optional(DateTime),
});
export const FeaturesSchema = Type.Record(Type.String(), Type.Boolean());
export const LimitsSchema = Type.Object({
	plan: Type.String({ description: "The code of the plan the limits come from (billing's; `free` without a live subscription)." }),
	subscriptionStatus: Type.Optional(Nullable(Type.String({ description: "The live subscription's status; null without one." }))),
	limits: Type.Record(Type.String(), Type.Integer({ description: "-1: unlimited" }), { description: "The plan's limits with the organization's own overrides on top." }),
});

export const TokenSetSchema = Type.Object({
	accessToken: Type.String(),
	refreshToken: Type.String(),
	tokenType: Type.Literal("Bearer"),
	expiresIn: Type.Integer({ minimum: 1, description: "Seconds the access token lives." }),
});
/** Tokens for an active organization (null: the user belongs to none yet). */
export const SignedInSchema = Type.Composite([TokenSetSchema, Type.Object({ user: PublicUserSchema, tenant: Nullable(PublicTenantSchema) })]);
export const TenantTokensSchema = Type.Composite([TokenSetSchema, Type.Object({ tenant: Nullable(PublicTenantSchema) })]);
export const SessionSchema = Type.Object({
	id: Uuid,
	tenantId: Nullable(Uuid),
	ip: Nullable(Type.String()),
	userAgent: Nullable(Type.String()),
	createdAt: DateTime,
	lastUsedAt: Nullable(DateTime),
	current: Type.Boolean(),
});
export const MeSchema = Type.Object({
	user: PublicUserSchema,
	tenant: Nullable(PublicTenantSchema),
	role: Nullable(Enum(TENANT_ROLES)),
	persona: Enum(PERSONAS),
	memberships: Type.Array(PublicTenantSchema),
});
export const PersonaChangedSchema = Type.Object({ user: PublicUserSchema, ...Type.Partial(TokenSetSchema).properties });
export const AcceptedSchema = Type.Object({ accepted: Type.Literal(true) });
export const JwksSchema = Type.Object({ keys: Type.Array(AnyObject) });

export const PublicApiKeySchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	name: Type.String(),
	prefix: Type.String(),
	scopes: Type.Array(Type.String()),
	createdBy: Nullable(Uuid),
	lastUsedAt: Nullable(DateTime),
	createdAt: DateTime,
});
export const IssuedApiKeySchema = Type.Composite([PublicApiKeySchema, Type.Object({ key: Type.String({ description: "The key itself: shown in this answer only." }) })]);

export const AuditEntrySchema = Type.Object({
	id: Uuid,
	action: Type.String(),
	outcome: Enum(["success", "failure"] as const),
	actorId: Nullable(Uuid),
	actorEmail: Nullable(Type.String()),
	tenantId: Nullable(Uuid),
	targetType: Nullable(Type.String()),
	targetId: Nullable(Type.String()),
	ip: Nullable(Type.String()),
	userAgent: Nullable(Type.String()),
	data: Nullable(AnyObject),
	createdAt: DateTime,
});
