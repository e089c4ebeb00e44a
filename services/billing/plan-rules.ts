/**
 * What the plans service accepts and answers: its rows, their public forms, the parameter rules of its
 * actions (fastest-validator; shape mistakes are 400 VALIDATION_ERROR naming the field), and the checks a
 * rule can't express (a charge's pricing model and the fields it needs, graduated tiers, a coupon's discount
 * and duration): those are 400 VALIDATION_ERROR naming the field too, so a client fixes every mistake the same way.
 */
import { BadRequestError } from "../../lib/errors";
import type { CouponRow, MetricRow, PlanRow } from "../../models/billing/plans/plan.models";
import { currencyRule } from "../../lib/currency";
import { MAX_AMOUNT, tiersProblem } from "./money";
import {
	AGGREGATIONS,
	COUPON_CODE_PATTERN,
	COUPON_DURATIONS,
	LIMIT_NAMES,
	METRIC_CODE_PATTERN,
	PLAN_CODE_PATTERN,
	PLAN_INTERVALS,
	PLAN_STATUSES,
	PRICING_MODELS,
	type Aggregation,
	type CouponDuration,
	type MeteredCharge,
	type PriceTier,
	type PublicCoupon,
	type PublicMetric,
	type PublicPlan,
} from "./contracts";

/** Charges a plan may carry, tiers a charge may have, feature flags a plan may name. */
export const MAX_CHARGES = 50;
export const MAX_TIERS = 50;
export const MAX_FEATURES = 100;
/** Quantities (free units, package sizes, tier bounds, hard limits) share the amounts' bound: exact in a double. */
export const MAX_QUANTITY = MAX_AMOUNT;

export type { CouponRow, MetricRow, PlanRow } from "../../models/billing/plans/plan.models";

const iso = (value: Date | string) => new Date(value).toISOString();

export function toPublicMetric(row: MetricRow): PublicMetric {
	return { code: row.code, name: row.name, description: row.description, aggregation: row.aggregation, field: row.field ?? null, createdAt: iso(row.createdAt), updatedAt: iso(row.updatedAt) };
}

export function toPublicPlan(row: PlanRow): PublicPlan {
	return {
		id: row.id,
		code: row.code,
		version: row.version,
		name: row.name,
		description: row.description,
		interval: row.interval,
		amount: Number(row.amount),
		currency: row.currency,
		trialDays: row.trialDays,
		limits: row.limits ?? {},
		features: row.features ?? {},
		charges: row.charges ?? [],
		taxRateBasisPoints: row.taxRateBasisPoints ?? null,
		status: row.status,
		createdAt: iso(row.createdAt),
	};
}

export function toPublicCoupon(row: CouponRow): PublicCoupon {
	return {
		id: row.id,
		code: row.code,
		name: row.name,
		percentOffBasisPoints: row.percentOffBasisPoints ?? null,
		amountOff: row.amountOff === null || row.amountOff === undefined ? null : Number(row.amountOff),
		currency: row.currency ?? null,
		duration: row.duration,
		durationPeriods: row.durationPeriods ?? null,
		maxRedemptions: row.maxRedemptions ?? null,
		timesRedeemed: row.timesRedeemed,
		expiresAt: row.expiresAt ? iso(row.expiresAt) : null,
		status: row.status,
		createdAt: iso(row.createdAt),
	};
}

export interface FieldProblem {
	field: string;
	message: string;
	type: string;
}

/** 400 VALIDATION_ERROR naming each field, as the validator answers its own findings. */
export function invalidFields(problems: FieldProblem[]): BadRequestError {
	return new BadRequestError(problems.map((problem) => problem.message).join("; "), "VALIDATION_ERROR", problems);
}

// --- Parameter rules ---------------------------------------------------------------------------------------

const amountRule = { type: "number", integer: true, min: 0, max: MAX_AMOUNT } as const;
const quantityRule = { type: "number", integer: true, min: 0, max: MAX_QUANTITY } as const;

export const planCodeRule = { type: "string", trim: true, min: 1, max: 64, pattern: PLAN_CODE_PATTERN, messages: { stringPattern: "code must start with a-z and hold only a-z, 0-9, _ and - (64 at most)" } } as const;
export const metricCodeRule = { type: "string", trim: true, min: 1, max: 64, pattern: METRIC_CODE_PATTERN, messages: { stringPattern: "code must start with a-z and hold only a-z, 0-9 and _ (64 at most)" } } as const;
export const couponCodeRule = { type: "string", trim: true, uppercase: true, min: 1, max: 64, pattern: COUPON_CODE_PATTERN, messages: { stringPattern: "code must hold only letters, digits, _ and - (64 at most)" } } as const;
/** A path's code: anything short; a code that can't exist answers 404 like an unknown one. */
export const pathCodeRule = { type: "string", min: 1, max: 64 } as const;
export const nameRule = { type: "string", trim: true, min: 1, max: 200 } as const;
export const descriptionRule = { type: "string", trim: true, max: 10_000 } as const;
export const statusFilterRule = { type: "enum", values: PLAN_STATUSES, optional: true, description: "super admins only; ignored for everyone else (who see active ones)" } as const;

