/**
 * Sessions and tokens: login with throttling, short-lived access tokens (ES256 JWT with a kid, signing keys
 * sealed at rest and rotated) and opaque, single-use, rotating refresh tokens whose reuse revokes the whole
 * session. Also the gateway's `resolveCredentials`, so every request's caller is checked against current
 * account state. The account flows (sign-up, passwords, email verification, persona, tenant switch, me) are
 * the mixin account-flows.ts; both answer as `auth.*`.
 */
import path from "node:path";
import { Op, QueryTypes } from "sequelize";
import type { JWK } from "jose";
import type { Context } from "moleculer";
import { DbMixin, plainRow } from "../../mixins/db.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { SessionModel, RefreshTokenModel, OneTimeTokenModel, LoginThrottleModel, KnownAddressModel, SigningKeyModel } from "../../models/identity/auth/auth.models";
import { ACCESS_TOKEN_TTL_SECONDS, KeyRing, generateSigningKey, openPrivateJwk, peekKid, sealPrivateJwk, type AccessClaims } from "./access-tokens";
import { credentialHash } from "../../lib/gateway/caller-cache";
import { VerifiedTokens, broadcastAuthStateChange } from "./auth-state";
import { SecretBox } from "../../lib/secret-box";
import { LoginThrottle } from "./login-throttle";
import { hashToken, randomToken } from "./secrets";
import { systemCall, type CallerMeta, type Persona, type TenantRole } from "../../lib/caller";
import { BadRequestError, EntityNotFoundError, ForbiddenError, TooManyRequestsError, UnauthorizedError } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import { startBootstrapAdmin } from "./bootstrap-admin";
import { AUTH_EVENTS, USER_EVENTS, type PublicUser, type SigningKeysRotatedEvent, type TokenSet, type UserDeletedEvent, type UserStatusChangedEvent } from "./contracts";
import { AccountFlows } from "./account-flows";
import { REFRESH_TOKEN_TTL_MS, type AuthContext, type AuthServiceSchema, type Membership, type SessionRow } from "./auth.types";
import { Type } from "../../lib/schema";
import { JwksSchema, SessionSchema, SignedInSchema, TenantTokensSchema } from "./api-schemas";

/** Two requests refreshing with the same token at once (two tabs) must not log the user out. */
const REUSE_GRACE_MS = 10_000;
/** A token naming a key this node doesn't know reloads the key ring at most this often (rotations also broadcast). */
const KEY_RELOAD_INTERVAL_MS = 5_000;

