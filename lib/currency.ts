/**
 * Currencies: the one definition every action parameter named `currency` uses, so a code is judged the same
 * way everywhere (catalog products and their filter today; anything that takes a currency tomorrow).
 *
 * The list is Node's own (`Intl.supportedValuesOf("currency")`, ICU/CLDR, kept current with each Node
 * release): the ISO 4217 codes of currencies in use, without test, fund or precious-metal codes (`XTS`,
 * `XXX`, `XAU`) or withdrawn ones (`DEM`), and here without the two that have no minor unit (`XDR`, `XSU`). A code is trimmed and upper-cased before it is judged, so `eur`
 * is taken as `EUR` (Stripe writes codes in lower case; ISO 4217 in upper case, which is what is stored and
 * answered). Anything else answers 400 VALIDATION_ERROR naming the field.
 *
 * Amounts are integers in the currency's minor unit, whose exponent differs by currency: JPY has none
 * (¥500 is 500), EUR two (€5.00 is 500), KWD three (5.000 KD is 5000). `minorUnitDigits` answers ISO 4217's
 * exponent, and `formatMoney` writes an amount with it.
 */

/**
 * ISO 4217's minor-unit exponent where it isn't 2 (ISO 4217 list one). Not ICU's: `Intl.NumberFormat` gives
 * CLDR's display digits, which differ for a dozen currencies (HUF, IDR, COP, PKR show 0 decimals, IQD 0,
 * though ISO 4217 gives them 2, 2, 2, 2 and 3).
 */
const EXPONENT: Readonly<Record<string, number>> = {
	...Object.fromEntries(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"].map((code) => [code, 0])),
	...Object.fromEntries(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"].map((code) => [code, 3])),
	CLF: 4,
	UYW: 4,
};

/** Codes ISO 4217 gives no minor unit (units of account: the IMF's SDR, the Sucre): no integer amount means anything. */
const NO_MINOR_UNIT = new Set(["XDR", "XSU"]);

/** ISO 4217 codes of the currencies in use, upper case, sorted. */
export const CURRENCY_CODES: readonly string[] = Object.freeze(Intl.supportedValuesOf("currency").filter((code) => !NO_MINOR_UNIT.has(code)));

const KNOWN = new Set(CURRENCY_CODES);

const MESSAGE = "currency must be an ISO 4217 code of a currency in use, such as EUR, USD or JPY";

/**
 * The validator rule of a `currency` parameter (fastest-validator): spread it and add `optional: true` where
 * the field may be left out.
 */
export const currencyRule = {
	type: "string",
	trim: true,
	uppercase: true,
	enum: CURRENCY_CODES as string[],
	description: "An ISO 4217 currency code; any case (eur is taken as EUR), answered in upper case.",
	messages: { stringEnum: MESSAGE, string: MESSAGE },
} as const;

export function isCurrencyCode(code: unknown): code is string {
	return typeof code === "string" && KNOWN.has(code);
}

/** ISO 4217's minor-unit exponent: digits after the decimal point (JPY 0, EUR 2, KWD 3). */
export function minorUnitDigits(currency: string): number {
	return EXPONENT[currency.toUpperCase()] ?? 2;
}

/** "€12.50" from integer minor units, with the currency's own exponent ("¥500", "KWD 5.000"). */
export function formatMoney(minorUnits: number, currency: string, locale = "en"): string {
	const digits = minorUnitDigits(currency);
	const format = new Intl.NumberFormat(locale, { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
	return format.format(Number(minorUnits) / 10 ** digits);
}
