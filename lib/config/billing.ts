/**
 * The billing domain's configuration section: when a failed invoice payment is tried again (dunning).
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { ConfigError, read, type Env } from "./env";

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
