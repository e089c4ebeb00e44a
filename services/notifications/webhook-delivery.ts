/**
 * The webhooks service's delivery engine (a mixin of webhooks.service.ts): `webhooks.dispatch` turns a tenant
 * event into a stored message and one durable delivery per subscribed endpoint; the due-jobs loop claims
 * deliveries (a lease), attempts them signed through the SSRF-guarded outbound client, records each outcome
 * under its lease, reschedules by WEBHOOK_RETRY_SCHEDULE, and disables an endpoint that keeps failing past
 * WEBHOOK_DISABLE_AFTER. Endpoint secrets are sealed with SECRETS_KEY, bound to their endpoint and column.
 */
import { randomUUID } from "node:crypto";
import type { ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import type { DbService } from "../../mixins/db.mixin";
import type { AuditMixinMethods } from "../../mixins/audit.mixin";
import type { DueJobsMethods } from "../../mixins/due-jobs.mixin";
import { systemCall } from "../../lib/caller";
import { PayloadTooLargeError } from "../../lib/errors";
import { WEBHOOK_EVENT_TYPES } from "./catalog";
import type { DispatchParams, DispatchResult } from "./contracts";
import { retryDelay, sendWebhookAttempt } from "./webhook-attempt";
import type { AttemptOutcome, DeliveryJob } from "./webhook-deliveries";
import type { SecretColumn, WebhooksContext, WebhooksLocals, WebhooksMethods, WebhooksSettings } from "./webhooks.types";

/** Largest event body, serialized: receivers and the log both pay for every byte, on every retry. */
const MAX_BODY_BYTES = 256 * 1024;
/** A lease outlives the attempt's own timeout by this much before another node may take the delivery. */
const LEASE_MARGIN_MS = 30_000;
/** Messages, deliveries and their log are kept this long, then purged (hourly, by every node). */
const RETENTION_MS = 30 * 86_400_000;
const PURGE_INTERVAL_MS = 3600_000;
/** Prometheus: lattice_webhooks_attempts_total, lattice_webhooks_attempt_duration_seconds, lattice_webhooks_endpoints_disabled_total. */
const WEBHOOK_METRICS = {
	attempts: "lattice.webhooks.attempts.total",
	duration: "lattice.webhooks.attempt.duration.seconds",
	endpointsDisabled: "lattice.webhooks.endpoints.disabled.total",
} as const;
const EVENT_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,255}$/;

type Host = Omit<DbService, "settings"> & { settings: WebhooksSettings } & WebhooksMethods & AuditMixinMethods & DueJobsMethods & WebhooksLocals;

/** Bound to its endpoint and column, so a sealed secret copied into another row or column doesn't open. */
function secretContext(endpointId: string, column: SecretColumn): string {
	return `webhook-endpoint:${endpointId}:${column}`;
}

