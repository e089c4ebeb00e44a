/** The shapes the auth service (auth.service.ts: sessions and tokens) and its account flows (account-flows.ts) share. */
import type { Context } from "moleculer";
import type { DbMixinSettings, DbServiceSchema } from "../../mixins/db.mixin";
import type { AuditMixinMethods } from "../../mixins/audit.mixin";
import type {
	KnownAddressModel,
	LoginThrottleModel,
	OneTimePurpose,
	OneTimeTokenModel,
	RefreshTokenModel,
	SessionModel,
	SessionRow,
	SigningKeyModel,
} from "../../models/identity/auth/auth.models";
import type { CallerMeta, TenantRole } from "../../lib/caller";
import type { SecretBox } from "../../lib/secret-box";
import type { AccessClaims, KeyRing } from "./access-tokens";
import type { VerifiedTokens } from "./auth-state";
import type { LoginThrottle } from "./login-throttle";
import type { PublicUser, TokenSet } from "./contracts";

/** Sessions (and the refresh tokens of each) outlive the access tokens they mint by this long. */
export const REFRESH_TOKEN_TTL_MS = 30 * 86_400_000;

export type { SessionRow } from "../../models/identity/auth/auth.models";

export interface Membership {
	id: string;
	name: string;
	role: TenantRole;
}

export interface AuthMethods {
	keyRing: KeyRing;
	keysLoadedAt: number;
	keysLoading?: Promise<void>;
	verifiedTokens: VerifiedTokens<AccessClaims>;
	/** The last /auth/me answer per profile object (see the `me` action in account-flows.ts). */
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
	stopBootstrap?: () => void;
	currentUser(ctx: Context<unknown, CallerMeta>): Promise<PublicUser>;
}

/** An /auth/me answer and what it was built from. */
export interface MeAnswer {
	memberships: Membership[];
	tenantId: string | null;
	answer: Readonly<{ user: PublicUser; tenant: Membership | null; role: TenantRole | null; persona: PublicUser["persona"]; memberships: Membership[] }>;
}

/** The account flows' own methods (account-flows.ts). */
export interface AccountFlowMethods {
	createOneTimeToken(userId: string, purpose: OneTimePurpose): Promise<string>;
	consumeOneTimeToken(token: string, purpose: OneTimePurpose): Promise<string>;
	sendVerificationEmail(user: PublicUser): Promise<void>;
}

/** `this` in the auth service and its mixins. */
export type AuthServiceSchema = DbServiceSchema<
	DbMixinSettings,
	AuthMethods & AccountFlowMethods & AuditMixinMethods,
	unknown,
	typeof SessionModel,
	typeof RefreshTokenModel | typeof OneTimeTokenModel | typeof LoginThrottleModel | typeof KnownAddressModel | typeof SigningKeyModel
>;

export type AuthContext<P = Record<string, unknown>> = Context<P, CallerMeta>;
