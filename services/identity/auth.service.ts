/**
 * Accounts and sessions: sign-up, login with throttling, short-lived access tokens (ES256 JWT with a kid)
 * and opaque, single-use, rotating refresh tokens whose reuse revokes the whole session. Also the
 * gateway's `resolveCredentials`, so every request's caller is checked against current account state.
 */
import path from "node:path";
import { Op, QueryTypes } from "sequelize";
import type { JWK } from "jose";
import type { Context } from "moleculer";
import { DbMixin, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AuditMixin, type AuditMixinMethods } from "../../mixins/audit.mixin";
import { SessionModel, RefreshTokenModel, OneTimeTokenModel, LoginThrottleModel, KnownAddressModel, SigningKeyModel, type OneTimePurpose } from "../../models/identity/auth/auth.models";
import { ACCESS_TOKEN_TTL_SECONDS, KeyRing, generateSigningKey, openPrivateJwk, peekKid, sealPrivateJwk, type AccessClaims, type StoredSigningKey } from "../../lib/identity/access-tokens";
import { VerifiedTokens, broadcastAuthStateChange, credentialHash } from "../../lib/identity/auth-state";
import { SecretBox } from "../../lib/secret-box";
import { LoginThrottle } from "../../lib/identity/login-throttle";
import { checkPasswordPolicy, hashToken, randomToken } from "../../lib/identity/secrets";
import { PERSONAS, systemCall, type CallerMeta, type Persona, type TenantRole } from "../../lib/caller";
import { BadRequestError, EntityNotFoundError, ForbiddenError, TooManyRequestsError, UnauthorizedError } from "../../lib/errors";
import { Errors } from "moleculer";
import { platformConfigOf } from "../../lib/node";
import { startBootstrapAdmin } from "../../lib/identity/bootstrap-admin";
import type { PublicUser } from "./users.service";

const REFRESH_TOKEN_TTL_MS = 30 * 86_400_000;
/** Two requests refreshing with the same token at once (two tabs) must not log the user out. */
const REUSE_GRACE_MS = 10_000;
const ONE_TIME_TTL_MS: Record<OneTimePurpose, number> = { password_reset: 3_600_000, email_verification: 2 * 86_400_000 };
/** A token naming a key this node doesn't know reloads the key ring at most this often (rotations also broadcast). */
const KEY_RELOAD_INTERVAL_MS = 5_000;

interface SessionRow {
	id: string;
	userId: string;
	tenantId: string | null;
	ip: string | null;
	userAgent: string | null;
	lastUsedAt: Date;
	expiresAt: Date;
	revokedAt: Date | null;
	createdAt: Date;
}

interface Membership {
	id: string;
	name: string;
	role: TenantRole;
}

export interface TokenSet {
	accessToken: string;
	refreshToken: string;
	tokenType: "Bearer";
	expiresIn: number;
}

interface AuthMethods {
	keyRing: KeyRing;
	keysLoadedAt: number;
	keysLoading?: Promise<void>;
	verifiedTokens: VerifiedTokens<AccessClaims>;
	/** The last /auth/me answer per profile object (see the `me` action). */
	meAnswers: WeakMap<object, MeAnswer>;
	throttle: LoginThrottle;
	secretBox: SecretBox;
	ensureSigningKey(): Promise<void>;
	resealSigningKeys(): Promise<void>;
	reloadKeys(): Promise<void>;
	verifyAccessToken(token: string): Promise<AccessClaims>;
	startSession(ctx: Context<unknown, CallerMeta>, user: PublicUser, tenantId?: string | null): Promise<{ tokens: TokenSet; tenant: Membership | null }>;
	issueTokens(session: SessionRow, user: PublicUser, role: TenantRole | null): Promise<TokenSet>;
	newRefreshToken(sessionId: string): Promise<string>;
	pickTenant(ctx: Context, userId: string, wanted?: string | null): Promise<Membership | null>;
	revokeSessions(where: Record<string, unknown>, reason: string): Promise<number>;
	createOneTimeToken(userId: string, purpose: OneTimePurpose): Promise<string>;
	consumeOneTimeToken(token: string, purpose: OneTimePurpose): Promise<string>;
	sendVerificationEmail(user: PublicUser): Promise<void>;
	stopBootstrap?: () => void;
	currentUser(ctx: Context<unknown, CallerMeta>): Promise<PublicUser>;
}

type AuthContext<P = Record<string, unknown>> = Context<P, CallerMeta>;

