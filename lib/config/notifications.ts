/**
 * The notifications domain's configuration section: outgoing mail and webhook deliveries.
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { ConfigError, duration, durationList, read, url, type Env } from "./env";

export interface MailConfig {
	/** smtp:// or smtps:// URL; unset keeps messages in the local outbox (and the log). */
	smtpUrl?: string;
	from: string;
}

export interface WebhooksConfig {
	/** Delay before each retry after the first attempt, in ms (Standard Webhooks / Svix schedule by default). */
	retryScheduleMs: number[];
	timeoutMs: number;
	/** An endpoint failing without a single success for this long, with a delivery out of retries, is disabled. */
	disableAfterMs: number;
}

function mailFrom(env: Env): string {
	const value = read(env, "MAIL_FROM") ?? "Lattice <no-reply@lattice.local>";
	if (!/^(?:[^<>]*<)?[^@\s<>]+@[^@\s<>]+>?$/.test(value)) throw new ConfigError("MAIL_FROM", `must be an address like "Lattice <no-reply@example.com>" (got "${value}")`);
	return value;
}

export function mail(env: Env): MailConfig {
	return {
		smtpUrl: url(env, "SMTP_URL", ["smtp:", "smtps:"]),
		from: mailFrom(env),
	};
}

export function webhooks(env: Env): WebhooksConfig {
	return {
		// Svix's schedule after the immediate attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
		retryScheduleMs: durationList(env, "WEBHOOK_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h"),
		timeoutMs: duration(env, "WEBHOOK_TIMEOUT", "15s"),
		disableAfterMs: duration(env, "WEBHOOK_DISABLE_AFTER", "5d"),
	};
}
