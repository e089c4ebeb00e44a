import { describe, expect, it } from "vitest";
import { addInterval, discountOn, divideRounded, invoiceTotals, priceCharge, priceTiers, prorate, tiersProblem } from "../../services/billing/money";

describe("billing money", () => {
	it("rounds half away from zero, once", () => {
		expect(divideRounded(5n, 2n)).toBe(3n);
		expect(divideRounded(-5n, 2n)).toBe(-3n);
		expect(divideRounded(4n, 3n)).toBe(1n);
		expect(divideRounded(1n, 3n)).toBe(0n);
	});

	it("prorates an upgrade to the day", () => {
		const start = new Date("2026-03-01T00:00:00Z");
		const end = new Date("2026-03-31T00:00:00Z");
		// 30-day period, 15 days left: half of each.
		const result = prorate(3000, 9000, start, end, new Date("2026-03-16T00:00:00Z"));
		expect(result).toEqual({ credit: -1500, charge: 4500, remainingDays: 15, periodDays: 30 });
		// A started day counts as remaining.
		expect(prorate(3000, 9000, start, end, new Date("2026-03-16T12:00:00Z")).remainingDays).toBe(15);
		// 10 of 30 days of 1000: 333.33 → 333.
		expect(prorate(1000, 1000, start, end, new Date("2026-03-21T00:00:00Z")).charge).toBe(333);
	});

	it("adds months clamped to the month's last day", () => {
		expect(addInterval(new Date("2026-01-31T10:00:00Z"), "month").toISOString()).toBe("2026-02-28T10:00:00.000Z");
		expect(addInterval(new Date("2026-01-31T10:00:00Z"), "month", 2).toISOString()).toBe("2026-03-31T10:00:00.000Z");
		expect(addInterval(new Date("2028-02-29T00:00:00Z"), "year").toISOString()).toBe("2029-02-28T00:00:00.000Z");
		expect(addInterval(new Date("2026-11-15T00:00:00Z"), "month", 3).toISOString()).toBe("2027-02-15T00:00:00.000Z");
	});

	it("prices per unit, packages and graduated tiers after free units", () => {
		expect(priceCharge({ metric: "m", model: "per_unit", freeUnits: 100, unitAmount: 2 }, 150)).toMatchObject({ included: 100, billable: 50, amount: 100 });
		expect(priceCharge({ metric: "m", model: "package", freeUnits: 0, packageSize: 1000, packageAmount: 500 }, 1001).amount).toBe(1000);
		expect(priceCharge({ metric: "m", model: "package", freeUnits: 0, packageSize: 1000, packageAmount: 500 }, 0).amount).toBe(0);
		const tiers = [
			{ upTo: 1000, unitAmount: 10, flatAmount: 0 },
			{ upTo: 5000, unitAmount: 5, flatAmount: 100 },
			{ upTo: null, unitAmount: 1, flatAmount: 0 },
		];
		expect(priceTiers(tiers, 6000).map((tier) => tier.amount)).toEqual([10_000, 20_100, 1000]);
		expect(priceCharge({ metric: "m", model: "graduated", freeUnits: 0, tiers }, 1000).amount).toBe(10_000);
		expect(tiersProblem(tiers)).toBeUndefined();
		expect(tiersProblem([{ upTo: 10, unitAmount: 1, flatAmount: 0 }])).toMatch(/last tier/);
	});

	it("discounts, taxes and totals exactly", () => {
		expect(discountOn(999, { percentOffBasisPoints: 2500, amountOff: null })).toBe(250);
		expect(discountOn(500, { percentOffBasisPoints: null, amountOff: 800 })).toBe(500);
		expect(invoiceTotals([1000, 999], { percentOffBasisPoints: 1000, amountOff: null }, 2000, false)).toEqual({ subtotal: 1999, discount: 200, tax: 360, total: 2159 });
		expect(invoiceTotals([1200], null, 2000, true)).toEqual({ subtotal: 1200, discount: 0, tax: 200, total: 1200 });
		// Credits beyond the charges: the total is 0, never negative.
		expect(invoiceTotals([-1500, 1000], null, 2000, false)).toEqual({ subtotal: -500, discount: 0, tax: 0, total: 0 });
	});
});
