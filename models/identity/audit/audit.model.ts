import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** One audit entry: who did what, with which outcome, to which target, from where. */
export interface AuditEntryRow {
	id: string;
	action: string;
	outcome: "success" | "failure";
	actorId: string | null;
	actorEmail: string | null;
	/** The tenant the entry belongs to; null for account-level events (sign-ins, failed logins). */
	tenantId: string | null;
	targetType: string | null;
	targetId: string | null;
	ip: string | null;
	userAgent: string | null;
	data: Record<string, unknown> | null;
	createdAt: Date;
	updatedAt: Date;
}

export const AuditEntryModel: ModelDefinition<"auditEntry", AuditEntryRow> = {
	name: "auditEntry",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		action: { type: DataTypes.STRING(64), allowNull: false },
		outcome: { type: DataTypes.STRING(16), allowNull: false },
		actorId: { type: DataTypes.UUID, allowNull: true },
		actorEmail: { type: DataTypes.STRING(320), allowNull: true },
		tenantId: { type: DataTypes.UUID, allowNull: true },
		targetType: { type: DataTypes.STRING(40), allowNull: true },
		targetId: { type: DataTypes.STRING(64), allowNull: true },
		ip: { type: DataTypes.STRING(64), allowNull: true },
		userAgent: { type: DataTypes.STRING(512), allowNull: true },
		data: { type: DataTypes.JSONB, allowNull: true },
	},
	options: { tableName: "audit_log" },
};
