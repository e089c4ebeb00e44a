import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** A billable metric: what usage events name, and how a period's events become one quantity. */
export const MetricModel: ModelDefinition = {
	name: "metric",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		code: { type: DataTypes.STRING(64), allowNull: false },
		name: { type: DataTypes.STRING(200), allowNull: false },
		description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
		aggregation: { type: DataTypes.STRING(20), allowNull: false },
		field: { type: DataTypes.STRING(64), allowNull: true },
	},
	options: { tableName: "metrics" },
};

/**
 * One version of a plan. A change to what it costs inserts a new version (same code, version + 1, `current`
 * moves to it); subscriptions point at the version they run on, so a price change never touches them.
 */
export const PlanModel: ModelDefinition = {
	name: "plan",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		code: { type: DataTypes.STRING(64), allowNull: false },
		version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
		current: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
		name: { type: DataTypes.STRING(200), allowNull: false },
		description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
		interval: { type: DataTypes.STRING(10), allowNull: false },
		amount: { type: DataTypes.BIGINT, allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		trialDays: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		limits: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		features: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		charges: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
		taxRateBasisPoints: { type: DataTypes.INTEGER, allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "active" },
	},
	options: { tableName: "plans" },
};

export const CouponModel: ModelDefinition = {
	name: "coupon",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		code: { type: DataTypes.STRING(64), allowNull: false },
		name: { type: DataTypes.STRING(200), allowNull: false },
		percentOffBasisPoints: { type: DataTypes.INTEGER, allowNull: true },
		amountOff: { type: DataTypes.BIGINT, allowNull: true },
		currency: { type: DataTypes.CHAR(3), allowNull: true },
		duration: { type: DataTypes.STRING(20), allowNull: false },
		durationPeriods: { type: DataTypes.INTEGER, allowNull: true },
		maxRedemptions: { type: DataTypes.INTEGER, allowNull: true },
		timesRedeemed: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		expiresAt: { type: DataTypes.DATE, allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "active" },
	},
	options: { tableName: "coupons" },
};
