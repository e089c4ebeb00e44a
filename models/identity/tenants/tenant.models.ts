import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

export const TenantModel: ModelDefinition = {
	name: "tenant",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		name: { type: DataTypes.STRING(200), allowNull: false },
		plan: { type: DataTypes.STRING(40), allowNull: false, defaultValue: "free" },
		features: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		limits: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		createdBy: { type: DataTypes.UUID, allowNull: true },
	},
	options: { tableName: "tenants" },
};

export const MembershipModel: ModelDefinition = {
	name: "membership",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		userId: { type: DataTypes.UUID, allowNull: false },
		role: { type: DataTypes.STRING(20), allowNull: false },
	},
	options: { tableName: "memberships" },
};

export const InvitationModel: ModelDefinition = {
	name: "invitation",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		email: { type: DataTypes.STRING(320), allowNull: false },
		role: { type: DataTypes.STRING(20), allowNull: false },
		tokenHash: { type: DataTypes.STRING(64), allowNull: false },
		invitedBy: { type: DataTypes.UUID, allowNull: true },
		expiresAt: { type: DataTypes.DATE, allowNull: false },
		acceptedAt: { type: DataTypes.DATE, allowNull: true },
		acceptedBy: { type: DataTypes.UUID, allowNull: true },
		revokedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "invitations" },
};
