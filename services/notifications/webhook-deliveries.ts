/**
 * The SQL of webhook deliveries as durable jobs, in the `webhooks` schema (owned by the webhooks service):
 * a message and its deliveries are written in one transaction; nodes claim due deliveries with
 * `FOR UPDATE SKIP LOCKED` as a lease; an attempt's outcome is recorded only if the lease is still the one
 * it was claimed under (the attempt count is the fencing token), so a node that lost its lease can't
 * overwrite the work of the node that took over.
 */
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { DeliveryStatus } from "../../models/notifications/webhooks/webhook.models";

const SCHEMA = "webhooks";
const table = (name: string) => `"${SCHEMA}".${name}`;

/** A claimed delivery with everything one attempt needs. */
export interface DeliveryJob {
	id: string;
	tenantId: string;
	endpointId: string;
	attempts: number;
	maxAttempts: number;
	url: string;
	secret: string;
	previousSecret: string | null;
	previousSecretExpiresAt: Date | null;
	eventId: string;
	eventType: string;
	body: string;
}

export interface DeliveryView {
	id: string;
	tenantId: string;
	endpointId: string;
	eventId: string;
	eventType: string;
	status: DeliveryStatus;
	attemptCount: number;
	maxAttempts: number;
	nextAttemptAt: Date | null;
	lastAttemptAt: Date | null;
	lastStatusCode: number | null;
	lastError: string | null;
	succeededAt: Date | null;
	createdAt: Date;
}

export interface AttemptOutcome {
	startedAt: Date;
	durationMs: number;
	statusCode: number | null;
	succeeded: boolean;
	error: string | null;
	responseBody: string | null;
}

/** One attempt as the delivery log shows it. */
export interface AttemptView extends AttemptOutcome {
	deliveryId: string;
	attempt: number;
}

export interface DisabledEndpoint {
	id: string;
	tenantId: string;
	url: string;
}

const DELIVERY_COLUMNS = `d.id, d.tenant_id AS "tenantId", d.endpoint_id AS "endpointId", m.event_id AS "eventId", m.event_type AS "eventType",
	d.status, d.attempts AS "attemptCount", d.max_attempts AS "maxAttempts", d.next_attempt_at AS "nextAttemptAt",
	d.last_attempt_at AS "lastAttemptAt", d.last_status_code AS "lastStatusCode", d.last_error AS "lastError",
	d.succeeded_at AS "succeededAt", d.created_at AS "createdAt"`;

export class WebhookDeliveryStore {
	constructor(private readonly pool: () => Sequelize) {}

	private get db(): Sequelize {
		return this.pool();
	}

	/**
	 * One message and a delivery to each matching enabled endpoint of the tenant, in one transaction. An
	 * event id the tenant already has is a duplicate: nothing is written, and its delivery count is answered.
	 */
	async enqueue(input: {
		tenantId: string;
		eventId: string;
		eventType: string;
		body: string;
		maxAttempts: number;
		/** Only this endpoint, whatever it subscribes to (test pings). */
		endpointId?: string;
	}): Promise<{ duplicate: boolean; deliveryIds: string[]; deliveries: number }> {
		return this.db.transaction(async (transaction) => {
			const inserted = await this.db.query<{ id: string }>(
				`INSERT INTO ${table("messages")} (id, tenant_id, event_id, event_type, body, created_at, updated_at)
				 VALUES (gen_random_uuid(), :tenantId, :eventId, :eventType, :body, now(), now())
				 ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING id`,
				{ replacements: input, type: QueryTypes.SELECT, transaction },
			);
			if (inserted.length === 0) {
				const [existing] = await this.db.query<{ count: string }>(
					`SELECT count(d.id) AS count FROM ${table("messages")} m LEFT JOIN ${table("deliveries")} d ON d.message_id = m.id
					 WHERE m.tenant_id = :tenantId AND m.event_id = :eventId`,
					{ replacements: input, type: QueryTypes.SELECT, transaction },
				);
				return { duplicate: true, deliveryIds: [], deliveries: Number(existing?.count ?? 0) };
			}
			const target = input.endpointId ? "e.id = :endpointId" : "(e.events = '[]'::jsonb OR e.events @> jsonb_build_array(CAST(:eventType AS text)))";
			const rows = await this.db.query<{ id: string }>(
				`INSERT INTO ${table("deliveries")} (id, tenant_id, endpoint_id, message_id, status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
				 SELECT gen_random_uuid(), e.tenant_id, e.id, :messageId, 'pending', 0, :maxAttempts, now(), now(), now()
				 FROM ${table("endpoints")} e WHERE e.tenant_id = :tenantId AND e.status = 'enabled' AND ${target}
				 RETURNING id`,
				{ replacements: { ...input, endpointId: input.endpointId ?? null, messageId: inserted[0].id }, type: QueryTypes.SELECT, transaction },
			);
			return { duplicate: false, deliveryIds: rows.map((row) => row.id), deliveries: rows.length };
		});
	}

