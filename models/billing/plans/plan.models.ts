import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";
import type { Aggregation, CouponDuration, MeteredCharge, PlanInterval, PlanStatus } from "../../../services/billing/contracts";

/** A billable metric: what usage events name, and how a period's events become one quantity. */
export interface MetricRow {
	id: string;
	code: string;
	name: string;
	description: string;
	aggregation: Aggregation;
	field: string | null;
	createdAt: Date | string;
	updatedAt: Date | string;
}

export const MetricModel: ModelDefinition<"metric", MetricRow, "description"> = {
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
export interface PlanRow {
	id: string;
	code: string;
	version: number;
	current: boolean;
	name: string;
	description: string;
	interval: PlanInterval;
	/** BIGINT: node-postgres hands it over as a string. */
	amount: string | number;
	currency: string;
	trialDays: number;
	limits: Record<string, number>;
	features: Record<string, boolean>;
	charges: MeteredCharge[];
	taxRateBasisPoints: number | null;
	status: PlanStatus;
	createdAt: Date | string;
	updatedAt: Date | string;
}

export const PlanModel: ModelDefinition<"plan", PlanRow, "version" | "current" | "description" | "trialDays" | "limits" | "features" | "charges" | "status"> = {
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

export interface CouponRow {
	id: string;
	code: string;
	name: string;
	percentOffBasisPoints: number | null;
	amountOff: string | number | null;
	currency: string | null;
	duration: CouponDuration;
	durationPeriods: number | null;
	maxRedemptions: number | null;
	timesRedeemed: number;
	expiresAt: Date | string | null;
	status: PlanStatus;
	createdAt: Date | string;
	updatedAt: Date | string;
}

export const CouponModel: ModelDefinition<"coupon", CouponRow, "timesRedeemed" | "status"> = {
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
