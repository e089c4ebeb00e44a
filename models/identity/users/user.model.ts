import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";
import type { Persona } from "../../../lib/caller";

export const USER_STATUSES = ["active", "suspended", "deleted"] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

export interface UserRow {
	id: string;
	email: string;
	/** argon2id; null for accounts that sign in only through a provider. Never leaves the users service. */
	passwordHash: string | null;
	fullName: string;
	phone: string | null;
	address: Record<string, unknown> | null;
	persona: Persona;
	status: UserStatus;
	emailVerifiedAt: Date | null;
	lastLoginAt: Date | null;
	passwordChangedAt: Date | null;
	deletedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const UserModel: ModelDefinition<"user", UserRow, "persona" | "status"> = {
	name: "user",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		email: { type: DataTypes.STRING(320), allowNull: false },
		passwordHash: { type: DataTypes.STRING(255), allowNull: true },
		fullName: { type: DataTypes.STRING(200), allowNull: false },
		phone: { type: DataTypes.STRING(40), allowNull: true },
		address: { type: DataTypes.JSONB, allowNull: true },
		persona: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "end_user" },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "active" },
		emailVerifiedAt: { type: DataTypes.DATE, allowNull: true },
		lastLoginAt: { type: DataTypes.DATE, allowNull: true },
		passwordChangedAt: { type: DataTypes.DATE, allowNull: true },
		deletedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "users" },
};
