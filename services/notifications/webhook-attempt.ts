/**
 * One webhook attempt and what follows from it: the signed POST of a claimed delivery through the
 * SSRF-guarded outbound client, and the wait before the next attempt.
 */
import type { OutboundClient } from "../../lib/outbound/client";
import type { AttemptOutcome, DeliveryJob } from "./webhook-deliveries";
import { webhookHeaders } from "./webhook-signature";

/** How much of a receiver's answer the delivery log keeps. */
export const RESPONSE_EXCERPT_BYTES = 1024;

/**
 * 2xx is a success; any other status, a timeout, a refused connection or a refused address is a failure.
 * "aborted" when `signal` ended it (the node is stopping): for the schedule, the attempt didn't happen.
 */
export async function sendWebhookAttempt(
	outbound: OutboundClient,
	job: DeliveryJob,
	options: { timeoutMs: number; signal: AbortSignal; now?: Date },
): Promise<AttemptOutcome | "aborted"> {
	const startedAt = options.now ?? new Date();
	const secrets = [job.secret];
	if (job.previousSecret && job.previousSecretExpiresAt && new Date(job.previousSecretExpiresAt) > startedAt) secrets.push(job.previousSecret);
	try {
		const response = await outbound.request(job.url, {
			method: "POST",
			headers: { "content-type": "application/json", ...webhookHeaders(secrets, job.eventId, job.body, startedAt) },
			body: job.body,
			timeoutMs: options.timeoutMs,
			maxBodyBytes: RESPONSE_EXCERPT_BYTES,
			// As Svix: a redirect is an answer, not a 2xx; receivers register the final URL.
			maxRedirects: 0,
			signal: options.signal,
		});
		const succeeded = response.status >= 200 && response.status < 300;
		return {
			startedAt,
			durationMs: response.durationMs,
			statusCode: response.status,
			succeeded,
			error: succeeded ? null : `HTTP ${response.status}`,
			responseBody: response.body.length > 0 ? response.body.toString("utf8") : null,
		};
	} catch (err) {
		if (options.signal.aborted) return "aborted";
		const error = err as Error & { code?: string };
		return {
			startedAt,
			durationMs: Date.now() - startedAt.getTime(),
			statusCode: null,
			succeeded: false,
			error: `${error.code ?? error.name}: ${error.message}`.slice(0, 1000),
			responseBody: null,
		};
	}
}

/**
 * The wait before the next attempt after `attempts` failed ones (the schedule's entry for it, its last
 * entry past its end); undefined when no attempt is left.
 */
export function retryDelay(scheduleMs: readonly number[], attempts: number, maxAttempts: number): number | undefined {
	if (attempts >= maxAttempts) return undefined;
	return scheduleMs[Math.max(0, Math.min(attempts - 1, scheduleMs.length - 1))] ?? 0;
}
