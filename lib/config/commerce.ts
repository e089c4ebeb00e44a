/**
 * The commerce domain's configuration section: bank callbacks and Stripe.
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { secret, url, type Env } from "./env";

export interface PaymentsConfig {
	/** Shared secret a bank's callback presents to settle a transfer; unset refuses bank callbacks. */
	bankCallbackSecret?: string;
	stripe: {
		secretKey?: string;
		webhookSecret?: string;
		/** Where the Stripe SDK sends requests: Stripe's API, or a local server that speaks it (tests). */
		apiBase: string;
	};
}

export function payments(env: Env): PaymentsConfig {
	return {
		bankCallbackSecret: secret(env, "PAYMENTS_BANK_CALLBACK_SECRET", 24),
		stripe: {
			secretKey: secret(env, "STRIPE_SECRET_KEY", 8),
			webhookSecret: secret(env, "STRIPE_WEBHOOK_SECRET", 8),
			apiBase: url(env, "STRIPE_API_BASE", ["http:", "https:"]) ?? "https://api.stripe.com",
		},
	};
}
