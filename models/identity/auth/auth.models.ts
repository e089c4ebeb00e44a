import { DataTypes } from "sequelize";
import type { JWK } from "jose";
import type { ModelDefinition } from "../../../mixins/db.mixin";

export interface SessionRow {
	id: string;
	userId: string;
	tenantId: string | null;
	ip: string | null;
	userAgent: string | null;
	lastUsedAt: Date;
	expiresAt: Date;
	revokedAt: Date | null;
	revokedReason: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const SessionModel: ModelDefinition<"session", SessionRow> = {
	name: "session",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		userId: { type: DataTypes.UUID, allowNull: false },
		tenantId: { type: DataTypes.UUID, allowNull: true },
		ip: { type: DataTypes.STRING(64), allowNull: true },
		userAgent: { type: DataTypes.STRING(512), allowNull: true },
		lastUsedAt: { type: DataTypes.DATE, allowNull: false },
		expiresAt: { type: DataTypes.DATE, allowNull: false },
		revokedAt: { type: DataTypes.DATE, allowNull: true },
		revokedReason: { type: DataTypes.STRING(40), allowNull: true },
	},
	options: { tableName: "sessions" },
};

export interface RefreshTokenRow {
	id: string;
	sessionId: string;
	tokenHash: string;
	usedAt: Date | null;
	expiresAt: Date;
	createdAt: Date;
	updatedAt: Date;
}

export const RefreshTokenModel: ModelDefinition<"refreshToken", RefreshTokenRow> = {
	name: "refreshToken",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		sessionId: { type: DataTypes.UUID, allowNull: false },
		tokenHash: { type: DataTypes.STRING(64), allowNull: false },
		usedAt: { type: DataTypes.DATE, allowNull: true },
		expiresAt: { type: DataTypes.DATE, allowNull: false },
	},
	options: { tableName: "refresh_tokens" },
};

export const ONE_TIME_PURPOSES = ["password_reset", "email_verification"] as const;
export type OneTimePurpose = (typeof ONE_TIME_PURPOSES)[number];

export interface OneTimeTokenRow {
	id: string;
	userId: string;
	purpose: OneTimePurpose;
	tokenHash: string;
	expiresAt: Date;
	usedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const OneTimeTokenModel: ModelDefinition<"oneTimeToken", OneTimeTokenRow> = {
	name: "oneTimeToken",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		userId: { type: DataTypes.UUID, allowNull: false },
		purpose: { type: DataTypes.STRING(32), allowNull: false },
		tokenHash: { type: DataTypes.STRING(64), allowNull: false },
		expiresAt: { type: DataTypes.DATE, allowNull: false },
		usedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "one_time_tokens" },
};

/** What a login throttle counts failures of: an (account, address) pair, an account, an address. */
export const THROTTLE_SCOPES = ["pair", "account", "address"] as const;
export type ThrottleScope = (typeof THROTTLE_SCOPES)[number];

export interface LoginThrottleRow {
	keyHash: string;
	scope: ThrottleScope;
	accountHash: string | null;
	addressHash: string | null;
	failures: number;
	lastFailureAt: Date | null;
	blockedUntil: Date | null;
}

/** Failures of one throttle scope (services/identity/login-throttle.ts); keys are HMACs, never readable. */
export const LoginThrottleModel: ModelDefinition<"loginThrottle", LoginThrottleRow, "failures"> = {
	name: "loginThrottle",
	define: {
		keyHash: { type: DataTypes.STRING(64), primaryKey: true },
		scope: { type: DataTypes.STRING(16), allowNull: false },
		accountHash: { type: DataTypes.STRING(64), allowNull: true },
		addressHash: { type: DataTypes.STRING(64), allowNull: true },
		failures: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		lastFailureAt: { type: DataTypes.DATE, allowNull: true },
		blockedUntil: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "login_throttles", timestamps: false },
};

export interface KnownAddressRow {
	keyHash: string;
	userId: string;
	lastSeenAt: Date;
}

/** An address an account signed in from with its password (an HMAC of both). */
export const KnownAddressModel: ModelDefinition<"knownAddress", KnownAddressRow> = {
	name: "knownAddress",
	define: {
		keyHash: { type: DataTypes.STRING(64), primaryKey: true },
		userId: { type: DataTypes.UUID, allowNull: false },
		lastSeenAt: { type: DataTypes.DATE, allowNull: false },
	},
	options: { tableName: "known_addresses", timestamps: false },
};

export interface SigningKeyRow {
	kid: string;
	algorithm: string;
	/** Sealed with SECRETS_KEY (a string), or a JWK written before sealing (resealed at start). */
	privateJwk: JWK | string;
	publicJwk: JWK;
	status: "active" | "retired";
	createdAt: Date;
	updatedAt: Date;
}

export const SigningKeyModel: ModelDefinition<"signingKey", SigningKeyRow> = {
	name: "signingKey",
	define: {
		kid: { type: DataTypes.STRING(64), primaryKey: true },
		algorithm: { type: DataTypes.STRING(16), allowNull: false },
		privateJwk: { type: DataTypes.JSONB, allowNull: false },
		publicJwk: { type: DataTypes.JSONB, allowNull: false },
		status: { type: DataTypes.STRING(16), allowNull: false },
	},
	options: { tableName: "signing_keys" },
};