const tierRule = {
	type: "object",
	strict: true,
	props: {
		upTo: { ...quantityRule, min: 1, optional: true, nullable: true, description: "Inclusive; null (or left out) on the last tier: no end." },
		unitAmount: amountRule,
		flatAmount: { ...amountRule, optional: true, default: 0 },
	},
} as const;

const chargeRule = {
	type: "object",
	strict: true,
	props: {
		metric: metricCodeRule,
		model: { type: "enum", values: PRICING_MODELS },
		freeUnits: { ...quantityRule, optional: true, default: 0 },
		unitAmount: { ...amountRule, optional: true },
		packageSize: { ...quantityRule, min: 1, optional: true },
		packageAmount: { ...amountRule, optional: true },
		tiers: { type: "array", max: MAX_TIERS, optional: true, items: tierRule },
		hardLimit: { ...quantityRule, optional: true, nullable: true },
	},
} as const;

/** The fields of a plan a super admin sets; `optional` for PUT (only what is given changes). */
export function planFieldRules(optional: boolean) {
	const maybe = <T extends object>(rule: T) => (optional ? { ...rule, optional: true } : rule);
	return {
		name: maybe(nameRule),
		description: { ...descriptionRule, optional: true, ...(optional ? {} : { default: "" }) },
		interval: maybe({ type: "enum", values: PLAN_INTERVALS }),
		amount: maybe(amountRule),
		currency: maybe(currencyRule),
		trialDays: { type: "number", integer: true, min: 0, max: 730, optional: true, ...(optional ? {} : { default: 0 }) },
		limits: {
			type: "record",
			optional: true,
			key: { type: "enum", values: LIMIT_NAMES, messages: { enumValue: `limits names an unknown limit; the known ones: ${LIMIT_NAMES.join(", ")}` } },
			value: { type: "number", integer: true, min: -1, max: MAX_QUANTITY, description: "-1: unlimited" },
			...(optional ? {} : { default: {} }),
		},
		features: { type: "record", optional: true, key: { type: "string", pattern: /^[a-z][a-zA-Z0-9_.-]{0,63}$/ }, value: { type: "boolean" }, ...(optional ? {} : { default: {} }) },
		charges: { type: "array", max: MAX_CHARGES, optional: true, items: chargeRule, ...(optional ? {} : { default: [] }) },
		taxRateBasisPoints: { type: "number", integer: true, min: 0, max: 10_000, optional: true, nullable: true, description: "1 % = 100; null: the tenant's rate" },
	} as const;
}

export const metricFieldRules = {
	name: nameRule,
	description: { ...descriptionRule, optional: true, default: "" },
	aggregation: { type: "enum", values: AGGREGATIONS },
	field: { type: "string", trim: true, min: 1, max: 64, pattern: /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, optional: true, nullable: true, description: "sum/max: a property summed (null: the event's value); unique_count: the property counted (required); count: none" },
} as const;

export const couponFieldRules = {
	code: couponCodeRule,
	name: nameRule,
	percentOffBasisPoints: { type: "number", integer: true, min: 1, max: 10_000, optional: true, nullable: true, description: "25 % = 2500; or amountOff + currency" },
	amountOff: { ...amountRule, min: 1, optional: true, nullable: true, description: "A fixed discount per invoice, in the currency's minor unit" },
	currency: { ...currencyRule, optional: true, nullable: true },
	duration: { type: "enum", values: COUPON_DURATIONS },
	durationPeriods: { type: "number", integer: true, min: 1, max: 1200, optional: true, nullable: true, description: "repeating: how many billing periods" },
	maxRedemptions: { type: "number", integer: true, min: 1, max: 1_000_000_000, optional: true, nullable: true },
	expiresAt: { type: "date", convert: true, optional: true, nullable: true },
} as const;

// --- Checks beyond the rules -------------------------------------------------------------------------------

export interface ChargeInput {
	metric: string;
	model: MeteredCharge["model"];
	freeUnits?: number;
	unitAmount?: number;
	packageSize?: number;
	packageAmount?: number;
	tiers?: Array<{ upTo?: number | null; unitAmount: number; flatAmount?: number }>;
	hardLimit?: number | null;
}

/** Which fields each pricing model takes (the rest must be left out). */
const MODEL_FIELDS: Record<MeteredCharge["model"], ReadonlyArray<keyof ChargeInput>> = {
	per_unit: ["unitAmount"],
	package: ["packageSize", "packageAmount"],
	graduated: ["tiers"],
};
const PRICE_FIELDS = ["unitAmount", "packageSize", "packageAmount", "tiers"] as const;

