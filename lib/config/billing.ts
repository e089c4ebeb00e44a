/**
 * The billing domain's configuration section.
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { integer, type Env } from "./env";

export interface BillingConfig {
	/**
	 * How long after a period starts usage events stamped in the previous period are still taken (late
	 * deliveries): an event older than the current period's start minus this is refused (422 USAGE_TOO_OLD).
	 */
	usageGraceSeconds: number;
}

export function billing(env: Env): BillingConfig {
	return {
		usageGraceSeconds: integer(env, "BILLING_USAGE_GRACE_SECONDS", 3600, 0, 31 * 86_400),
	};
}
