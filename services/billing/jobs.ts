/**
 * Billing's timers as rows of billing.jobs (a mixin of billing.service.ts, run by mixins/due-jobs.mixin.ts):
 * a trial's end and the notice three days before it, a period's end, an invoice's payment attempt.
 *
 * A job is due when its `due_at` has come in its tenant's billing time (the wall clock plus the tenant's
 * test-clock offset, joined in the claim). Claiming leases it (`leased_until`) and raises `attempts`, which
 * is the fencing token: a run records its job done in the same transaction as its effects, only if the
 * lease is still the one it claimed (`completeJob`), so a node that lost its lease rolls its work back. A
 * failed run leaves the job pending with its lease pushed out as the back-off; after MAX_ATTEMPTS it is
 * `failed` and logged. Every handler checks its subject's state first, so a job that became stale (a
 * canceled subscription, a paid invoice) completes without effect.
 */
import { QueryTypes, type Transaction } from "sequelize";
import type { BillingJobKind } from "../../models/billing/billing/billing.models";
import { type BillingHost, billingMixin, type JobRow } from "./billing.types";

/** A run calls payments and usage: its lease outlasts their timeouts. */
const LEASE_MS = 120_000;
const MAX_ATTEMPTS = 20;
/** How long a request waits for a job it wrote that another node's loop took first. */
const FOREIGN_RUN_WAIT_MS = 5_000;

const JOBS = `"billing".jobs`;
/** A job row as JobRow, from the table or its alias. */
function jobColumns(alias = ""): string {
	const p = alias ? `${alias}.` : "";
	return `${p}id, ${p}kind, ${p}tenant_id AS "tenantId", ${p}subject_id AS "subjectId", ${p}due_at AS "dueAt", ${p}status, ${p}attempts, ${p}leased_until AS "leasedUntil", ${p}last_error AS "lastError"`;
}
const JOB_COLUMNS = jobColumns();

/** 10 s, 40 s, 90 s … capped at an hour. */
function backoffMs(attempts: number): number {
	return Math.min(3_600_000, attempts * attempts * 10_000);
}

