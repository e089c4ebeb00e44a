/**
 * Sign-in with OpenID Connect providers configured by environment (OIDC_PROVIDERS): the authorization code
 * flow with PKCE, state and nonce (openid-client), then a Lattice session from `auth.issueSession`.
 *
 * A provider account (issuer + subject) is linked to one user. The first sign-in links to the account
 * with the same email only when the provider vouches for that email (`email_verified`); otherwise anyone
 * able to put an address on an account at some provider could take over the Lattice account using it.
 */
import path from "node:path";
import type { Context } from "moleculer";
import { Op } from "sequelize";
import * as oidc from "openid-client";
import { DbMixin, plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AuditMixin, type AuditMixinMethods } from "../../mixins/audit.mixin";
import { IdentityLinkModel, LoginAttemptModel, type LoginAttemptRow } from "../../models/identity/oauth/oauth.models";
import { systemCall, type CallerMeta } from "../../lib/caller";
import type { OidcProviderConfig } from "../../lib/config";
import { BadRequestError, ConflictError, EntityNotFoundError, ForbiddenError, ServiceUnavailableError, UnprocessableEntityError } from "../../lib/errors";
import { hashToken, safeEqual } from "./secrets";
import { serialize as serializeCookie } from "cookie";
import { platformConfigOf } from "../../lib/node";
import { USER_EVENTS, type PublicUser, type TokenSet, type UserDeletedEvent } from "./contracts";
import { apiPath } from "../../lib/api-path";
import { Type } from "../../lib/schema";
import { SignedInSchema } from "./api-schemas";

/** Long enough to sign in at the provider (password, second factor), short enough to bound stale attempts. */
const ATTEMPT_TTL_MS = 10 * 60_000;
/** Binds a sign-in to the browser that started it. */
const STATE_COOKIE = "lattice_oidc_state";
/** Used and expired attempts are kept a day for support questions, then swept. */
const ATTEMPT_RETENTION_MS = 86_400_000;
/** Seconds for each request to a provider: an unreachable one answers 503 before the gateway's timeout. */
const PROVIDER_TIMEOUT_SECONDS = 5;
/** openid-client codes for a response that failed validation (nonce, issuer, audience, expiry, shape). */
const INVALID_RESPONSE_CODES = new Set(["OAUTH_INVALID_RESPONSE", "OAUTH_JWT_CLAIM_COMPARISON_FAILED", "OAUTH_JWT_TIMESTAMP_CHECK_FAILED", "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED"]);

/** Who the provider says signed in. */
interface ProviderIdentity {
	issuer: string;
	subject: string;
	email: string | null;
	emailVerified: boolean;
	name: string | null;
}

interface Membership {
	id: string;
	name: string;
	role: string;
}

interface SessionResult extends TokenSet {
	user: PublicUser;
	tenant: Membership | null;
}

interface AccountResolution {
	user: PublicUser;
	/** The provider account was attached to a Lattice account that existed before this sign-in. */
	linked: boolean;
	/** A Lattice account (and its organization) was created by this sign-in. */
	created: boolean;
}

interface CallbackParams {
	provider: string;
	code?: string;
	state?: string;
	error?: string;
	error_description?: string;
	[key: string]: unknown;
}

interface OAuthMethods {
	clients: Map<string, Promise<oidc.Configuration>>;
	providerConfig(name: string): OidcProviderConfig;
	clientFor(provider: OidcProviderConfig): Promise<oidc.Configuration>;
	createClient(provider: OidcProviderConfig): Promise<oidc.Configuration>;
	startAttempt(ctx: OAuthContext, provider: OidcProviderConfig): Promise<{ location: string; state: string }>;
	stateCookie(provider: OidcProviderConfig, state: string): string;
	claimAttempt(provider: OidcProviderConfig, state: string | undefined): Promise<LoginAttemptRow>;
	finishAtProvider(provider: OidcProviderConfig, attempt: LoginAttemptRow, params: CallbackParams): Promise<ProviderIdentity>;
	resolveAccount(ctx: OAuthContext, provider: OidcProviderConfig, identity: ProviderIdentity, retried?: boolean): Promise<AccountResolution>;
	linkIdentity(provider: OidcProviderConfig, identity: ProviderIdentity, userId: string): Promise<void>;
	linkedUser(provider: OidcProviderConfig, identity: ProviderIdentity): Promise<PublicUser | null>;
	assertActive(user: PublicUser): void;
	providerFailure(provider: OidcProviderConfig, err: unknown): Error;
	sweepAttempts(): Promise<void>;
}

