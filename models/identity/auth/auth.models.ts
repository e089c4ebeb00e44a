import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

export const SessionModel: ModelDefinition = {
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

export const RefreshTokenModel: ModelDefinition = {
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

export const OneTimeTokenModel: ModelDefinition = {
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

export const LoginFailureModel: ModelDefinition = {
	name: "loginFailure",
	define: {
		id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
		throttleKey: { type: DataTypes.STRING(400), allowNull: false },
		failedAt: { type: DataTypes.DATE, allowNull: false },
	},
	options: { tableName: "login_failures", timestamps: false },
};

export const SigningKeyModel: ModelDefinition = {
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