/** An /auth/me answer and what it was built from. */
interface MeAnswer {
	memberships: Membership[];
	tenantId: string | null;
	answer: Readonly<{ user: PublicUser; tenant: Membership | null; role: TenantRole | null; persona: PublicUser["persona"]; memberships: Membership[] }>;
}

const AuthService: DbServiceSchema<DbMixinSettings, AuthMethods & AuditMixinMethods> = {
	name: "auth",
	mixins: [
		DbMixin({
			schema: "auth",
			migrations: path.join(__dirname, "../../models/identity/auth/migrations"),
			model: SessionModel,
			extraModels: [RefreshTokenModel, OneTimeTokenModel, LoginThrottleModel, KnownAddressModel, SigningKeyModel],
			entityName: "Session",
		}),
		AuditMixin,
	],

	actions: {
		register: {
			rest: "POST /register",
			auth: "public",
			summary: "Create an account and its organization",
			params: {
				email: "email|normalize|max:320",
				password: "string|max:256",
				fullName: "string|trim|min:1|max:200",
				organization: { type: "string", trim: true, min: 1, max: 200, optional: true },
			},
			async handler(ctx: AuthContext<{ email: string; password: string; fullName: string; organization?: string }>) {
				const violation = checkPasswordPolicy(ctx.params.password, ctx.params.email);
				if (violation) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [violation]);
				const user = await this.broker.call<PublicUser, object>("users.createAccount", { email: ctx.params.email, password: ctx.params.password, fullName: ctx.params.fullName }, systemCall());
				const tenant = await this.broker.call<Membership, object>("tenants.createForOwner", { name: ctx.params.organization ?? `${ctx.params.fullName}'s organization`, ownerId: user.id }, systemCall());
				const { tokens } = await this.startSession(ctx, user, tenant.id);
				await this.throttle.remember(user.email, ctx.meta.ip, user.id);
				await this.sendVerificationEmail(user);
				await this.audit(ctx, { action: "auth.signup", actorId: user.id, actorEmail: user.email, tenantId: tenant.id, targetType: "user", targetId: user.id });
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `/api/v1/users/${user.id}`;
				return { user, tenant: { ...tenant, role: "owner" }, ...tokens };
			},
		},

		login: {
			rest: "POST /login",
			auth: "public",
			params: { email: "string|trim|min:3|max:320", password: "string|min:1|max:1024" },
			async handler(ctx: AuthContext<{ email: string; password: string }>) {
				// Claimed before the password is checked (lib/identity/login-throttle.ts); the same answer whether the account exists or not.
				const attempt = await this.throttle.claim(ctx.params.email, ctx.meta.ip);
				if (!attempt.allowed) throw new TooManyRequestsError(attempt.retryAfterSeconds, "Too many failed sign-in attempts; try again later", "LOGIN_THROTTLED");
				let result: { valid: boolean; user: PublicUser | null };
				try {
					result = await this.broker.call<{ valid: boolean; user: PublicUser | null }, object>("users.verifyCredentials", ctx.params, systemCall());
				} catch (err) {
					// No verdict on the password: the attempt isn't a failure.
					await this.throttle.release(attempt).catch((releaseErr: Error) => this.logger.warn("Releasing a login attempt failed", releaseErr));
					throw err;
				}
				if (!result.valid || !result.user) {
					await this.audit(ctx, { action: "auth.login", outcome: "failure", actorEmail: ctx.params.email.toLowerCase() });
					// One answer for an unknown email and a wrong password.
					throw new UnauthorizedError("The email or password is incorrect", "INVALID_CREDENTIALS");
				}
				if (result.user.status !== "active") {
					await this.throttle.release(attempt);
					await this.audit(ctx, { action: "auth.login", outcome: "failure", actorId: result.user.id, actorEmail: result.user.email, data: { reason: "suspended" } });
					throw new ForbiddenError("This account is suspended", "ACCOUNT_SUSPENDED");
				}
				await this.throttle.succeeded(attempt, result.user.id);
				const { tokens, tenant } = await this.startSession(ctx, result.user);
				await this.broker.call("users.recordLogin", { id: result.user.id }, systemCall());
				await this.audit(ctx, { action: "auth.login", actorId: result.user.id, actorEmail: result.user.email, tenantId: tenant?.id ?? null });
				return { user: result.user, tenant, ...tokens };
			},
		},

		refresh: {
			rest: "POST /refresh-token",
			auth: "public",
			params: { refreshToken: "string|min:20|max:200" },
			async handler(ctx: AuthContext<{ refreshToken: string }>) {
				const invalid = () => new UnauthorizedError("The refresh token is invalid or expired", "INVALID_REFRESH_TOKEN");
				const tokenHash = hashToken(ctx.params.refreshToken);
				const row = (await this.models.refreshToken.findOne({ where: { tokenHash } }))?.get({ plain: true }) as { id: string; sessionId: string; usedAt: Date | null; expiresAt: Date } | undefined;
				if (!row) throw invalid();
				const session = (await this.models.session.findByPk(row.sessionId))?.get({ plain: true }) as SessionRow | undefined;
				if (!session || session.revokedAt || new Date(session.expiresAt) < new Date() || new Date(row.expiresAt) < new Date()) throw invalid();
				// Single use: claim the token atomically; a second claim means it was used before.
				const [claimed] = await this.models.refreshToken.update({ usedAt: new Date() }, { where: { id: row.id, usedAt: null } });
				if (claimed === 0) {
					const usedAt = (await this.models.refreshToken.findByPk(row.id))?.get("usedAt") as Date | null;
					if (!usedAt || Date.now() - new Date(usedAt).getTime() > REUSE_GRACE_MS) {
						await this.revokeSessions({ id: session.id }, "refresh_token_reused");
						await this.audit(ctx, { action: "auth.refresh_token_reused", outcome: "failure", actorId: session.userId, tenantId: session.tenantId, targetType: "session", targetId: session.id });
						throw invalid();
					}
				}
				const state = await this.broker.call<{ status: string } | null, object>("users.authState", { id: session.userId }, systemCall());
				if (!state || state.status !== "active") throw invalid();
				const user = await this.broker.call<PublicUser, object>("users.profile", { id: session.userId }, systemCall());
				const tenant = await this.pickTenant(ctx, user.id, session.tenantId);
				await this.models.session.update({ lastUsedAt: new Date(), tenantId: tenant?.id ?? null }, { where: { id: session.id } });
				return { ...(await this.issueTokens({ ...session, tenantId: tenant?.id ?? null }, user, tenant?.role ?? null)), tenant };
			},
		},

		logout: {
			rest: "POST /logout",
			auth: "public",
			params: { refreshToken: "string|min:20|max:200" },
			async handler(ctx: AuthContext<{ refreshToken: string }>) {
				const row = await this.models.refreshToken.findOne({ where: { tokenHash: hashToken(ctx.params.refreshToken) } });
				if (row) {
					const sessionId = row.get("sessionId") as string;
					await this.revokeSessions({ id: sessionId }, "logout");
					await this.audit(ctx, { action: "auth.logout", targetType: "session", targetId: sessionId });
				}
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		sessions: {
			rest: "GET /sessions",
			params: {},
			async handler(ctx: AuthContext) {
				const user = await this.currentUser(ctx);
				const rows = await this.models.session.findAll({ where: { userId: user.id, revokedAt: null, expiresAt: { [Op.gt]: new Date() } }, order: [["lastUsedAt", "DESC"]] });
				return rows.map((row) => {
					const session = row.get({ plain: true }) as SessionRow;
					return { id: session.id, tenantId: session.tenantId, ip: session.ip, userAgent: session.userAgent, createdAt: session.createdAt, lastUsedAt: session.lastUsedAt, current: session.id === ctx.meta.sessionId };
				});
			},
		},

		revokeSession: {
			rest: "DELETE /sessions/:id",
			params: { id: "uuid" },
			async handler(ctx: AuthContext<{ id: string }>) {
				const user = await this.currentUser(ctx);
				const revoked = await this.revokeSessions({ id: ctx.params.id, userId: user.id }, "revoked_by_user");
				if (revoked === 0) throw new EntityNotFoundError("Session", ctx.params.id);
				await this.audit(ctx, { action: "auth.session_revoked", targetType: "session", targetId: ctx.params.id });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		revokeAllSessions: {
			visibility: "public",
			params: { userId: "uuid", reason: "string|max:40" },
			handler(ctx: AuthContext<{ userId: string; reason: string }>) {
				return this.revokeSessions({ userId: ctx.params.userId }, ctx.params.reason);
			},
		},

		activeSessionCount: {
			visibility: "public",
			params: { userId: "uuid" },
			handler(ctx: AuthContext<{ userId: string }>) {
				return this.models.session.count({ where: { userId: ctx.params.userId, revokedAt: null, expiresAt: { [Op.gt]: new Date() } } });
			},
		},

		me: {
			rest: "GET /me",
			params: {},
			async handler(ctx: AuthContext) {
				if (!ctx.meta.user) throw new UnauthorizedError("Sign in first", "UNAUTHORIZED");
				const [user, memberships] = await Promise.all([
					this.currentUser(ctx),
					this.broker.call<Membership[], object>("tenants.membershipsOf", { userId: ctx.meta.user.id }, systemCall()),
				]);
				// Both parts come from the cacher; on a node whose cacher hands out the objects it keeps (Memory), the
				// same profile and memberships objects mean nothing changed, and the previous answer is handed out
				// again, frozen, so the gateway serialises it once (lib/gateway/fast-path.ts) instead of per request.
				// A change cleans either cache, which yields new objects and so a new answer.
				const tenantId = ctx.meta.tenantId ?? null;
				const known = this.meAnswers.get(user);
				if (known && known.memberships === memberships && known.tenantId === tenantId) return known.answer;
				const active = memberships.find((item) => item.id === tenantId) ?? null;
				const answer = Object.freeze({ user, tenant: active, role: active?.role ?? null, persona: user.persona, memberships });
				if (typeof user === "object" && user !== null) this.meAnswers.set(user, { memberships, tenantId, answer });
				return answer;
			},
		},

		updatePersona: {
			rest: "PUT /update-persona",
			summary: "Change a persona; super_admin is granted by super admins only",
			description: "Without `userId`, the caller's own persona (`null` is refused). The last active super admin can't lose the persona: 409 `LAST_SUPER_ADMIN`.",
			params: { persona: { type: "enum", values: PERSONAS }, userId: { type: "uuid", optional: true } },
			// The broker's validator refuses `null` (lib/validator.ts): it is not a way to say "myself".
			async handler(ctx: AuthContext<{ persona: Persona; userId?: string }>) {
				const caller = await this.currentUser(ctx);
				const targetId = ctx.params.userId ?? caller.id;
				const callerIsSuperAdmin = caller.persona === "super_admin";
				if ((ctx.params.persona === "super_admin" || targetId !== caller.id) && !callerIsSuperAdmin) {
					throw new ForbiddenError("Only a super admin can grant this persona or change another user's", "SUPER_ADMIN_REQUIRED");
				}
				const user = await this.broker.call<PublicUser, object>("users.setPersona", { id: targetId, persona: ctx.params.persona }, systemCall());
				await this.audit(ctx, { action: "user.persona_changed", targetType: "user", targetId, data: { persona: ctx.params.persona } });
				if (targetId !== caller.id) return { user };
				// The caller's own tokens carry the persona: hand out fresh ones.
				const session = (await this.models.session.findByPk(ctx.meta.sessionId as string))?.get({ plain: true }) as SessionRow | undefined;
				if (!session) return { user };
				return { user, ...(await this.issueTokens(session, user, ctx.meta.role ?? null)) };
			},
		},

		switchTenant: {
			rest: "POST /switch-tenant",
			params: { tenantId: "uuid" },
			async handler(ctx: AuthContext<{ tenantId: string }>) {
				const user = await this.currentUser(ctx);
				const membership = await this.broker.call<{ role: TenantRole } | null, object>("tenants.membershipOf", { tenantId: ctx.params.tenantId, userId: user.id }, systemCall());
				if (!membership) throw new ForbiddenError("You are not a member of this organization", "NOT_A_MEMBER");
				const session = (await this.models.session.findByPk(ctx.meta.sessionId as string))?.get({ plain: true }) as SessionRow | undefined;
				if (!session) throw new UnauthorizedError("This session has ended", "SESSION_ENDED");
				await this.models.session.update({ tenantId: ctx.params.tenantId }, { where: { id: session.id } });
				const tenant = await this.pickTenant(ctx, user.id, ctx.params.tenantId);
				return { tenant, ...(await this.issueTokens({ ...session, tenantId: ctx.params.tenantId }, user, membership.role)) };
			},
		},

		forgotPassword: {
			rest: "POST /password/forgot",
			auth: "public",
			params: { email: "string|trim|min:3|max:320" },
			async handler(ctx: AuthContext<{ email: string }>) {
				const user = await this.broker.call<PublicUser | null, object>("users.findByEmail", { email: ctx.params.email }, systemCall());
				if (user && user.status === "active") {
					const token = await this.createOneTimeToken(user.id, "password_reset");
					const link = `${platformConfigOf(this.broker).appUrl}/reset-password?token=${encodeURIComponent(token)}`;
					await this.broker.call("mail.sendTemplate", { to: user.email, template: "password-reset", data: { fullName: user.fullName, link, expiresInMinutes: 60 } }, systemCall());
					await this.audit(ctx, { action: "auth.password_reset_requested", actorId: user.id, actorEmail: user.email });
				}
				// Always the same answer: whether an account exists is not disclosed.
				ctx.meta.$statusCode = 202;
				return { accepted: true };
			},
		},

		resetPassword: {
			rest: "POST /password/reset",
			auth: "public",
			params: { token: "string|min:20|max:200", password: "string|max:256" },
			async handler(ctx: AuthContext<{ token: string; password: string }>) {
				const userId = await this.consumeOneTimeToken(ctx.params.token, "password_reset");
				const user = await this.broker.call<PublicUser, object>("users.profile", { id: userId }, systemCall());
				const violation = checkPasswordPolicy(ctx.params.password, user.email);
				if (violation) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [violation]);
				await this.broker.call("users.setPassword", { id: userId, password: ctx.params.password }, systemCall());
				await this.revokeSessions({ userId }, "password_reset");
				await this.throttle.clear({ email: user.email });
				await this.broker.call("notifications.send", { userId, type: "security.password_changed", data: {} }, systemCall()).catch((err: Error) => {
					this.logger.warn(`Password-changed notice to user ${userId} was not sent:`, err.message);
				});
				await this.audit(ctx, { action: "auth.password_reset", actorId: userId, actorEmail: user.email });
				return { reset: true };
			},
		},

		changePassword: {
			rest: "POST /password/change",
			params: { currentPassword: "string|min:1|max:1024", newPassword: "string|max:256" },
			async handler(ctx: AuthContext<{ currentPassword: string; newPassword: string }>) {
				const user = await this.currentUser(ctx);
				const check = await this.broker.call<{ valid: boolean }, object>("users.verifyCredentials", { email: user.email, password: ctx.params.currentPassword }, systemCall());
				if (!check.valid) throw new ForbiddenError("The current password is incorrect", "INVALID_CURRENT_PASSWORD");
				const violation = checkPasswordPolicy(ctx.params.newPassword, user.email);
				if (violation) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [{ ...violation, field: "newPassword" }]);
				await this.broker.call("users.setPassword", { id: user.id, password: ctx.params.newPassword }, systemCall());
				await this.revokeSessions({ userId: user.id }, "password_changed");
				await this.audit(ctx, { action: "auth.password_changed", targetType: "user", targetId: user.id });
				// Every session ended, this one too; the client carries on with a fresh one.
				const { tokens, tenant } = await this.startSession(ctx, user, ctx.meta.tenantId);
				return { tenant, ...tokens };
			},
		},

		verifyEmail: {
			rest: "POST /verify-email",
			auth: "public",
			params: { token: "string|min:20|max:200" },
			async handler(ctx: AuthContext<{ token: string }>) {
				const userId = await this.consumeOneTimeToken(ctx.params.token, "email_verification");
				const user = await this.broker.call<PublicUser, object>("users.markEmailVerified", { id: userId }, systemCall());
				await this.audit(ctx, { action: "auth.email_verified", actorId: userId, actorEmail: user.email });
				return { verified: true, user };
			},
		},

		resendVerification: {
			rest: "POST /verify-email/resend",
			params: {},
			async handler(ctx: AuthContext) {
				const user = await this.currentUser(ctx);
				if (!user.emailVerified) await this.sendVerificationEmail(user);
				ctx.meta.$statusCode = 202;
				return { accepted: true };
			},
		},

		clearThrottle: {
			rest: "DELETE /throttles",
			permissions: ["super_admin"],
			summary: "Lift the login waits of an account (from every address) or of an address (for every account)",
			params: { email: { type: "string", optional: true, max: 320 }, ip: { type: "string", optional: true, max: 64 } },
			async handler(ctx: AuthContext<{ email?: string; ip?: string }>) {
				if (!ctx.params.email && !ctx.params.ip) throw new BadRequestError("Name an email or an ip", "NOTHING_TO_CLEAR");
				const cleared = await this.throttle.clear(ctx.params);
				await this.audit(ctx, { action: "auth.throttle_cleared", data: { email: ctx.params.email, ip: ctx.params.ip } });
				return { cleared };
			},
		},

		jwks: {
			rest: "GET /jwks",
			auth: "public",
			summary: "Public keys that verify access tokens",
			params: {},
			async handler() {
				const keys = await this.models.signingKey.findAll({ order: [["createdAt", "DESC"]] });
				return { keys: keys.map((key) => key.get("publicJwk")) };
			},
		},

		rotateSigningKey: {
			rest: "POST /signing-keys/rotate",
			permissions: ["super_admin"],
			params: {},
			async handler(ctx: AuthContext) {
				const key = await generateSigningKey();
				await this.adapter.db.transaction(async (transaction) => {
					await this.models.signingKey.update({ status: "retired" }, { where: { status: "active" }, transaction });
					await this.models.signingKey.create({ ...key, privateJwk: sealPrivateJwk(this.secretBox, key.kid, key.privateJwk) }, { transaction });
				});
				this.broker.broadcast("auth.signingKeysRotated", { kid: key.kid });
				await this.reloadKeys();
				await this.audit(ctx, { action: "auth.signing_key_rotated", data: { kid: key.kid } });
				return { kid: key.kid };
			},
		},

		/** Internal: the gateway's question for every request that carries credentials. */
		resolveCredentials: {
			visibility: "public",
			params: { token: { type: "string", optional: true, max: 4096 }, apiKey: { type: "string", optional: true, max: 200 } },
			async handler(ctx: AuthContext<{ token?: string; apiKey?: string }>): Promise<CallerMeta> {
				if (ctx.params.apiKey && !ctx.params.token) {
					return this.broker.call<CallerMeta, object>("api-keys.authenticate", { key: ctx.params.apiKey }, systemCall());
				}
				const claims = await this.verifyAccessToken(ctx.params.token ?? "");
				// The caller as things are now, not as the token said when it was issued: the account (suspension,
				// persona), the session (logout, password change) and the membership in the token's tenant (removal,
				// role change). The gateway remembers this answer until auth.stateChanged says it changed.
				const [state, session, membership] = await Promise.all([
					this.broker.call<{ status: string; persona: Persona; email: string } | null, object>("users.authState", { id: claims.sub }, systemCall()),
					this.models.session.findByPk(claims.sid, { attributes: ["revokedAt"] }),
					claims.tid ? this.broker.call<{ role: TenantRole } | null, object>("tenants.membershipOf", { tenantId: claims.tid, userId: claims.sub }, systemCall()) : null,
				]);
				if (!state || state.status !== "active") throw new UnauthorizedError("This account can't be used right now", "ACCOUNT_INACTIVE");
				if (!session || session.get("revokedAt")) throw new UnauthorizedError("This session has ended", "SESSION_ENDED");
				// A member who left the token's tenant acts in no tenant: tenant-scoped actions answer 403 TENANT_REQUIRED.
				return {
					user: { id: claims.sub, email: state.email, persona: state.persona },
					persona: state.persona,
					tenantId: membership ? (claims.tid ?? undefined) : undefined,
					role: membership?.role,
					sessionId: claims.sid,
				};
			},
		},

		/** Internal: sessions for other sign-in paths (OpenID Connect). */
		issueSession: {
			visibility: "public",
			params: { userId: "uuid", ip: { type: "string", optional: true }, userAgent: { type: "string", optional: true } },
			async handler(ctx: AuthContext<{ userId: string; ip?: string; userAgent?: string }>) {
				const user = await this.broker.call<PublicUser, object>("users.profile", { id: ctx.params.userId }, systemCall());
				if (user.status !== "active") throw new ForbiddenError("This account is suspended", "ACCOUNT_SUSPENDED");
				ctx.meta.ip = ctx.params.ip ?? ctx.meta.ip;
				ctx.meta.userAgent = ctx.params.userAgent ?? ctx.meta.userAgent;
				const { tokens, tenant } = await this.startSession(ctx, user);
				await this.throttle.remember(user.email, ctx.meta.ip, user.id);
				await this.broker.call("users.recordLogin", { id: user.id }, systemCall());
				return { user, tenant, ...tokens };
			},
		},
	},

	events: {
		"auth.signingKeysRotated": {
			async handler() {
				await this.reloadKeys().catch((err: Error) => this.logger.warn("Reloading signing keys failed", err));
			},
		},
		"user.deleted": {
			params: { userId: "uuid" },
			async handler(ctx: Context<{ userId: string }>) {
				await this.revokeSessions({ userId: ctx.params.userId }, "account_deleted").catch((err: Error) => this.logger.error("Revoking sessions failed", err));
				await this.throttle.forgetUser(ctx.params.userId).catch((err: Error) => this.logger.error("Forgetting known addresses failed", err));
			},
		},
		"user.statusChanged": {
			params: { userId: "uuid", status: "string" },
			async handler(ctx: Context<{ userId: string; status: string }>) {
				if (ctx.params.status !== "suspended") return;
				await this.revokeSessions({ userId: ctx.params.userId }, "account_suspended").catch((err: Error) => this.logger.error("Revoking sessions failed", err));
			},
		},
	},

	methods: {
		async ensureSigningKey() {
			await this.adapter.db.transaction(async (transaction) => {
				// Nodes starting together must not each create an "active" key.
				await this.adapter.db.query("SELECT pg_advisory_xact_lock(hashtext('lattice:auth:signing-key'))", { transaction });
				const active = await this.models.signingKey.count({ where: { status: "active" }, transaction });
				if (active === 0) {
					const key = await generateSigningKey();
					await this.models.signingKey.create({ ...key, privateJwk: sealPrivateJwk(this.secretBox, key.kid, key.privateJwk) }, { transaction });
				}
			});
		},

		/**
		 * Seals, with the current SECRETS_KEY, private keys still readable or sealed with a previous key. Each
		 * update is guarded by the value it read, so nodes starting together never overwrite each other.
		 */
		async resealSigningKeys() {
			if (!this.secretBox.sealing) return;
			const rows = await this.adapter.db.query<{ kid: string; privateJwk: JWK | string }>(`SELECT kid, private_jwk AS "privateJwk" FROM auth.signing_keys`, { type: QueryTypes.SELECT });
			for (const row of rows) {
				if (typeof row.privateJwk === "string" && !this.secretBox.needsReseal(row.privateJwk)) continue;
				const sealed = sealPrivateJwk(this.secretBox, row.kid, openPrivateJwk(this.secretBox, row.kid, row.privateJwk));
				await this.adapter.db.query("UPDATE auth.signing_keys SET private_jwk = to_jsonb(CAST(:sealed AS text)) WHERE kid = :kid AND private_jwk = CAST(:old AS jsonb)", {
					replacements: { kid: row.kid, sealed, old: JSON.stringify(row.privateJwk) },
				});
			}
		},

		async reloadKeys() {
			this.keysLoadedAt = Date.now();
			const keys = (await this.models.signingKey.findAll()).map((row) => {
				const key = row.get({ plain: true }) as Omit<StoredSigningKey, "privateJwk"> & { privateJwk: JWK | string };
				return { ...key, privateJwk: openPrivateJwk(this.secretBox, key.kid, key.privateJwk) };
			});
			await this.keyRing.load(keys);
		},

		/**
		 * Checks an access token's signature once: the claims are remembered by the token's hash until it
		 * expires. A kid this node doesn't know reloads the key ring, at most once per KEY_RELOAD_INTERVAL_MS
		 * (a rotation reloads every node through auth.signingKeysRotated), so tokens with made-up kids can't
		 * make every request read the keys from PostgreSQL.
		 */
		async verifyAccessToken(token: string): Promise<AccessClaims> {
			const key = credentialHash("token", token);
			const known = this.verifiedTokens.get(key);
			if (known) return known;
			const kid = peekKid(token);
			if (kid && !this.keyRing.has(kid) && Date.now() - this.keysLoadedAt >= KEY_RELOAD_INTERVAL_MS) {
				this.keysLoading ??= this.reloadKeys().finally(() => (this.keysLoading = undefined));
				await this.keysLoading.catch((err: Error) => this.logger.warn("Reloading signing keys failed", err));
			}
			let claims: AccessClaims & { exp?: number };
			try {
				claims = await this.keyRing.verify(token);
			} catch {
				throw new UnauthorizedError("The access token is invalid or expired", "INVALID_TOKEN");
			}
			if (typeof claims.exp === "number") this.verifiedTokens.set(key, claims, claims.exp * 1000);
			return claims;
		},

		async startSession(ctx: Context<unknown, CallerMeta>, user: PublicUser, tenantId?: string | null) {
			const tenant = await this.pickTenant(ctx, user.id, tenantId);
			const session = (
				await this.models.session.create({
					userId: user.id,
					tenantId: tenant?.id ?? null,
					ip: ctx.meta.ip ?? null,
					userAgent: ctx.meta.userAgent ?? null,
					lastUsedAt: new Date(),
					expiresAt: new Date(Date.now() + REFRESH_TOKEN_TTL_MS),
				})
			).get({ plain: true }) as SessionRow;
			return { tokens: await this.issueTokens(session, user, tenant?.role ?? null), tenant };
		},

		async issueTokens(session: SessionRow, user: PublicUser, role: TenantRole | null): Promise<TokenSet> {
			const accessToken = await this.keyRing.sign({ sub: user.id, sid: session.id, tid: session.tenantId, role, persona: user.persona, email: user.email });
			const refreshToken = await this.newRefreshToken(session.id);
			return { accessToken, refreshToken, tokenType: "Bearer", expiresIn: ACCESS_TOKEN_TTL_SECONDS };
		},

		async newRefreshToken(sessionId: string) {
			const token = randomToken();
			await this.models.refreshToken.create({ sessionId, tokenHash: hashToken(token), expiresAt: new Date(Date.now() + REFRESH_TOKEN_TTL_MS) });
			return token;
		},

		/** The wanted tenant if the user belongs to it, else their first organization, else none. */
		async pickTenant(ctx: Context, userId: string, wanted?: string | null) {
			const memberships = await this.broker.call<Membership[], object>("tenants.membershipsOf", { userId }, systemCall());
			return memberships.find((item) => item.id === wanted) ?? memberships[0] ?? null;
		},

		/** Ends sessions and tells every gateway node, so their tokens stop working at once. */
		async revokeSessions(where: Record<string, unknown>, reason: string) {
			const [count, rows] = await this.models.session.update({ revokedAt: new Date(), revokedReason: reason }, { where: { ...where, revokedAt: null }, returning: true });
			if (count > 0 && typeof where.userId === "string" && where.id === undefined) broadcastAuthStateChange(this.broker, { userId: where.userId, reason });
			else for (const row of rows) broadcastAuthStateChange(this.broker, { sessionId: row.get("id") as string, reason });
			return count;
		},

		async createOneTimeToken(userId: string, purpose: OneTimePurpose) {
			const token = randomToken();
			await this.models.oneTimeToken.create({ userId, purpose, tokenHash: hashToken(token), expiresAt: new Date(Date.now() + ONE_TIME_TTL_MS[purpose]) });
			return token;
		},

		/** Single use: the token is claimed atomically, so two concurrent uses can't both succeed. */
		async consumeOneTimeToken(token: string, purpose: OneTimePurpose) {
			const [count, rows] = await this.models.oneTimeToken.update(
				{ usedAt: new Date() },
				{ where: { tokenHash: hashToken(token), purpose, usedAt: null, expiresAt: { [Op.gt]: new Date() } }, returning: true },
			);
			if (count === 0) throw new BadRequestError("This link is invalid or has expired", "INVALID_TOKEN");
			return rows[0].get("userId") as string;
		},

		async sendVerificationEmail(user: PublicUser) {
			const token = await this.createOneTimeToken(user.id, "email_verification");
			const link = `${platformConfigOf(this.broker).appUrl}/verify-email?token=${encodeURIComponent(token)}`;
			try {
				// Through notifications, so the user's language applies; it goes by email only, and can't be turned off.
				await this.broker.call("notifications.send", { userId: user.id, type: "account.verify_email", data: { link } }, systemCall());
			} catch (err) {
				// The account exists either way; the user can ask for the email again.
				this.logger.warn(`Verification email to ${user.email} was not sent:`, (err as Error).message);
			}
		},

		async currentUser(ctx: Context<unknown, CallerMeta>) {
			if (!ctx.meta.user) throw new UnauthorizedError("Sign in first", "UNAUTHORIZED");
			return this.broker.call<PublicUser, object>("users.profile", { id: ctx.meta.user.id }, systemCall());
		},
	},

	created() {
		this.keyRing = new KeyRing();
		this.keysLoadedAt = 0;
		this.verifiedTokens = new VerifiedTokens<AccessClaims>();
		this.meAnswers = new WeakMap();
		const { secrets } = platformConfigOf(this.broker);
		this.secretBox = new SecretBox(secrets.key, secrets.previousKeys);
	},

	async started() {
		this.throttle = new LoginThrottle(this.adapter.db, this.models.loginThrottle, this.models.knownAddress, platformConfigOf(this.broker).secrets.key);
		await this.ensureSigningKey();
		await this.resealSigningKeys();
		await this.reloadKeys();
		this.stopBootstrap = startBootstrapAdmin(this.broker, this.logger, (entry) => this.audit(undefined, entry));
	},

	stopped() {
		this.stopBootstrap?.();
	},
};

export default AuthService;