export const WebhookDelivery: Partial<ServiceSchema> = {
	actions: {
		/** Internal: producers (notifications) send a tenant event to its subscribed endpoints. */
		dispatch: {
			visibility: "public",
			params: {
				tenantId: "uuid",
				eventType: { type: "enum", values: WEBHOOK_EVENT_TYPES },
				eventId: { type: "string", pattern: EVENT_ID_PATTERN, optional: true },
				data: { type: "object" },
			},
			async handler(ctx: WebhooksContext<DispatchParams>): Promise<DispatchResult> {
				const eventId = ctx.params.eventId ?? `msg_${randomUUID()}`;
				const { deliveryIds: _ids, ...result } = await this.enqueue({ ...ctx.params, eventId });
				return result;
			},
		},
	},

	methods: {
		sealSecret(this: Host, endpointId: string, column: SecretColumn, secret: string): string {
			return this.secretBox.seal(secret, secretContext(endpointId, column));
		},

		openSecret(this: Host, endpointId: string, column: SecretColumn, stored: string): string {
			return this.secretBox.open(stored, secretContext(endpointId, column));
		},

		/**
		 * Seals, with the current SECRETS_KEY, the secrets still readable or sealed with a previous key. Each
		 * update is guarded by the values it read, so nodes starting together (or a rotation meanwhile) never
		 * overwrite each other: the loser's update matches nothing. A row no configured key opens is logged and left.
		 */
		async resealSecrets(this: Host): Promise<void> {
			const prefix = this.secretBox.currentPrefix;
			if (prefix === undefined) return;
			const rows = await this.adapter.db.query<{ id: string; secret: string; previousSecret: string | null }>(
				`SELECT id, secret, previous_secret AS "previousSecret" FROM webhooks.endpoints
				 WHERE secret NOT LIKE :sealed OR previous_secret NOT LIKE :sealed`,
				{ replacements: { sealed: `${prefix}%` }, type: QueryTypes.SELECT },
			);
			let resealed = 0;
			for (const row of rows) {
				try {
					const secret = this.secretBox.reseal(row.secret, secretContext(row.id, "secret"));
					const previousSecret = row.previousSecret === null ? null : this.secretBox.reseal(row.previousSecret, secretContext(row.id, "previous_secret"));
					const [, count] = await this.adapter.db.query(
						`UPDATE webhooks.endpoints SET secret = :secret, previous_secret = :previousSecret
						 WHERE id = :id AND secret = :oldSecret AND previous_secret IS NOT DISTINCT FROM :oldPrevious`,
						{ replacements: { id: row.id, secret, previousSecret, oldSecret: row.secret, oldPrevious: row.previousSecret }, type: QueryTypes.UPDATE },
					);
					resealed += count;
				} catch (err) {
					this.logger.error(`Webhook endpoint ${row.id}: its secret could not be sealed again:`, (err as Error).message);
				}
			}
			if (resealed > 0) this.logger.info(`Sealed the secrets of ${resealed} webhook endpoints with the current SECRETS_KEY`);
		},

		/** The Standard Webhooks payload `{type, timestamp, data}`, stored once and sent byte for byte on every attempt. */
		async enqueue(this: Host, input: DispatchParams & { eventId: string; endpointId?: string }) {
			const body = JSON.stringify({ type: input.eventType, timestamp: new Date().toISOString(), data: input.data });
			if (Buffer.byteLength(body) > MAX_BODY_BYTES) throw new PayloadTooLargeError(`A webhook event may be at most ${MAX_BODY_BYTES} bytes`, "WEBHOOK_EVENT_TOO_LARGE");
			const result = await this.store.enqueue({
				tenantId: input.tenantId,
				eventId: input.eventId,
				eventType: input.eventType,
				body,
				maxAttempts: 1 + this.settings.retryScheduleMs.length,
				endpointId: input.endpointId,
			});
			if (result.deliveries > 0 && !result.duplicate) this.kickDueJobs();
			return { eventId: input.eventId, deliveries: result.deliveries, deliveryIds: result.deliveryIds, ...(result.duplicate ? { duplicate: true as const } : {}) };
		},

		claimDeliveries(this: Host, limit: number): Promise<DeliveryJob[]> {
			return this.store.claim(limit, this.settings.timeoutMs + LEASE_MARGIN_MS);
		},

		async attemptDelivery(this: Host, job: DeliveryJob, signal: AbortSignal): Promise<void> {
			const opened = {
				...job,
				secret: this.openSecret(job.endpointId, "secret", job.secret),
				previousSecret: job.previousSecret === null ? null : this.openSecret(job.endpointId, "previous_secret", job.previousSecret),
			};
			const outcome = await sendWebhookAttempt(this.outbound, opened, { timeoutMs: this.settings.timeoutMs, signal });
			if (outcome === "aborted") return this.store.release(job);
			const retryInMs = outcome.succeeded ? undefined : retryDelay(this.settings.retryScheduleMs, job.attempts, job.maxAttempts);
			const { recorded, status } = await this.store.recordOutcome(job, outcome, retryInMs);
			if (recorded) {
				this.broker.metrics.increment(WEBHOOK_METRICS.attempts, { result: status });
				this.broker.metrics.observe(WEBHOOK_METRICS.duration, outcome.durationMs / 1000, { result: status });
			}
			if (recorded && status === "exhausted") await this.endpointFailed(job, outcome);
		},

		async endpointFailed(this: Host, job: DeliveryJob, outcome: AttemptOutcome): Promise<void> {
			const reason = `No successful delivery for the configured period; delivery ${job.id} (${job.eventType}) failed ${job.attempts} times, last: ${outcome.error ?? "unknown"}`;
			const disabled = await this.store.disableIfFailing(job.endpointId, this.settings.disableAfterMs, reason.slice(0, 500));
			if (!disabled) return;
			this.broker.metrics.increment(WEBHOOK_METRICS.endpointsDisabled);
			await this.announceDisabled(disabled, reason);
		},

		/** Audit and tell the tenant's admins; neither may fail the delivery loop. */
		async announceDisabled(this: Host, endpoint: { id: string; tenantId: string; url: string }, reason: string): Promise<void> {
			this.logger.warn(`Webhook endpoint ${endpoint.id} of tenant ${endpoint.tenantId} disabled: ${reason}`);
			await this.audit(undefined, { action: "webhook_endpoint.disabled", tenantId: endpoint.tenantId, targetType: "webhook_endpoint", targetId: endpoint.id, data: { url: endpoint.url, reason } });
			try {
				await this.broker.call(
					"notifications.send",
					{ tenantId: endpoint.tenantId, roles: ["owner", "admin"], type: "webhook.endpoint_disabled", data: { endpointId: endpoint.id, url: endpoint.url, reason } },
					systemCall(),
				);
			} catch (err) {
				this.logger.warn(`Tenant ${endpoint.tenantId} was not notified that webhook endpoint ${endpoint.id} was disabled:`, (err as Error).message);
			}
		},
	},

	created() {
		// What an operator alerts on: endpoints failing (attempts by result, slow receivers) and endpoints given up on.
		this.broker.metrics.register({ type: "counter", name: WEBHOOK_METRICS.attempts, labelNames: ["result"], description: "Webhook delivery attempts by result (succeeded, failed: retried later, exhausted)" });
		this.broker.metrics.register({ type: "histogram", name: WEBHOOK_METRICS.duration, labelNames: ["result"], unit: "seconds", buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15], quantiles: false, description: "Time a receiver took to answer a webhook attempt" });
		this.broker.metrics.register({ type: "counter", name: WEBHOOK_METRICS.endpointsDisabled, description: "Webhook endpoints disabled after failing for WEBHOOK_DISABLE_AFTER" });
	},

	async started() {
		// Before deliveries start; a failure here leaves secrets as they were, which deliveries still open.
		await this.resealSecrets().catch((err: Error) => this.logger.error("Sealing webhook secrets with the current SECRETS_KEY failed:", err.message));
		this.startDueJobs();
		this.purgeTimer = setInterval(() => {
			this.store.purge(RETENTION_MS).catch((err: Error) => this.logger.warn("Purging old webhook messages failed:", err.message));
		}, PURGE_INTERVAL_MS);
		this.purgeTimer.unref();
	},

	async stopped() {
		clearInterval(this.purgeTimer);
		await this.stopDueJobs();
	},
};
