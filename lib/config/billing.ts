/**
 * The billing domain's configuration section: invoice PDFs (the Chromium that renders them, how many at once
 * and for how long, and the seller the documents name).
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { ConfigError, duration, integer, read, type Env } from "./env";

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
