import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** One audit entry: who did what, with which outcome, to which target, from where. */
export const AuditEntryModel: ModelDefinition = {
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
