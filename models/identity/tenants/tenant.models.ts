import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";
import type { TenantRole } from "../../../lib/caller";

export interface TenantRow {
	id: string;
	name: string;
	plan: string;
	/** Flags set on this tenant (services/identity/plans.ts gives the plan's). */
	features: Record<string, boolean>;
	/** Limits set on this tenant, over the plan's. */
	limits: Record<string, number>;
	createdBy: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const TenantModel: ModelDefinition<"tenant", TenantRow, "plan" | "features" | "limits"> = {
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

export interface MembershipRow {
	id: string;
	tenantId: string;
	userId: string;
	role: TenantRole;
	createdAt: Date;
	updatedAt: Date;
}

export const MembershipModel: ModelDefinition<"membership", MembershipRow> = {
	name: "membership",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		userId: { type: DataTypes.UUID, allowNull: false },
		role: { type: DataTypes.STRING(20), allowNull: false },
	},
	options: { tableName: "memberships" },
};

export interface InvitationRow {
	id: string;
	tenantId: string;
	email: string;
	role: TenantRole;
	tokenHash: string;
	invitedBy: string | null;
	expiresAt: Date;
	acceptedAt: Date | null;
	acceptedBy: string | null;
	revokedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const InvitationModel: ModelDefinition<"invitation", InvitationRow> = {
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