export const Jobs = billingMixin({
	methods: {
		/** The same timer set again is one job; one canceled earlier (a retry rescheduled back) comes back to life. */
		async scheduleJob(this: BillingHost, transaction: Transaction, kind: BillingJobKind, tenantId: string, subjectId: string, dueAt: Date, options: { runHere?: boolean } = {}): Promise<JobRow | undefined> {
			const [row] = await this.adapter.db.query<JobRow>(
				`INSERT INTO ${JOBS} (id, kind, tenant_id, subject_id, due_at, status, attempts, created_at, updated_at)
				 VALUES (gen_random_uuid(), :kind, :tenantId, :subjectId, :dueAt, 'pending', 0, now(), now())
				 ON CONFLICT (kind, subject_id, due_at) DO UPDATE SET status = 'pending', attempts = 0, leased_until = NULL, last_error = NULL, updated_at = now()
				   WHERE ${JOBS}.status = 'canceled'
				 RETURNING ${JOB_COLUMNS}`,
				{ replacements: { kind, tenantId, subjectId, dueAt }, type: QueryTypes.SELECT, transaction },
			);
			// A job the writer runs itself right after the commit (runJobNow) is left to it rather than raced for.
			if (row && !options.runHere) transaction.afterCommit(() => this.kickDueJobs());
			return row;
		},

		async cancelJobs(this: BillingHost, transaction: Transaction, subjectId: string, kinds: readonly BillingJobKind[]): Promise<void> {
			await this.adapter.db.query(`UPDATE ${JOBS} SET status = 'canceled', leased_until = NULL, updated_at = now() WHERE subject_id = :subjectId AND kind IN (:kinds) AND status = 'pending'`, {
				replacements: { subjectId, kinds: [...kinds] },
				transaction,
			});
		},

		/** The due-jobs loop's claim: due in each tenant's billing time, earliest first. */
		async claimBillingJobs(this: BillingHost, limit: number): Promise<JobRow[]> {
			return this.adapter.db.query<JobRow>(
				`WITH due AS (
					SELECT j.id FROM ${JOBS} j LEFT JOIN "billing".billing_accounts a ON a.tenant_id = j.tenant_id
					WHERE j.status = 'pending' AND (j.leased_until IS NULL OR j.leased_until <= now())
					  AND j.due_at <= now() + COALESCE(a.clock_offset_ms, 0) * interval '1 millisecond'
					ORDER BY j.due_at LIMIT :limit
					FOR UPDATE OF j SKIP LOCKED
				)
				UPDATE ${JOBS} j SET leased_until = now() + :leaseMs * interval '1 millisecond', attempts = j.attempts + 1, updated_at = now()
				FROM due WHERE j.id = due.id
				RETURNING ${jobColumns("j")}`,
				{ replacements: { limit, leaseMs: LEASE_MS }, type: QueryTypes.SELECT },
			);
		},

		/** Leases one pending job whatever its due time (the test clock, and collections run at once). */
		async claimJobById(this: BillingHost, id: string): Promise<JobRow | undefined> {
			const [row] = await this.adapter.db.query<JobRow>(
				`UPDATE ${JOBS} SET leased_until = now() + :leaseMs * interval '1 millisecond', attempts = attempts + 1, updated_at = now()
				 WHERE id = :id AND status = 'pending' AND (leased_until IS NULL OR leased_until <= now())
				 RETURNING ${JOB_COLUMNS}`,
				{ replacements: { id, leaseMs: LEASE_MS }, type: QueryTypes.SELECT },
			);
			return row;
		},

		async completeJob(this: BillingHost, transaction: Transaction, job: JobRow): Promise<void> {
			const done = await this.adapter.db.query(
				`UPDATE ${JOBS} SET status = 'done', leased_until = NULL, last_error = NULL, updated_at = now() WHERE id = :id AND status = 'pending' AND attempts = :attempts RETURNING id`,
				{ replacements: { id: job.id, attempts: job.attempts }, type: QueryTypes.SELECT, transaction },
			);
			// Another node holds the job now (this lease ran out), or it was canceled: this run's work rolls back.
			if (done.length !== 1) throw new Error(`Billing job ${job.id} (${job.kind}) is no longer leased to this run`);
		},

		async runBillingJob(this: BillingHost, job: JobRow): Promise<void> {
			try {
				switch (job.kind) {
					case "trial_will_end":
						return await this.runTrialWillEnd(job);
					case "trial_end":
						return await this.runTrialEnd(job);
					case "period_end":
						return await this.runPeriodEnd(job);
					case "payment_retry":
						return await this.runPaymentRetry(job);
				}
			} catch (err) {
				const message = (err as Error).message ?? String(err);
				await this.adapter.db.query(
					`UPDATE ${JOBS} SET last_error = :message, leased_until = now() + :backoffMs * interval '1 millisecond',
					   status = CASE WHEN attempts >= :maxAttempts THEN 'failed' ELSE status END, updated_at = now()
					 WHERE id = :id AND status = 'pending' AND attempts = :attempts`,
					{ replacements: { id: job.id, attempts: job.attempts, message: message.slice(0, 2000), backoffMs: backoffMs(job.attempts), maxAttempts: MAX_ATTEMPTS } },
				);
				if (job.attempts >= MAX_ATTEMPTS) this.logger.error(`Billing job ${job.id} (${job.kind} of ${job.subjectId}) failed ${job.attempts} times and is given up:`, message);
				throw err;
			}
		},

		/**
		 * Runs a job a request or another job just wrote (an invoice's first payment attempt), here and now,
		 * so the caller answers with its outcome. If the loop of some node took it first, waits for that run.
		 */
		async runJobNow(this: BillingHost, written: JobRow | undefined): Promise<void> {
			if (!written) return;
			const job = await this.claimJobById(written.id);
			if (job) {
				await this.runBillingJob(job).catch((err: Error) => this.logger.warn(`Billing job ${job.id} (${job.kind}) failed and will be retried: ${err.message}`));
				return;
			}
			const started = Date.now();
			while (Date.now() - started < FOREIGN_RUN_WAIT_MS) {
				const [row] = await this.adapter.db.query<{ busy: boolean }>(`SELECT status = 'pending' AND leased_until > now() AS busy FROM ${JOBS} WHERE id = :id`, {
					replacements: { id: written.id },
					type: QueryTypes.SELECT,
				});
				if (!row?.busy) return;
				await new Promise((resolve) => setTimeout(resolve, 50));
			}
		},
	},
});
