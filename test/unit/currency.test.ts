/**
 * Issue 11, finding 9 (currency): the one currency rule and ISO 4217's minor units (lib/currency.ts).
 */
import { describe, expect, it } from "vitest";
import Validator from "fastest-validator";
import { CURRENCY_CODES, currencyRule, formatMoney, isCurrencyCode, minorUnitDigits } from "../../lib/currency";

describe("currencies", () => {
	it("finding 9: the currency rule takes ISO 4217 codes of currencies in use, in any case, and answers them upper case", () => {
		const check = new Validator().compile({ currency: currencyRule });
		for (const [given, stored] of [["EUR", "EUR"], ["eur", "EUR"], [" jpy ", "JPY"], ["kwd", "KWD"]]) {
			const params = { currency: given };
			expect(check(params), given).toBe(true);
			expect(params.currency).toBe(stored);
		}
		for (const given of ["XYZ", "ABC", "EURO", "EU", "", "XAU", "XTS", "XXX", "DEM", "XDR", 978, null]) {
			const result = check({ currency: given });
			expect(result, String(given)).not.toBe(true);
			expect((result as Array<{ field: string }>)[0].field).toBe("currency");
		}
		expect(CURRENCY_CODES.length).toBeGreaterThan(150);
		expect(CURRENCY_CODES.every((code) => /^[A-Z]{3}$/.test(code) && isCurrencyCode(code))).toBe(true);
	});

	it("finding 9: amounts are minor units with ISO 4217's exponent, not ICU's display digits", () => {
		expect([minorUnitDigits("JPY"), minorUnitDigits("EUR"), minorUnitDigits("KWD"), minorUnitDigits("usd")]).toEqual([0, 2, 3, 2]);
		// ICU shows these with fewer decimals than ISO 4217 gives their minor unit.
		expect([minorUnitDigits("HUF"), minorUnitDigits("IDR"), minorUnitDigits("IQD")]).toEqual([2, 2, 3]);
		// ICU separates a code from the amount with a no-break space.
		const format = (amount: number, currency: string) => formatMoney(amount, currency).replace(/\s/gu, " ");
		expect(format(1250, "EUR")).toBe("€12.50");
		expect(format(500, "JPY")).toBe("¥500");
		expect(format(5000, "KWD")).toBe("KWD 5.000");
		expect(format(100_000, "HUF")).toBe("HUF 1,000.00");
	});
});
