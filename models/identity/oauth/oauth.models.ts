import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** One sign-in started at a provider, found again by the hash of its `state` when the browser comes back. */
export interface LoginAttemptRow {
	stateHash: string;
	provider: string;
	codeVerifier: string;
	nonce: string;
	redirectUri: string;
	ip: string | null;
	userAgent: string | null;
	expiresAt: Date;
	usedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const LoginAttemptModel: ModelDefinition<"loginAttempt", LoginAttemptRow> = {
	name: "loginAttempt",
	define: {
		stateHash: { type: DataTypes.STRING(64), primaryKey: true },
		provider: { type: DataTypes.STRING(64), allowNull: false },
		codeVerifier: { type: DataTypes.STRING(128), allowNull: false },
		nonce: { type: DataTypes.STRING(128), allowNull: false },
		redirectUri: { type: DataTypes.STRING(2048), allowNull: false },
		ip: { type: DataTypes.STRING(64), allowNull: true },
		userAgent: { type: DataTypes.STRING(512), allowNull: true },
		expiresAt: { type: DataTypes.DATE, allowNull: false },
		usedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "login_attempts" },
};

/** A provider account (issuer's subject) that signs in as a Lattice user. */
export interface IdentityLinkRow {
	id: string;
	provider: string;
	issuer: string;
	subject: string;
	userId: string;
	email: string | null;
	lastLoginAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const IdentityLinkModel: ModelDefinition<"identityLink", IdentityLinkRow> = {
	name: "identityLink",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		provider: { type: DataTypes.STRING(64), allowNull: false },
		issuer: { type: DataTypes.STRING(2048), allowNull: false },
		subject: { type: DataTypes.STRING(255), allowNull: false },
		userId: { type: DataTypes.UUID, allowNull: false },
		email: { type: DataTypes.STRING(320), allowNull: true },
		lastLoginAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "identity_links" },
};
