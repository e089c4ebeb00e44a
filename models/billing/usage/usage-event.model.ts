import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/**
 * One metered event. (tenant, transactionId) is its identity: a replay is accepted and not counted twice.
 * `value` is an integer (sum and max metrics add or compare it; count metrics ignore it).
 */
export const UsageEventModel: ModelDefinition = {
	name: "usageEvent",
	define: {
		tenantId: { type: DataTypes.UUID, primaryKey: true },
		transactionId: { type: DataTypes.STRING(200), primaryKey: true },
		metric: { type: DataTypes.STRING(64), allowNull: false },
		value: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 1 },
		occurredAt: { type: DataTypes.DATE, allowNull: false },
		properties: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		receivedAt: { type: DataTypes.DATE, allowNull: false },
	},
	options: { tableName: "usage_events", timestamps: false },
};