type OAuthContext<P = Record<string, unknown>> = Context<P, CallerMeta>;

function stringClaim(value: unknown): string | null {
	return typeof value === "string" && value.trim() !== "" ? value.trim() : null;
}

/** Some providers send email_verified as the string "true". */
function isTrue(value: unknown): boolean {
	return value === true || value === "true";
}

function isErrorType(err: unknown, type: string): boolean {
	return (err as { type?: unknown } | null)?.type === type;
}

const OAuthService: DbServiceSchema<DbMixinSettings, OAuthMethods & AuditMixinMethods, unknown, typeof IdentityLinkModel, typeof LoginAttemptModel> = {
	name: "oauth",
	mixins: [
		DbMixin({
			schema: "oauth",
			migrations: path.join(__dirname, "../../models/identity/oauth/migrations"),
			model: IdentityLinkModel,
			extraModels: [LoginAttemptModel],
			entityName: "Identity link",
		}),
		AuditMixin,
	],

	settings: {
		rest: "/auth/oauth",
	},

	actions: {
		providers: {
			rest: "GET /providers",
			responses: { 200: { description: "The providers", body: Type.Array(Type.Object({ name: Type.String(), authorizeUrl: Type.String({ format: "uri" }) })) } },
			auth: "public",
			summary: "OpenID Connect providers users can sign in with",
			params: {},
			handler() {
				const { providers, publicUrl } = platformConfigOf(this.broker).oidc;
				return providers.map((provider) => ({ name: provider.name, authorizeUrl: `${publicUrl}${apiPath("auth/oauth")}/${provider.name}/authorize` }));
			},
		},

		authorize: {
			rest: "GET /:provider/authorize",
			responses: { 302: { description: "Redirect to the provider's authorization endpoint", headers: { Location: "The provider's authorization URL" } } },
			errors: { 503: ["OIDC_PROVIDER_UNAVAILABLE"] },
			auth: "public",
			summary: "Start signing in with a provider: redirects the browser to it",
			params: { provider: "string|min:1|max:64" },
			async handler(ctx: OAuthContext<{ provider: string }>) {
				const provider = this.providerConfig(ctx.params.provider);
				const { location, state } = await this.startAttempt(ctx, provider);
				ctx.meta.$statusCode = 302;
				ctx.meta.$location = location;
				// The state also goes into a cookie of this browser: a callback carrying someone else's code
				// and state (login CSRF) arrives without it and is refused.
				ctx.meta.$responseHeaders = { "Cache-Control": "no-store", "Set-Cookie": this.stateCookie(provider, state) };
				return null;
			},
		},

		callback: {
			rest: "GET /:provider/callback",
			responses: { 200: { description: "A Lattice session", body: Type.Composite([SignedInSchema, Type.Object({ provider: Type.String(), linked: Type.Boolean(), created: Type.Boolean() })]) } },
			errors: { 409: ["IDENTITY_ALREADY_LINKED"], 503: ["OIDC_PROVIDER_UNAVAILABLE"] },
			auth: "public",
			summary: "Where the provider sends the browser back: answers a Lattice session",
			description: "`linked` is true when this sign-in attached the provider account to an existing account (same verified email); `created` when it created the account and its organization.",
			cookies: [STATE_COOKIE],
			params: {
				provider: "string|min:1|max:64",
				code: { type: "string", optional: true, max: 4096 },
				state: { type: "string", optional: true, max: 512 },
				error: { type: "string", optional: true, max: 256 },
				error_description: { type: "string", optional: true, max: 1024 },
				error_uri: { type: "string", optional: true, max: 2048 },
				iss: { type: "string", optional: true, max: 2048 },
				// Providers add their own response parameters (session_state, scope, authuser…).
				$$strict: false,
			},
			async handler(ctx: OAuthContext<CallbackParams>) {
				const provider = this.providerConfig(ctx.params.provider);
				try {
					const bound = ctx.meta.cookies?.[STATE_COOKIE];
					if (!ctx.params.state || !bound || !safeEqual(bound, ctx.params.state)) {
						throw new BadRequestError("This sign-in was not started in this browser; start again", "OIDC_INVALID_STATE");
					}
					const attempt = await this.claimAttempt(provider, ctx.params.state);
					const identity = await this.finishAtProvider(provider, attempt, ctx.params);
					const { user, linked, created } = await this.resolveAccount(ctx, provider, identity);
					const session = await this.broker.call<SessionResult, object>(
						"auth.issueSession",
						{ userId: user.id, ...(ctx.meta.ip ? { ip: ctx.meta.ip } : {}), ...(ctx.meta.userAgent ? { userAgent: ctx.meta.userAgent } : {}) },
						systemCall(),
					);
					await this.audit(ctx, { action: "auth.oauth_login", actorId: user.id, actorEmail: user.email, tenantId: session.tenant?.id ?? null, data: { provider: provider.name, linked, created } });
					ctx.meta.$responseHeaders = { "Cache-Control": "no-store" };
					return { ...session, provider: provider.name, linked, created };
				} catch (err) {
					await this.audit(ctx, { action: "auth.oauth_login", outcome: "failure", data: { provider: provider.name, reason: (err as { type?: string }).type ?? (err as Error).name } });
					throw err;
				}
			},
		},
	},

	events: {
		/** A deleted account's provider identities must not sign in as whoever gets its id or email next. */
		[USER_EVENTS.deleted]: {
			params: { userId: "uuid" },
			async handler(ctx: Context<UserDeletedEvent>) {
				await this.models.identityLink.destroy({ where: { userId: ctx.params.userId } }).catch((err: Error) => this.logger.error("Removing identity links failed", err));
			},
		},
	},

	methods: {
		providerConfig(name: string): OidcProviderConfig {
			const provider = platformConfigOf(this.broker).oidc.providers.find((item) => item.name === name);
			// An entity 404: the gateway reports any other NotFoundError as an unmatched route.
			if (!provider) throw new EntityNotFoundError("Sign-in provider", name);
			return provider;
		},

		/**
		 * The provider's client configuration, discovered on first use and kept for the life of this node. A
		 * failed discovery is not kept, so the next sign-in tries again once the provider is back.
		 */
		clientFor(provider: OidcProviderConfig): Promise<oidc.Configuration> {
			let client = this.clients.get(provider.name);
			if (!client) {
				client = this.createClient(provider);
				this.clients.set(provider.name, client);
				client.catch(() => this.clients.delete(provider.name));
			}
			return client;
		},

		async createClient(provider: OidcProviderConfig): Promise<oidc.Configuration> {
			const issuer = new URL(provider.issuer);
			const clientAuth = provider.tokenAuthMethod === "client_secret_post" ? oidc.ClientSecretPost(provider.clientSecret) : oidc.ClientSecretBasic(provider.clientSecret);
			// openid-client refuses plain http. lib/config.ts only accepts an http issuer outside production
			// (local providers such as the one the tests start), and the exception is made for that issuer only.
			const execute = issuer.protocol === "http:" ? [oidc.allowInsecureRequests] : [];
			if (!provider.endpoints) {
				try {
					return await oidc.discovery(issuer, provider.clientId, undefined, clientAuth, { execute, timeout: PROVIDER_TIMEOUT_SECONDS });
				} catch (err) {
					this.logger.warn(`Discovery of the OpenID provider "${provider.name}" at ${provider.issuer} failed:`, (err as Error).message);
					throw new ServiceUnavailableError(`The sign-in provider "${provider.name}" can't be reached right now`, "OIDC_PROVIDER_UNAVAILABLE", { provider: provider.name });
				}
			}
			const { authorization, token, userinfo, jwks } = provider.endpoints;
			const server: oidc.ServerMetadata = {
				issuer: provider.issuer,
				authorization_endpoint: authorization,
				token_endpoint: token,
				...(userinfo ? { userinfo_endpoint: userinfo } : {}),
				...(jwks ? { jwks_uri: jwks } : {}),
			};
			const configuration = new oidc.Configuration(server, provider.clientId, undefined, clientAuth);
			configuration.timeout = PROVIDER_TIMEOUT_SECONDS;
			for (const extension of execute) extension(configuration);
			return configuration;
		},

		/** Records the attempt (PKCE verifier, nonce) under the hash of its state; answers the provider URL. */
		async startAttempt(ctx: OAuthContext, provider: OidcProviderConfig): Promise<{ location: string; state: string }> {
			const client = await this.clientFor(provider);
			const state = oidc.randomState();
			const nonce = oidc.randomNonce();
			const codeVerifier = oidc.randomPKCECodeVerifier();
			const url = oidc.buildAuthorizationUrl(client, {
				redirect_uri: provider.redirectUri,
				scope: provider.scopes.join(" "),
				code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
				code_challenge_method: "S256",
				state,
				nonce,
			});
			await this.models.loginAttempt.create({
				stateHash: hashToken(state),
				provider: provider.name,
				codeVerifier,
				nonce,
				redirectUri: provider.redirectUri,
				ip: ctx.meta.ip ?? null,
				userAgent: ctx.meta.userAgent ?? null,
				expiresAt: new Date(Date.now() + ATTEMPT_TTL_MS),
			});
			// Opportunistic: sign-ins are rare enough that sweeping on each start costs nothing.
			this.sweepAttempts().catch((err: Error) => this.logger.warn("Sweeping old sign-in attempts failed:", err.message));
			return { location: url.href, state };
		},

		stateCookie(provider: OidcProviderConfig, state: string): string {
			return serializeCookie(STATE_COOKIE, state, {
				httpOnly: true,
				secure: provider.redirectUri.startsWith("https:"),
				// Lax: the provider sends the browser back with a top-level GET, which Lax cookies accompany.
				sameSite: "lax",
				path: apiPath("auth/oauth"),
				maxAge: ATTEMPT_TTL_MS / 1000,
			});
		},

		/**
		 * Single use: the attempt is claimed atomically, so a replayed or concurrent callback with the same
		 * state finds nothing. An unknown, expired, used or other provider's state answers the same.
		 */
		async claimAttempt(provider: OidcProviderConfig, state: string | undefined): Promise<LoginAttemptRow> {
			const invalid = () => new BadRequestError("This sign-in link is invalid, was already used or has expired; start again", "OIDC_INVALID_STATE");
			if (!state) throw invalid();
			const [count, rows] = await this.models.loginAttempt.update(
				{ usedAt: new Date() },
				{ where: { stateHash: hashToken(state), provider: provider.name, usedAt: null, expiresAt: { [Op.gt]: new Date() } }, returning: true },
			);
			if (count === 0) throw invalid();
			return rows[0].get({ plain: true });
		},

		/** Exchanges the code (PKCE), validates the ID token (nonce, issuer, audience) and reads the claims. */
		async finishAtProvider(provider: OidcProviderConfig, attempt: LoginAttemptRow, params: CallbackParams): Promise<ProviderIdentity> {
			if (params.error) {
				throw new BadRequestError(`The provider did not sign you in: ${params.error}${params.error_description ? ` (${params.error_description})` : ""}`, "OIDC_AUTHORIZATION_FAILED", {
					provider: provider.name,
					error: params.error,
					errorDescription: params.error_description ?? null,
				});
			}
			if (!params.code) throw new BadRequestError("The provider's answer has no authorization code", "OIDC_CODE_MISSING");
			const client = await this.clientFor(provider);
			// The redirect URI of the attempt, not of the current configuration: the token request must repeat
			// the one the code was issued for. Every response parameter is kept (iss is checked against the issuer).
			const currentUrl = new URL(attempt.redirectUri);
			for (const [key, value] of Object.entries(params)) {
				if (key !== "provider" && typeof value === "string") currentUrl.searchParams.set(key, value);
			}
			try {
				const tokens = await oidc.authorizationCodeGrant(client, currentUrl, {
					pkceCodeVerifier: attempt.codeVerifier,
					// The state was matched to this attempt by claimAttempt; openid-client only needs it present.
					expectedState: currentUrl.searchParams.get("state") ?? undefined,
					expectedNonce: attempt.nonce,
					idTokenExpected: true,
				});
				const claims = tokens.claims();
				if (!claims) throw new BadRequestError("The provider sent no ID token", "OIDC_RESPONSE_INVALID");
				let profile: Record<string, unknown> = claims;
				// Many providers put email and profile claims in the userinfo answer only, not in the ID token.
				if (stringClaim(claims.email) === null && client.serverMetadata().userinfo_endpoint) {
					profile = { ...(await oidc.fetchUserInfo(client, tokens.access_token, claims.sub)) };
				}
				const email = stringClaim(profile.email);
				return {
					issuer: claims.iss,
					subject: claims.sub,
					email: email?.toLowerCase() ?? null,
					emailVerified: email !== null && isTrue(profile.email_verified),
					name: stringClaim(profile.name) ?? stringClaim(claims.name) ?? ([stringClaim(profile.given_name), stringClaim(profile.family_name)].filter(Boolean).join(" ") || null),
				};
			} catch (err) {
				throw this.providerFailure(provider, err);
			}
		},

		/** Existing link, else the account with the same provider-verified email, else a new account. */
		async resolveAccount(ctx: OAuthContext, provider: OidcProviderConfig, identity: ProviderIdentity, retried = false): Promise<AccountResolution> {
			const linkedUser = await this.linkedUser(provider, identity);
			if (linkedUser) {
				this.assertActive(linkedUser);
				return { user: linkedUser, linked: false, created: false };
			}
			if (!identity.email) throw new UnprocessableEntityError("The provider shared no email address; allow Lattice to see it and try again", "OIDC_EMAIL_MISSING");
			// The same answer whether an account with this email exists or not, so it reveals nothing.
			if (!identity.emailVerified) {
				throw new ConflictError("The provider has not verified this email address; verify it there, or sign in with your password", "EMAIL_NOT_VERIFIED_BY_PROVIDER");
			}
			const existing = await this.broker.call<PublicUser | null, object>("users.findByEmail", { email: identity.email }, systemCall());
			if (existing) {
				this.assertActive(existing);
				await this.linkIdentity(provider, identity, existing.id);
				let user = existing;
				if (!existing.emailVerified) {
					// Whoever set this account's password never proved they own the email; the provider just did.
					// Their password and sessions go, so an account registered ahead of the owner can't be kept.
					await this.broker.call("users.clearPassword", { id: existing.id }, systemCall());
					await this.broker.call("auth.revokeAllSessions", { userId: existing.id, reason: "email_claimed_by_provider" }, systemCall());
					user = await this.broker.call<PublicUser, object>("users.markEmailVerified", { id: existing.id }, systemCall());
				}
				await this.audit(ctx, { action: "auth.oauth_linked", actorId: user.id, actorEmail: user.email, targetType: "user", targetId: user.id, data: { provider: provider.name, subject: identity.subject, created: false } });
				return { user, linked: true, created: false };
			}
			let user: PublicUser;
			try {
				user = await this.broker.call<PublicUser, object>(
					"users.createAccount",
					{ email: identity.email, fullName: identity.name ?? identity.email.split("@")[0], emailVerified: true },
					systemCall(),
				);
			} catch (err) {
				// Another sign-in or a registration took the email meanwhile: decide again against that account.
				if (isErrorType(err, "EMAIL_TAKEN") && !retried) return this.resolveAccount(ctx, provider, identity, true);
				throw err;
			}
			const tenant = await this.broker.call<Membership, object>("tenants.createForOwner", { name: `${user.fullName}'s organization`, ownerId: user.id }, systemCall());
			await this.linkIdentity(provider, identity, user.id);
			await this.audit(ctx, { action: "auth.signup", actorId: user.id, actorEmail: user.email, tenantId: tenant.id, targetType: "user", targetId: user.id, data: { provider: provider.name } });
			await this.audit(ctx, { action: "auth.oauth_linked", actorId: user.id, actorEmail: user.email, tenantId: tenant.id, targetType: "user", targetId: user.id, data: { provider: provider.name, subject: identity.subject, created: true } });
			return { user, linked: false, created: true };
		},

		/** The user this provider account signs in as, or null; a link whose account is gone is dropped. */
		async linkedUser(provider: OidcProviderConfig, identity: ProviderIdentity): Promise<PublicUser | null> {
			const link = plainRow(await this.models.identityLink.findOne({ where: { provider: provider.name, subject: identity.subject } }));
			if (!link) return null;
			// Subjects are unique per issuer only: if the provider name now points at another issuer, its
			// subjects are strangers that happen to share an identifier.
			if (link.issuer !== identity.issuer) {
				this.logger.error(`Identity link ${link.id} of provider "${provider.name}" was made with issuer ${link.issuer}, but the provider now answers as ${identity.issuer}`);
				throw new ConflictError("This sign-in provider changed its issuer; ask an administrator", "OIDC_ISSUER_CHANGED");
			}
			try {
				const user = await this.broker.call<PublicUser, object>("users.profile", { id: link.userId }, systemCall());
				await this.models.identityLink.update({ lastLoginAt: new Date(), email: identity.email ?? link.email }, { where: { id: link.id } });
				return user;
			} catch (err) {
				if (!isErrorType(err, "ENTITY_NOT_FOUND")) throw err;
				await this.models.identityLink.destroy({ where: { id: link.id } });
				return null;
			}
		},

		/** Idempotent under concurrent first sign-ins of the same provider account. */
		async linkIdentity(provider: OidcProviderConfig, identity: ProviderIdentity, userId: string): Promise<void> {
			try {
				await this.models.identityLink.create({ provider: provider.name, issuer: identity.issuer, subject: identity.subject, userId, email: identity.email, lastLoginAt: new Date() });
			} catch (err) {
				if ((err as Error).name !== "SequelizeUniqueConstraintError") throw err;
				const current = plainRow(await this.models.identityLink.findOne({ where: { provider: provider.name, subject: identity.subject } }));
				if (current?.userId !== userId) throw new ConflictError("This provider account is already linked to another account", "IDENTITY_ALREADY_LINKED");
			}
		},

		assertActive(user: PublicUser): void {
			if (user.status !== "active") throw new ForbiddenError("This account is suspended", "ACCOUNT_SUSPENDED");
		},

		/** The provider refused the code → 400; the answer failed validation → 400; unreachable or broken → 503. */
		providerFailure(provider: OidcProviderConfig, err: unknown): Error {
			if (err instanceof BadRequestError || err instanceof ServiceUnavailableError) return err;
			if (err instanceof oidc.ResponseBodyError && err.status < 500) {
				return new BadRequestError(`The provider refused the sign-in: ${err.error}`, "OIDC_CODE_REJECTED", { provider: provider.name, error: err.error, errorDescription: err.error_description ?? null });
			}
			if (err instanceof oidc.AuthorizationResponseError) {
				return new BadRequestError(`The provider did not sign you in: ${err.error}`, "OIDC_AUTHORIZATION_FAILED", { provider: provider.name, error: err.error });
			}
			if (err instanceof oidc.ClientError && err.code !== undefined && INVALID_RESPONSE_CODES.has(err.code)) {
				this.logger.warn(`The answer of the OpenID provider "${provider.name}" failed validation:`, err.message);
				return new BadRequestError("The provider's answer failed validation; start again", "OIDC_RESPONSE_INVALID", { provider: provider.name });
			}
			this.logger.warn(`The OpenID provider "${provider.name}" failed:`, (err as Error).message);
			return new ServiceUnavailableError(`The sign-in provider "${provider.name}" can't be reached right now`, "OIDC_PROVIDER_UNAVAILABLE", { provider: provider.name });
		},

		async sweepAttempts(): Promise<void> {
			await this.models.loginAttempt.destroy({ where: { expiresAt: { [Op.lt]: new Date(Date.now() - ATTEMPT_RETENTION_MS) } } });
		},
	},

	created() {
		this.clients = new Map();
	},
};

export default OAuthService;