	/**
	 * Leases up to `limit` due deliveries of enabled endpoints: pending or failed ones whose time has come,
	 * and sending ones whose lease ran out (their node died mid-attempt). Claiming counts the attempt.
	 */
	async claim(limit: number, leaseMs: number): Promise<DeliveryJob[]> {
		return this.db.query<DeliveryJob>(
			`WITH due AS (
				SELECT d.id FROM ${table("deliveries")} d JOIN ${table("endpoints")} e ON e.id = d.endpoint_id
				WHERE e.status = 'enabled'
				  AND ((d.status IN ('pending', 'failed') AND d.next_attempt_at <= now()) OR (d.status = 'sending' AND d.lease_expires_at <= now()))
				ORDER BY d.next_attempt_at LIMIT :limit
				FOR UPDATE OF d SKIP LOCKED
			)
			UPDATE ${table("deliveries")} d
			SET status = 'sending', attempts = d.attempts + 1, lease_expires_at = now() + :leaseMs * interval '1 millisecond',
			    last_attempt_at = now(), updated_at = now()
			FROM due, ${table("endpoints")} e, ${table("messages")} m
			WHERE d.id = due.id AND e.id = d.endpoint_id AND m.id = d.message_id
			RETURNING d.id, d.tenant_id AS "tenantId", d.endpoint_id AS "endpointId", d.attempts, d.max_attempts AS "maxAttempts",
			          e.url, e.secret, e.previous_secret AS "previousSecret", e.previous_secret_expires_at AS "previousSecretExpiresAt",
			          m.event_id AS "eventId", m.event_type AS "eventType", m.body`,
			{ replacements: { limit, leaseMs }, type: QueryTypes.SELECT },
		);
	}

	/**
	 * Logs the attempt and moves the delivery on: succeeded; failed with its next attempt `retryInMs` from
	 * now; or exhausted when `retryInMs` is undefined. Answers false when the lease was lost meanwhile.
	 */
	async recordOutcome(job: DeliveryJob, outcome: AttemptOutcome, retryInMs: number | undefined): Promise<{ recorded: boolean; status: DeliveryStatus }> {
		const status: DeliveryStatus = outcome.succeeded ? "succeeded" : retryInMs === undefined ? "exhausted" : "failed";
		return this.db.transaction(async (transaction) => {
			await this.db.query(
				`INSERT INTO ${table("attempts")} (id, delivery_id, tenant_id, attempt, started_at, duration_ms, status_code, succeeded, error, response_body, created_at, updated_at)
				 SELECT gen_random_uuid(), d.id, d.tenant_id, :attempt, :startedAt, :durationMs, :statusCode, :succeeded, :error, :responseBody, now(), now()
				 FROM ${table("deliveries")} d WHERE d.id = :id`,
				{ replacements: { ...outcome, id: job.id, attempt: job.attempts }, transaction },
			);
			const updated = await this.db.query<{ id: string }>(
				`UPDATE ${table("deliveries")}
				 SET status = :status, next_attempt_at = CASE WHEN :status = 'failed' THEN now() + :retryInMs * interval '1 millisecond' END,
				     lease_expires_at = NULL, last_status_code = :statusCode, last_error = :error,
				     succeeded_at = CASE WHEN :status = 'succeeded' THEN now() ELSE succeeded_at END, updated_at = now()
				 WHERE id = :id AND status = 'sending' AND attempts = :attempt RETURNING id`,
				{ replacements: { id: job.id, attempt: job.attempts, status, retryInMs: retryInMs ?? 0, statusCode: outcome.statusCode, error: outcome.error }, type: QueryTypes.SELECT, transaction },
			);
			if (outcome.succeeded) {
				await this.db.query(`UPDATE ${table("endpoints")} SET last_success_at = now() WHERE id = :endpointId`, { replacements: { endpointId: job.endpointId }, transaction });
			}
			return { recorded: updated.length === 1, status };
		});
	}

	/** Gives a lease back unattempted (the node is stopping): due again at once, the attempt not counted. */
	async release(job: DeliveryJob): Promise<void> {
		await this.db.query(
			`UPDATE ${table("deliveries")}
			 SET status = CASE WHEN attempts <= 1 THEN 'pending' ELSE 'failed' END, attempts = attempts - 1,
			     next_attempt_at = now(), lease_expires_at = NULL, updated_at = now()
			 WHERE id = :id AND status = 'sending' AND attempts = :attempt`,
			{ replacements: { id: job.id, attempt: job.attempts } },
		);
	}

