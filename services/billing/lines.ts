/**
 * An invoice's lines, built from plans, periods and usage quantities: pure functions over money.ts, so an
 * invoice, a preview and a test compute the same amounts. The lines of charges come first (fixed fee,
 * prorations, metered usage), then the coupon's discount and the tax, each a line of its own.
 *
 * Lines add up to the total when tax is exclusive. An inclusive tax line states the tax the total already
 * contains (it is not added again); and credits larger than the charges leave a total of 0 (money.ts's
 * stated rule), which the lines then add up to less than.
 */
import type { MeteredCharge, PublicMetric, PublicPlan } from "./contracts";
import { invoiceTotals, priceCharge, prorate, type Totals } from "./money";
import type { CouponTerms, LineInput } from "./billing.types";

function planDetails(plan: PublicPlan): Record<string, unknown> {
	return { planId: plan.id, planCode: plan.code, planVersion: plan.version, interval: plan.interval };
}

/** The plan's fixed fee for one period, in advance. */
export function fixedFeeLine(plan: PublicPlan, start: Date, end: Date): LineInput {
	return {
		kind: "fixed_fee",
		description: `${plan.name} (${plan.interval === "month" ? "monthly" : "yearly"} fee)`,
		metric: null,
		quantity: 1,
		amount: plan.amount,
		periodStart: start,
		periodEnd: end,
		details: planDetails(plan),
	};
}

/**
 * A plan change at `at` within [start, end): credit for the old plan's unused days, charge for the new plan's
 * remaining days, to the day (money.prorate; a started day counts as remaining).
 */
export function prorationLines(oldPlan: PublicPlan, newPlan: PublicPlan, start: Date, end: Date, at: Date): LineInput[] {
	const proration = prorate(oldPlan.amount, newPlan.amount, start, end, at);
	const days = `${proration.remainingDays} of ${proration.periodDays} days`;
	const common = { metric: null, quantity: proration.remainingDays, periodStart: at, periodEnd: end };
	return [
		{
			...common,
			kind: "proration_credit",
			description: `Unused time on ${oldPlan.name} (${days})`,
			amount: proration.credit,
			details: { ...planDetails(oldPlan), fullAmount: oldPlan.amount, remainingDays: proration.remainingDays, periodDays: proration.periodDays },
		},
		{
			...common,
			kind: "proration_charge",
			description: `Remaining time on ${newPlan.name} (${days})`,
			amount: proration.charge,
			details: { ...planDetails(newPlan), fullAmount: newPlan.amount, remainingDays: proration.remainingDays, periodDays: proration.periodDays },
		},
	];
}

function chargeTerms(charge: MeteredCharge): Record<string, unknown> {
	switch (charge.model) {
		case "per_unit":
			return { unitAmount: charge.unitAmount ?? 0 };
		case "package":
			return { packageSize: charge.packageSize ?? 1, packageAmount: charge.packageAmount ?? 0 };
		case "graduated":
			return {};
	}
}

/** One line per metered charge of the plan, for the period's quantities (a metric without usage is 0). */
export function meteredLines(plan: PublicPlan, quantities: Record<string, number>, metrics: PublicMetric[], start: Date, end: Date): LineInput[] {
	const names = new Map(metrics.map((metric) => [metric.code, metric.name]));
	return plan.charges.map((charge) => {
		const quantity = quantities[charge.metric] ?? 0;
		const priced = priceCharge(charge, quantity);
		const name = names.get(charge.metric) ?? charge.metric;
		return {
			kind: "metered",
			description: priced.included > 0 ? `${name}: ${quantity} (${priced.included} included)` : `${name}: ${quantity}`,
			metric: charge.metric,
			quantity,
			amount: priced.amount,
			periodStart: start,
			periodEnd: end,
			details: {
				model: charge.model,
				freeUnits: charge.freeUnits,
				included: priced.included,
				billable: priced.billable,
				...chargeTerms(charge),
				tiers: priced.tiers,
			},
		};
	});
}

function percent(basisPoints: number): string {
	return `${basisPoints / 100}%`;
}

/** The charge lines with the discount and tax lines after them, and the invoice's totals (money.invoiceTotals). */
export function completeLines(charges: LineInput[], coupon: CouponTerms | null, taxRateBasisPoints: number, taxInclusive: boolean): { lines: LineInput[]; totals: Totals } {
	const totals = invoiceTotals(
		charges.map((line) => line.amount),
		coupon,
		taxRateBasisPoints,
		taxInclusive,
	);
	const lines = [...charges];
	if (totals.discount > 0 && coupon) {
		lines.push({
			kind: "discount",
			description: coupon.percentOffBasisPoints !== null ? `Discount (${percent(coupon.percentOffBasisPoints)} off)` : "Discount",
			metric: null,
			quantity: 1,
			amount: -totals.discount,
			periodStart: null,
			periodEnd: null,
			details: { percentOffBasisPoints: coupon.percentOffBasisPoints, amountOff: coupon.amountOff },
		});
	}
	if (totals.tax > 0) {
		lines.push({
			kind: "tax",
			description: `Tax ${percent(taxRateBasisPoints)}${taxInclusive ? " (included)" : ""}`,
			metric: null,
			quantity: 1,
			amount: totals.tax,
			periodStart: null,
			periodEnd: null,
			details: { rateBasisPoints: taxRateBasisPoints, inclusive: taxInclusive },
		});
	}
	return { lines, totals };
}