const AuthService: AuthServiceSchema = {
	name: "auth",
	mixins: [
		DbMixin({
			schema: "auth",
			migrations: path.join(__dirname, "../../models/identity/auth/migrations"),
			model: SessionModel,
			extraModels: [RefreshTokenModel, OneTimeTokenModel, LoginThrottleModel, KnownAddressModel, SigningKeyModel],
			// A session is its user's alone: nobody else lists or ends it, super admins included.
			owner: { owner: "user", seesAll: "nobody" },
			entityName: "Session",
		}),
		AuditMixin,
		AccountFlows,
	],

	actions: {

		login: {
			rest: "POST /login",
			summary: "Sign in with email and password",
			responses: { 200: { description: "A session", body: SignedInSchema } },
			errors: { 401: ["INVALID_CREDENTIALS"], 403: ["ACCOUNT_SUSPENDED"], 429: ["LOGIN_THROTTLED", "RATE_LIMITED"] },
			auth: "public",
			params: { email: "string|trim|min:3|max:320", password: "string|min:1|max:1024" },
			async handler(ctx: AuthContext<{ email: string; password: string }>) {
				// Claimed before the password is checked (services/identity/login-throttle.ts); the same answer whether the account exists or not.
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
			summary: "Exchange a refresh token for new tokens",
			responses: { 200: { description: "New tokens (the refresh token rotates)", body: TenantTokensSchema } },
			errors: { 401: ["INVALID_REFRESH_TOKEN"] },
			auth: "public",
			params: { refreshToken: "string|min:20|max:200" },
			async handler(ctx: AuthContext<{ refreshToken: string }>) {
				const invalid = () => new UnauthorizedError("The refresh token is invalid or expired", "INVALID_REFRESH_TOKEN");
				const tokenHash = hashToken(ctx.params.refreshToken);
				const row = plainRow(await this.models.refreshToken.findOne({ where: { tokenHash } }));
				if (!row) throw invalid();
				const session = plainRow(await this.models.session.findByPk(row.sessionId));
				if (!session || session.revokedAt || new Date(session.expiresAt) < new Date() || new Date(row.expiresAt) < new Date()) throw invalid();
				// Single use: claim the token atomically; a second claim means it was used before.
				const [claimed] = await this.models.refreshToken.update({ usedAt: new Date() }, { where: { id: row.id, usedAt: null } });
				if (claimed === 0) {
					const usedAt = plainRow(await this.models.refreshToken.findByPk(row.id))?.usedAt;
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
			summary: "End the current session",
			responses: { 204: "The session has ended" },
			auth: "public",
			params: { refreshToken: "string|min:20|max:200" },
			async handler(ctx: AuthContext<{ refreshToken: string }>) {
				const row = await this.models.refreshToken.findOne({ where: { tokenHash: hashToken(ctx.params.refreshToken) } });
				if (row) {
					const { sessionId } = row.get({ plain: true });
					await this.revokeSessions({ id: sessionId }, "logout");
					await this.audit(ctx, { action: "auth.logout", targetType: "session", targetId: sessionId });
				}
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		sessions: {
			rest: "GET /sessions",
			summary: "The caller's active sessions",
			responses: { 200: { description: "The caller's active sessions, most recently used first", body: Type.Array(SessionSchema) } },
			params: {},
			async handler(ctx: AuthContext) {
				await this.currentUser(ctx);
				const rows = await this.scoped(ctx).findAll({ revokedAt: null, expiresAt: { [Op.gt]: new Date() } }, { order: [["lastUsedAt", "DESC"]] });
				return rows.map((session) => {
					return { id: session.id, tenantId: session.tenantId, ip: session.ip, userAgent: session.userAgent, createdAt: session.createdAt, lastUsedAt: session.lastUsedAt, current: session.id === ctx.meta.sessionId };
				});
			},
		},

		revokeSession: {
			rest: "DELETE /sessions/:id",
			summary: "End one of the caller's sessions",
			responses: { 204: "The session has ended" },
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









		clearThrottle: {
			rest: "DELETE /throttles",
			responses: { 200: { description: "How many waits were lifted", body: Type.Object({ cleared: Type.Integer({ minimum: 0 }) }) } },
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
			responses: { 200: { description: "The JSON Web Key Set", body: JwksSchema } },
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
			summary: "Start signing access tokens with a new key (super admins)",
			responses: { 200: { description: "The new signing key's id", body: Type.Object({ kid: Type.String() }) } },
			permissions: ["super_admin"],
			params: {},
			async handler(ctx: AuthContext) {
				const key = await generateSigningKey();
				await this.adapter.db.transaction(async (transaction) => {
					await this.models.signingKey.update({ status: "retired" }, { where: { status: "active" }, transaction });
					await this.models.signingKey.create({ ...key, privateJwk: sealPrivateJwk(this.secretBox, key.kid, key.privateJwk) }, { transaction });
				});
				this.broker.broadcast<SigningKeysRotatedEvent>(AUTH_EVENTS.signingKeysRotated, { kid: key.kid });
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
		[AUTH_EVENTS.signingKeysRotated]: {
			async handler() {
				await this.reloadKeys().catch((err: Error) => this.logger.warn("Reloading signing keys failed", err));
			},
		},
		[USER_EVENTS.deleted]: {
			params: { userId: "uuid" },
			async handler(ctx: Context<UserDeletedEvent>) {
				await this.revokeSessions({ userId: ctx.params.userId }, "account_deleted").catch((err: Error) => this.logger.error("Revoking sessions failed", err));
				await this.throttle.forgetUser(ctx.params.userId).catch((err: Error) => this.logger.error("Forgetting known addresses failed", err));
			},
		},
		[USER_EVENTS.statusChanged]: {
			params: { userId: "uuid", status: "string" },
			async handler(ctx: Context<UserStatusChangedEvent>) {
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
				const key = row.get({ plain: true });
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
			).get({ plain: true });
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
			else for (const row of rows) broadcastAuthStateChange(this.broker, { sessionId: row.get({ plain: true }).id, reason });
			return count;
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
