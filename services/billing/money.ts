/**
 * Billing's arithmetic, in one place and without floats: every amount is an integer of minor units, every
 * quantity an integer; products are taken in BigInt and the one rounding rule — half away from zero, once
 * per line — is `divideRounded`. Pure functions: invoices, usage estimates and proration previews all
 * compute through here, so the PDF, the API and the payment agree to the minor unit.
 */
import type { MeteredCharge, PriceTier } from "./contracts";

const DAY_MS = 86_400_000;

/** Largest amount we accept anywhere (well inside Number.MAX_SAFE_INTEGER). */
export const MAX_AMOUNT = 999_999_999_999_999;

function toSafeNumber(value: bigint): number {
	if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
		throw new RangeError(`Amount ${value} is beyond what billing represents exactly`);
	}
	return Number(value);
}

/** numerator / denominator, rounded half away from zero. */
export function divideRounded(numerator: bigint, denominator: bigint): bigint {
	if (denominator <= 0n) throw new RangeError("denominator must be positive");
	const negative = numerator < 0n;
	const magnitude = negative ? -numerator : numerator;
	const rounded = (magnitude * 2n + denominator) / (denominator * 2n);
	return negative ? -rounded : rounded;
}

/** amount × part / whole, rounded once. */
export function share(amount: number, part: number, whole: number): number {
	return toSafeNumber(divideRounded(BigInt(amount) * BigInt(part), BigInt(whole)));
}

/** Whole days between two instants, counting a started day (periods start and end on day boundaries of the tenant's clock). */
export function daysBetween(from: Date, to: Date): number {
	return Math.max(0, Math.ceil((to.getTime() - from.getTime()) / DAY_MS));
}

/**
 * The next period end from `start` for a plan interval: the same day-of-month (or day-of-year) later, clamped
 * to the month's last day (Jan 31 → Feb 28/29 → Mar 31, as Stripe does by anchoring on the first start).
 */
export function addInterval(anchor: Date, interval: "month" | "year", periods = 1): Date {
	const months = interval === "month" ? periods : periods * 12;
	const year = anchor.getUTCFullYear();
	const month = anchor.getUTCMonth() + months;
	const targetYear = year + Math.floor(month / 12);
	const targetMonth = ((month % 12) + 12) % 12;
	const lastDay = new Date(Date.UTC(targetYear, targetMonth + 1, 0)).getUTCDate();
	const day = Math.min(anchor.getUTCDate(), lastDay);
	return new Date(Date.UTC(targetYear, targetMonth, day, anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(), anchor.getUTCMilliseconds()));
}

export interface Proration {
	/** Negative: what the unused part of the old plan is worth. */
	credit: number;
	/** What the rest of the period costs on the new plan. */
	charge: number;
	remainingDays: number;
	periodDays: number;
}

/**
 * An upgrade at `at` within [periodStart, periodEnd): credit for the old plan's unused days, charge for the new
 * plan's remaining days, both to the day (a started day counts as remaining).
 */
export function prorate(oldAmount: number, newAmount: number, periodStart: Date, periodEnd: Date, at: Date): Proration {
	const periodDays = Math.max(1, daysBetween(periodStart, periodEnd));
	const remainingDays = Math.min(periodDays, daysBetween(at, periodEnd));
	return {
		credit: -share(oldAmount, remainingDays, periodDays),
		charge: share(newAmount, remainingDays, periodDays),
		remainingDays,
		periodDays,
	};
}

export interface TierBreakdown {
	upTo: number | null;
	units: number;
	unitAmount: number;
	flatAmount: number;
	amount: number;
}

export interface ChargeAmount {
	quantity: number;
	included: number;
	billable: number;
	amount: number;
	tiers: TierBreakdown[];
}