	/**
	 * Disables the endpoint when it has had no success (nor been enabled) for `quietMs`, and closes its
	 * outstanding deliveries. Answers the endpoint when this call disabled it.
	 */
	async disableIfFailing(endpointId: string, quietMs: number, reason: string): Promise<DisabledEndpoint | undefined> {
		return this.db.transaction(async (transaction) => {
			const [row] = await this.db.query<DisabledEndpoint>(
				`UPDATE ${table("endpoints")} SET status = 'disabled', disabled_at = now(), disabled_reason = :reason, updated_at = now()
				 WHERE id = :endpointId AND status = 'enabled' AND GREATEST(enabled_at, last_success_at) <= now() - :quietMs * interval '1 millisecond'
				 RETURNING id, tenant_id AS "tenantId", url`,
				{ replacements: { endpointId, quietMs, reason }, type: QueryTypes.SELECT, transaction },
			);
			if (row) await this.closeOutstanding(endpointId, transaction);
			return row;
		});
	}

	/** Deliveries still waiting for a disabled endpoint end as exhausted; a manual retry can revive each. */
	async closeOutstanding(endpointId: string, transaction?: Transaction): Promise<void> {
		await this.db.query(
			`UPDATE ${table("deliveries")}
			 SET status = 'exhausted', next_attempt_at = NULL, last_error = COALESCE(last_error, 'The endpoint was disabled before this delivery was attempted'), updated_at = now()
			 WHERE endpoint_id = :endpointId AND status IN ('pending', 'failed')`,
			{ replacements: { endpointId }, transaction },
		);
	}

	/**
	 * Queues a failed or exhausted delivery for an attempt now. An exhausted one gets one more attempt; a
	 * failed one keeps its remaining schedule. Answers undefined when the status was not one of those.
	 */
	async requeue(id: string, from: "failed" | "exhausted"): Promise<DeliveryView | undefined> {
		const [row] = await this.db.query<{ id: string }>(
			`UPDATE ${table("deliveries")}
			 SET status = 'failed', next_attempt_at = now(), max_attempts = CASE WHEN :from = 'exhausted' THEN attempts + 1 ELSE max_attempts END, updated_at = now()
			 WHERE id = :id AND status = :from RETURNING id`,
			{ replacements: { id, from }, type: QueryTypes.SELECT },
		);
		return row ? this.find(id) : undefined;
	}

	/**
	 * Removes messages older than `ageMs` that nothing waits on any more; their deliveries and attempts go
	 * with them (ON DELETE CASCADE). Safe on every node at once.
	 */
	async purge(ageMs: number): Promise<number> {
		const removed = await this.db.query<{ id: string }>(
			`DELETE FROM ${table("messages")} m WHERE m.created_at < now() - :ageMs * interval '1 millisecond'
			 AND NOT EXISTS (SELECT 1 FROM ${table("deliveries")} d WHERE d.message_id = m.id AND d.status IN ('pending', 'sending', 'failed'))
			 RETURNING m.id`,
			{ replacements: { ageMs }, type: QueryTypes.SELECT },
		);
		return removed.length;
	}

	async find(id: string, tenantId?: string): Promise<DeliveryView | undefined> {
		const [row] = await this.db.query<DeliveryView>(
			`SELECT ${DELIVERY_COLUMNS} FROM ${table("deliveries")} d JOIN ${table("messages")} m ON m.id = d.message_id
			 WHERE d.id = :id ${tenantId ? "AND d.tenant_id = :tenantId" : ""}`,
			{ replacements: { id, tenantId: tenantId ?? null }, type: QueryTypes.SELECT },
		);
		return row;
	}

	async listForEndpoint(endpointId: string, page: number, pageSize: number, status?: DeliveryStatus): Promise<{ rows: DeliveryView[]; total: number }> {
		const where = `d.endpoint_id = :endpointId ${status ? "AND d.status = :status" : ""}`;
		const replacements = { endpointId, status: status ?? null, limit: pageSize, offset: (page - 1) * pageSize };
		const rows = await this.db.query<DeliveryView>(
			`SELECT ${DELIVERY_COLUMNS} FROM ${table("deliveries")} d JOIN ${table("messages")} m ON m.id = d.message_id
			 WHERE ${where} ORDER BY d.created_at DESC, d.id LIMIT :limit OFFSET :offset`,
			{ replacements, type: QueryTypes.SELECT },
		);
		const [count] = await this.db.query<{ total: string }>(`SELECT count(*) AS total FROM ${table("deliveries")} d WHERE ${where}`, { replacements, type: QueryTypes.SELECT });
		return { rows, total: Number(count.total) };
	}

	async attemptsOf(deliveryIds: string[]): Promise<AttemptView[]> {
		if (deliveryIds.length === 0) return [];
		return this.db.query<AttemptView>(
			`SELECT delivery_id AS "deliveryId", attempt, started_at AS "startedAt", duration_ms AS "durationMs", status_code AS "statusCode",
			        succeeded, error, response_body AS "responseBody"
			 FROM ${table("attempts")} WHERE delivery_id IN (:deliveryIds) ORDER BY started_at, attempt`,
			{ replacements: { deliveryIds }, type: QueryTypes.SELECT },
		);
	}
}
