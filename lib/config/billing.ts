/**
 * The billing domain's configuration section: when a failed invoice payment is tried again (dunning), and
 * invoice PDFs (the Chromium that renders them, how many at once and for how long, and the seller they name).
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { ConfigError, duration, integer, read, type Env } from "./env";

export interface BillingConfig {
	/**
	 * Days after an invoice's first failed payment at which it is tried again (Stripe's smart-retry default
	 * spread); after the last one fails the subscription is `unpaid`. Ascending, whole days.
	 */
	dunningDays: number[];
}

function dunningDays(env: Env): number[] {
	const name = "BILLING_DUNNING_DAYS";
	const items = (read(env, name) ?? "1,3,5,7").split(",").map((item) => item.trim()).filter(Boolean);
	if (items.length === 0 || items.length > 10) throw new ConfigError(name, "must list 1 to 10 days");
	const days = items.map((item) => {
		if (!/^\d+$/.test(item)) throw new ConfigError(name, `must be whole days like 1,3,5,7 (got "${item}")`);
		return Number(item);
	});
	if (days.some((day, index) => day < 1 || day > 365 || (index > 0 && day <= days[index - 1]))) {
		throw new ConfigError(name, `must ascend, each between 1 and 365 days (got "${items.join(",")}")`);
	}
	return days;
}

export function billing(env: Env): BillingConfig {
	return { dunningDays: dunningDays(env) };
}

export interface InvoicePdfConfig {
	/** The Chromium (or Chrome) binary Playwright drives: Debian's package by default (Playwright downloads none here). */
	chromiumPath: string;
	/** Pages rendered at once per node; more wait their turn. */
	concurrency: number;
	/** How long one rendering may take once it has its page (launching the browser included). */
	timeoutMs: number;
	/** Who issues the invoices: the first block of every invoice document. */
	seller: { name: string; addressLines: string[] };
}

function chromiumPath(env: Env): string {
	const value = read(env, "BILLING_CHROMIUM_PATH") ?? "/usr/bin/chromium";
	if (!value.startsWith("/")) throw new ConfigError("BILLING_CHROMIUM_PATH", `must be an absolute path to a Chromium binary (got "${value}")`);
	return value;
}

function renderTimeout(env: Env): number {
	const value = duration(env, "BILLING_PDF_TIMEOUT", "30s");
	if (value < 1_000 || value > 300_000) throw new ConfigError("BILLING_PDF_TIMEOUT", "must be between 1s and 5m");
	return value;
}

function seller(env: Env): InvoicePdfConfig["seller"] {
	const name = read(env, "BILLING_SELLER_NAME") ?? "Lattice";
	if (name.length > 200) throw new ConfigError("BILLING_SELLER_NAME", "must be at most 200 characters");
	const addressLines = (read(env, "BILLING_SELLER_ADDRESS") ?? "").split(";").map((line) => line.trim()).filter(Boolean);
	if (addressLines.length > 8 || addressLines.some((line) => line.length > 200)) {
		throw new ConfigError("BILLING_SELLER_ADDRESS", "must be at most 8 lines (separated by ;) of at most 200 characters");
	}
	return { name, addressLines };
}

export function invoicePdf(env: Env): InvoicePdfConfig {
	return {
		chromiumPath: chromiumPath(env),
		concurrency: integer(env, "BILLING_PDF_CONCURRENCY", 2, 1, 16),
		timeoutMs: renderTimeout(env),
		seller: seller(env),
	};
}