/**
 * A plan's charges in their stored form (every field of the model present, nothing else), or 400 naming each
 * mistake: a model's field missing or another model's given, tiers out of order, the same metric twice.
 * Whether each metric exists is the caller's question (it needs the database).
 */
export function normalizeCharges(charges: ChargeInput[]): MeteredCharge[] {
	const problems: FieldProblem[] = [];
	const seen = new Set<string>();
	const normalized = charges.map((charge, index) => {
		const at = `charges[${index}]`;
		if (seen.has(charge.metric)) problems.push({ field: `${at}.metric`, message: `${at}.metric: the metric ${charge.metric} is charged twice`, type: "duplicate" });
		seen.add(charge.metric);
		const wanted = MODEL_FIELDS[charge.model];
		for (const field of PRICE_FIELDS) {
			const given = charge[field] !== undefined;
			if (wanted.includes(field) && !given) problems.push({ field: `${at}.${field}`, message: `${at}.${field} is required with the ${charge.model} model`, type: "required" });
			if (!wanted.includes(field) && given) problems.push({ field: `${at}.${field}`, message: `${at}.${field} doesn't belong to the ${charge.model} model`, type: "forbidden" });
		}
		const tiers: PriceTier[] | undefined = charge.tiers?.map((tier) => ({ upTo: tier.upTo ?? null, unitAmount: tier.unitAmount, flatAmount: tier.flatAmount ?? 0 }));
		if (charge.model === "graduated" && tiers) {
			const problem = tiersProblem(tiers);
			if (problem) problems.push({ field: `${at}.tiers`, message: `${at}.tiers: ${problem}`, type: "tiers" });
		}
		const stored: MeteredCharge = { metric: charge.metric, model: charge.model, freeUnits: charge.freeUnits ?? 0, hardLimit: charge.hardLimit ?? null };
		if (charge.model === "per_unit") stored.unitAmount = charge.unitAmount;
		if (charge.model === "package") Object.assign(stored, { packageSize: charge.packageSize, packageAmount: charge.packageAmount });
		if (charge.model === "graduated") stored.tiers = tiers;
		return stored;
	});
	if (problems.length > 0) throw invalidFields(problems);
	return normalized;
}

/** The charges of the free plan may meter and cap usage but never cost anything: fields that would, named. */
export function pricedFreeCharges(charges: MeteredCharge[]): FieldProblem[] {
	const problems: FieldProblem[] = [];
	charges.forEach((charge, index) => {
		const at = `charges[${index}]`;
		const costs = [
			charge.unitAmount ? `${at}.unitAmount` : undefined,
			charge.packageAmount ? `${at}.packageAmount` : undefined,
			...(charge.tiers ?? []).map((tier, tierIndex) => (tier.unitAmount || tier.flatAmount ? `${at}.tiers[${tierIndex}]` : undefined)),
		].filter((field): field is string => field !== undefined);
		for (const field of costs) problems.push({ field, message: `${field}: the free plan costs nothing`, type: "freePlan" });
	});
	return problems;
}

/** A metric's `field` fits its aggregation: none for count, required for unique_count, optional otherwise. */
export function metricFieldProblem(aggregation: Aggregation, field: string | null | undefined): FieldProblem | undefined {
	if (aggregation === "count" && field) return { field: "field", message: "field: a count metric counts events and takes no field", type: "forbidden" };
	if (aggregation === "unique_count" && !field) return { field: "field", message: "field: a unique_count metric needs the property it counts", type: "required" };
	return undefined;
}

export interface CouponInput {
	percentOffBasisPoints?: number | null;
	amountOff?: number | null;
	currency?: string | null;
	duration: CouponDuration;
	durationPeriods?: number | null;
	expiresAt?: Date | null;
}

/** Percent or a fixed amount with its currency (one of them); periods with `repeating` only; an expiry still ahead. */
export function couponProblems(input: CouponInput, now: Date): FieldProblem[] {
	const problems: FieldProblem[] = [];
	const percent = input.percentOffBasisPoints != null;
	const amount = input.amountOff != null;
	if (percent === amount) problems.push({ field: "percentOffBasisPoints", message: "give either percentOffBasisPoints or amountOff (with currency), not both or neither", type: "oneOf" });
	if (amount && input.currency == null) problems.push({ field: "currency", message: "currency is required with amountOff", type: "required" });
	if (!amount && input.currency != null) problems.push({ field: "currency", message: "currency goes with amountOff only", type: "forbidden" });
	if (input.duration === "repeating" && input.durationPeriods == null) problems.push({ field: "durationPeriods", message: "durationPeriods is required with the repeating duration", type: "required" });
	if (input.duration !== "repeating" && input.durationPeriods != null) problems.push({ field: "durationPeriods", message: `durationPeriods doesn't go with the ${input.duration} duration`, type: "forbidden" });
	if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) problems.push({ field: "expiresAt", message: "expiresAt must be in the future", type: "dateMin" });
	return problems;
}
