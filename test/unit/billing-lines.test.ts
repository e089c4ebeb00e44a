/**
 * Invoice lines (services/billing/lines.ts) and the dunning schedule (services/billing/dunning.ts): pure
 * computations over money.ts, checked against amounts worked out by hand.
 */
import { describe, expect, it } from "vitest";
import { completeLines, fixedFeeLine, meteredLines, prorationLines } from "../../services/billing/lines";
import { Dunning } from "../../services/billing/dunning";
import type { PublicPlan } from "../../services/billing/contracts";
import type { InvoiceRow } from "../../services/billing/billing.types";

const DAY = 86_400_000;

function plan(overrides: Partial<PublicPlan>): PublicPlan {
	return {
		id: "00000000-0000-4000-8000-000000000001",
		code: "plan",
		version: 1,
		name: "Plan",
		description: "",
		interval: "month",
		amount: 1000,
		currency: "USD",
		trialDays: 0,
		limits: {},
		features: {},
		charges: [],
		taxRateBasisPoints: null,
		status: "active",
		createdAt: "2026-01-01T00:00:00.000Z",
		...overrides,
	};
}

describe("invoice lines", () => {
	const start = new Date("2026-03-01T00:00:00.000Z");
	const end = new Date("2026-04-01T00:00:00.000Z");

	it("prorates a change to the day: 21 of 31 days left", () => {
		const at = new Date(start.getTime() + 10 * DAY + 5000);
		const [credit, charge] = prorationLines(plan({ name: "Old", amount: 3100 }), plan({ name: "New", amount: 6200 }), start, end, at);
		expect(credit).toMatchObject({ kind: "proration_credit", quantity: 21, amount: -2100, description: "Unused time on Old (21 of 31 days)", periodStart: at, periodEnd: end });
		expect(charge).toMatchObject({ kind: "proration_charge", quantity: 21, amount: 4200, description: "Remaining time on New (21 of 31 days)" });
	});

	it("prices each metered charge, missing usage as 0, with its tiers and free units", () => {
		const metered = plan({
			charges: [
				{ metric: "shots", model: "per_unit", freeUnits: 100, unitAmount: 5 },
				{ metric: "calls", model: "package", freeUnits: 0, packageSize: 1000, packageAmount: 200 },
				{
					metric: "rows",
					model: "graduated",
					freeUnits: 0,
					tiers: [
						{ upTo: 10, unitAmount: 10, flatAmount: 0 },
						{ upTo: null, unitAmount: 1, flatAmount: 50 },
					],
				},
			],
		});
		const lines = meteredLines(metered, { shots: 150, rows: 12 }, [{ code: "shots", name: "Shots", description: "", aggregation: "count", field: null, createdAt: "", updatedAt: "" }], start, end);
		expect(lines.map((line) => [line.metric, line.quantity, line.amount, line.description])).toEqual([
			["shots", 150, 250, "Shots: 150 (100 included)"],
			["calls", 0, 0, "calls: 0"],
			["rows", 12, 152, "rows: 12"],
		]);
		expect(lines[2].details).toMatchObject({ tiers: [{ upTo: 10, units: 10, amount: 100 }, { upTo: null, units: 2, amount: 52 }] });
	});

	it("adds the discount and tax lines after the charges; exclusive tax adds up to the total", () => {
		const { lines, totals } = completeLines([fixedFeeLine(plan({ amount: 2900 }), start, end)], { percentOffBasisPoints: 2500, amountOff: null }, 825, false);
		expect(totals).toEqual({ subtotal: 2900, discount: 725, tax: 179, total: 2354 });
		expect(lines.map((line) => [line.kind, line.amount, line.description])).toEqual([
			["fixed_fee", 2900, "Plan (monthly fee)"],
			["discount", -725, "Discount (25% off)"],
			["tax", 179, "Tax 8.25%"],
		]);
		expect(lines.reduce((sum, line) => sum + line.amount, 0)).toBe(totals.total);
	});

	it("states an inclusive tax without adding it, and leaves out a discount or tax of 0", () => {
		const { lines, totals } = completeLines([fixedFeeLine(plan({ amount: 1200 }), start, end)], null, 2000, true);
		expect(totals).toEqual({ subtotal: 1200, discount: 0, tax: 200, total: 1200 });
		expect(lines.map((line) => [line.kind, line.amount, line.description])).toEqual([
			["fixed_fee", 1200, "Plan (monthly fee)"],
			["tax", 200, "Tax 20% (included)"],
		]);
		expect(completeLines([fixedFeeLine(plan({ amount: 1200 }), start, end)], null, 0, false).lines).toHaveLength(1);
	});

	it("totals 0 when credits exceed the charges", () => {
		const lines = prorationLines(plan({ amount: 9000 }), plan({ amount: 3000 }), start, end, start);
		const { totals } = completeLines(lines, null, 1000, false);
		expect(totals).toEqual({ subtotal: -6000, discount: 0, tax: 0, total: 0 });
	});
});

describe("dunning schedule", () => {
	const nextRetryAt = (Dunning.methods as { nextRetryAt: (invoice: InvoiceRow, failed: number, at: Date) => Date | null }).nextRetryAt.bind({
		billingConfig: { dunningDays: [1, 3, 5, 7] },
	} as never);
	const first = new Date("2026-05-10T12:00:00.000Z");
	const invoice = (next: Date | null) => ({ nextPaymentAttemptAt: next }) as InvoiceRow;

	it("retries 1, 3, 5 and 7 days after the first failure, then no more", () => {
		expect(nextRetryAt(invoice(null), 1, first)).toEqual(new Date(first.getTime() + DAY));
		let next = new Date(first.getTime() + DAY);
		for (const [failed, day] of [
			[2, 3],
			[3, 5],
			[4, 7],
		]) {
			// The retry ran a little late: the schedule keeps to the first failure.
			next = nextRetryAt(invoice(next), failed, new Date(next.getTime() + 90_000))!;
			expect(next).toEqual(new Date(first.getTime() + day * DAY));
		}
		expect(nextRetryAt(invoice(next), 5, next)).toBeNull();
	});

	it("a manual failure between retries moves on to the next day of the schedule, never sooner than an hour away", () => {
		const waiting = new Date(first.getTime() + DAY);
		expect(nextRetryAt(invoice(waiting), 2, new Date(first.getTime() + 12 * 3_600_000))).toEqual(new Date(first.getTime() + 3 * DAY));
		const late = new Date(first.getTime() + 3 * DAY + 600_000);
		expect(nextRetryAt(invoice(waiting), 2, late)).toEqual(new Date(late.getTime() + 3_600_000));
	});
});