/** What a period's quantity of one metric costs under its charge. */
export function priceCharge(charge: MeteredCharge, quantity: number): ChargeAmount {
	const included = Math.min(quantity, charge.freeUnits);
	const billable = Math.max(0, quantity - charge.freeUnits);
	const base = { quantity, included, billable };
	switch (charge.model) {
		case "per_unit":
			return { ...base, amount: toSafeNumber(BigInt(billable) * BigInt(charge.unitAmount ?? 0)), tiers: [] };
		case "package": {
			const size = BigInt(charge.packageSize ?? 1);
			const packages = (BigInt(billable) + size - 1n) / size;
			return { ...base, amount: toSafeNumber(packages * BigInt(charge.packageAmount ?? 0)), tiers: [] };
		}
		case "graduated": {
			const tiers = priceTiers(charge.tiers ?? [], billable);
			return { ...base, amount: tiers.reduce((sum, tier) => sum + tier.amount, 0), tiers };
		}
	}
}

/** Graduated pricing: units 1..upTo of the first tier at its price, the next ones at the next tier's, and so on. */
export function priceTiers(tiers: PriceTier[], units: number): TierBreakdown[] {
	const breakdown: TierBreakdown[] = [];
	let floor = 0;
	for (const tier of tiers) {
		if (units <= floor) break;
		const ceiling = tier.upTo ?? Number.POSITIVE_INFINITY;
		const inTier = Math.min(units, ceiling) - floor;
		const amount = toSafeNumber(BigInt(inTier) * BigInt(tier.unitAmount) + BigInt(tier.flatAmount));
		breakdown.push({ upTo: tier.upTo, units: inTier, unitAmount: tier.unitAmount, flatAmount: tier.flatAmount, amount });
		floor = ceiling;
	}
	return breakdown;
}

/** Graduated tiers must ascend and end open (the last `upTo` null), so every quantity has a price. */
export function tiersProblem(tiers: PriceTier[]): string | undefined {
	if (tiers.length === 0) return "graduated pricing needs at least one tier";
	let previous = 0;
	for (const [index, tier] of tiers.entries()) {
		const last = index === tiers.length - 1;
		if (last && tier.upTo !== null) return "the last tier must have upTo: null (no end)";
		if (!last && (tier.upTo === null || tier.upTo <= previous)) return "tiers' upTo must ascend, and only the last may be null";
		previous = tier.upTo ?? previous;
	}
	return undefined;
}

export interface Discount {
	percentOffBasisPoints: number | null;
	amountOff: number | null;
}

/** A coupon's discount on a (non-negative) subtotal: a percentage rounded once, or a fixed amount capped at the subtotal. */
export function discountOn(subtotal: number, coupon: Discount | null | undefined): number {
	if (!coupon || subtotal <= 0) return 0;
	if (coupon.percentOffBasisPoints !== null) return share(subtotal, coupon.percentOffBasisPoints, 10_000);
	return Math.min(subtotal, coupon.amountOff ?? 0);
}

export interface Totals {
	subtotal: number;
	discount: number;
	tax: number;
	total: number;
}

/**
 * Totals of an invoice's lines. Credits can make the subtotal negative; the total is never below zero (what is
 * left over would be a credit balance, which this platform does not carry: the stated rule is that an
 * invoice whose credits exceed its charges totals 0). Exclusive tax is added on top of (subtotal − discount);
 * inclusive tax is the part of it that is tax: amount × rate / (10 000 + rate).
 */
export function invoiceTotals(lineAmounts: number[], coupon: Discount | null | undefined, taxRateBasisPoints: number, taxInclusive: boolean): Totals {
	const subtotal = lineAmounts.reduce((sum, amount) => sum + amount, 0);
	const discount = discountOn(subtotal, coupon);
	const taxable = Math.max(0, subtotal - discount);
	if (taxInclusive) {
		const tax = toSafeNumber(divideRounded(BigInt(taxable) * BigInt(taxRateBasisPoints), BigInt(10_000 + taxRateBasisPoints)));
		return { subtotal, discount, tax, total: taxable };
	}
	const tax = share(taxable, taxRateBasisPoints, 10_000);
	return { subtotal, discount, tax, total: taxable + tax };
}
