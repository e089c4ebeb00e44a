/**
 * Billing time and billing accounts (a mixin of billing.service.ts).
 *
 * Every billing computation reads `billingNow(tenantId)`: PostgreSQL's clock plus the tenant's test-clock
 * offset (billing_accounts.clock_offset_ms, always 0 in production). Like Stripe's test clocks,
 * `POST /billing/test-clocks/advance` (not in production) moves one tenant's billing time forward and runs
 * everything that falls due on the way, each job with the clock at its own due time, in due order: a trial
 * that ends, the invoice it issues, the period that renews a month later, the retries of a failed payment.
 *
 * The billing account holds a tenant's tax rate (used when the plan names none) and whether its prices
 * include tax.
 */
import type { ServiceSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import { isSuperAdmin, requireTenant } from "../../lib/caller";
import { BadRequestError, ConflictError, EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { BILLING_EVENTS, BillingAccountSchema, ClockAdvanceResultSchema, type BillingAccount, type PeriodChangedEvent } from "./contracts";
import { type AccountRow, type BillingContext, type BillingHost, billingMixin, type JobRow } from "./billing.types";

const DAY_MS = 86_400_000;
/** How far one advance may move a clock, and how many jobs it may run on the way (a runaway schedule stops here). */
const MAX_ADVANCE_MS = 10 * 366 * DAY_MS;
const MAX_JOBS_PER_ADVANCE = 1000;
/** How long an advance waits for a due job another node is running before giving up. */
const BUSY_JOB_WAIT_MS = 30_000;

const table = (name: string) => `"billing".${name}`;

interface AdvanceParams {
	tenantId: string;
	to?: Date;
	days?: number;
	seconds?: number;
}

function toAccount(row: AccountRow, now: Date): BillingAccount {
	return { tenantId: row.tenantId, taxRateBasisPoints: row.taxRateBasisPoints, taxInclusive: row.taxInclusive, now: now.toISOString() };
}

export const Clock = billingMixin({
	/** In production the test clock doesn't exist: the route is not there at all (404 like any unknown path). */
	merged(this: { broker: { platformConfig?: { env?: string } } }, schema: ServiceSchema) {
		if (this.broker.platformConfig?.env !== "production") return;
		const { advanceTestClock: _removed, ...actions } = schema.actions ?? {};
		schema.actions = actions;
	},

	actions: {
		/** Internal: the tenant's billing time (usage stamps events with it). */
		now: {
			visibility: "public",
			params: { tenantId: "uuid" },
			async handler(this: BillingHost, ctx: BillingContext<{ tenantId: string }>) {
				return { now: (await this.billingNow(ctx.params.tenantId.toLowerCase())).toISOString() };
			},
		},

		getAccount: {
			rest: "GET /account",
			permissions: ["tenant:viewer"],
			summary: "The organization's billing account: its tax rate and its billing time",
			description: "Super admins name the organization with `tenantId`; everyone else reads their active organization's.",
			responses: { 200: { description: "The billing account", body: BillingAccountSchema } },
			params: { tenantId: { type: "uuid", optional: true, description: "super admins only; ignored for everyone else" }, $$strict: "remove" },
			async handler(this: BillingHost, ctx: BillingContext<{ tenantId?: string }>) {
				const tenantId = isSuperAdmin(ctx.meta) && ctx.params.tenantId ? ctx.params.tenantId.toLowerCase() : requireTenant(ctx.meta);
				return toAccount(await this.account(tenantId), await this.billingNow(tenantId));
			},
		},

		updateAccount: {
			rest: "PUT /account",
			permissions: ["super_admin"],
			summary: "Set an organization's tax rate (used when its plan names none) and whether its prices include tax",
			responses: { 200: { description: "The billing account", body: BillingAccountSchema } },
			errors: { 404: ["ENTITY_NOT_FOUND"] },
			params: {
				tenantId: { type: "uuid" },
				taxRateBasisPoints: { type: "number", integer: true, min: 0, max: 10_000, description: "1 % = 100" },
				taxInclusive: { type: "boolean", optional: true },
				$$strict: "remove",
			},
			async handler(this: BillingHost, ctx: BillingContext<{ tenantId: string; taxRateBasisPoints: number; taxInclusive?: boolean }>) {
				const tenantId = ctx.params.tenantId.toLowerCase();
				if (!(await this.membersAdapter.tenantExists(tenantId))) throw new EntityNotFoundError("Tenant", ctx.params.tenantId);
				const inclusive = ctx.params.taxInclusive ?? null;
				await this.adapter.db.query(
					`INSERT INTO ${table("billing_accounts")} (tenant_id, tax_rate_basis_points, tax_inclusive, clock_offset_ms, created_at, updated_at)
					 VALUES (:tenantId, :rate, COALESCE(:inclusive, false), 0, now(), now())
					 ON CONFLICT (tenant_id) DO UPDATE SET tax_rate_basis_points = EXCLUDED.tax_rate_basis_points,
					   tax_inclusive = COALESCE(:inclusive, billing_accounts.tax_inclusive), updated_at = now()`,
					{ replacements: { tenantId, rate: ctx.params.taxRateBasisPoints, inclusive } },
				);
				return toAccount(await this.account(tenantId), await this.billingNow(tenantId));
			},
		},

		advanceTestClock: {
			rest: "POST /test-clocks/advance",
			permissions: ["tenant:owner@tenantId"],
			summary: "Move an organization's billing time forward and run everything that falls due (not in production)",
			description:
				"Give exactly one of `to` (an instant after the current billing time), `days` or `seconds`. Every due job (trial ends, renewals, payment retries) runs in due order with the clock at its due time; then the clock is set to the target. The clock never goes back.",
			responses: { 200: { description: "The organization's billing time now, and how many jobs ran", body: ClockAdvanceResultSchema } },
			errors: { 404: ["ENTITY_NOT_FOUND"], 409: ["CLOCK_ADVANCING"], 422: ["CLOCK_CANNOT_GO_BACK", "CLOCK_ADVANCE_TOO_FAR"] },
			params: {
				tenantId: { type: "uuid" },
				to: { type: "date", convert: true, optional: true },
				days: { type: "number", integer: true, positive: true, max: 3650, optional: true },
				seconds: { type: "number", integer: true, positive: true, max: 3650 * 86_400, optional: true },
				$$strict: "remove",
			},
			async handler(this: BillingHost, ctx: BillingContext<AdvanceParams>) {
				const { to, days, seconds } = ctx.params;
				const given = [to, days, seconds].filter((value) => value !== undefined).length;
				if (given !== 1) {
					const message = "Give exactly one of to, days or seconds";
					throw new BadRequestError(message, "VALIDATION_ERROR", [{ field: "to", message, type: "oneOf" }]);
				}
				const tenantId = ctx.params.tenantId.toLowerCase();
				// Members were checked by the permission; a super admin may name any id, which must be a tenant.
				if (isSuperAdmin(ctx.meta) && !(await this.membersAdapter.tenantExists(tenantId))) throw new EntityNotFoundError("Tenant", ctx.params.tenantId);
				const now = await this.billingNow(tenantId);
				const target = to ?? new Date(now.getTime() + (days ?? 0) * DAY_MS + (seconds ?? 0) * 1000);
				if (target.getTime() < now.getTime()) {
					throw new UnprocessableEntityError(`The clock is at ${now.toISOString()} and never goes back`, "CLOCK_CANNOT_GO_BACK", { now: now.toISOString() });
				}
				if (target.getTime() - now.getTime() > MAX_ADVANCE_MS) throw new UnprocessableEntityError("One advance moves the clock at most ten years", "CLOCK_ADVANCE_TOO_FAR");
				const ran = await this.advanceClock(tenantId, target);
				// Whoever keeps the tenant's period or billing time (usage) drops it: the clock jumped.
				this.broker.broadcast(BILLING_EVENTS.periodChanged, { tenantId } satisfies PeriodChangedEvent);
				return { tenantId, now: (await this.billingNow(tenantId)).toISOString(), ran };
			},
		},
	},

	methods: {
		async billingNow(this: BillingHost, tenantId: string): Promise<Date> {
			if (this.production) return new Date();
			const [row] = await this.adapter.db.query<{ nowMs: string }>(
				`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
				        + COALESCE((SELECT clock_offset_ms FROM ${table("billing_accounts")} WHERE tenant_id = :tenantId), 0) AS "nowMs"`,
				{ replacements: { tenantId }, type: QueryTypes.SELECT },
			);
			return new Date(Number(row.nowMs));
		},

		async account(this: BillingHost, tenantId: string, transaction?: Transaction): Promise<AccountRow> {
			const row = await this.models.billingAccount.findByPk(tenantId, { transaction });
			return row ? row.get({ plain: true }) : { tenantId, taxRateBasisPoints: 0, taxInclusive: false, clockOffsetMs: 0 };
		},

		async setClockAtLeast(this: BillingHost, tenantId: string, at: Date): Promise<void> {
			await this.adapter.db.query(
				`INSERT INTO ${table("billing_accounts")} AS a (tenant_id, clock_offset_ms, created_at, updated_at)
				 VALUES (:tenantId, GREATEST(0, (:atMs - extract(epoch FROM clock_timestamp()) * 1000)::bigint), now(), now())
				 ON CONFLICT (tenant_id) DO UPDATE SET clock_offset_ms = GREATEST(a.clock_offset_ms, EXCLUDED.clock_offset_ms), updated_at = now()`,
				{ replacements: { tenantId, atMs: at.getTime() } },
			);
		},

		/**
		 * Runs the tenant's jobs due up to `target` one by one, earliest first, each with the clock moved to its
		 * due time (jobs a run schedules within the target run too), then moves the clock to the target. Each
		 * job is leased before the clock moves, so the background loop can't take it; one it already holds is
		 * waited for. One advance per tenant at a time (a transaction-scoped advisory lock).
		 */
		async advanceClock(this: BillingHost, tenantId: string, target: Date): Promise<number> {
			return this.adapter.db.transaction(async (lock) => {
				const [{ locked }] = await this.adapter.db.query<{ locked: boolean }>("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0)) AS locked", {
					replacements: { key: `billing.clock:${tenantId}` },
					type: QueryTypes.SELECT,
					transaction: lock,
				});
				if (!locked) throw new ConflictError("This organization's clock is being advanced already", "CLOCK_ADVANCING");
				let ran = 0;
				let waitingSince: number | undefined;
				while (ran < MAX_JOBS_PER_ADVANCE) {
					const [next] = await this.adapter.db.query<JobRow & { busy: boolean }>(
						`SELECT id, due_at AS "dueAt", (leased_until IS NOT NULL AND leased_until > now()) AS busy FROM ${table("jobs")}
						 WHERE tenant_id = :tenantId AND status = 'pending' AND due_at <= :target ORDER BY due_at, created_at LIMIT 1`,
						{ replacements: { tenantId, target }, type: QueryTypes.SELECT },
					);
					if (!next) break;
					const job = next.busy ? undefined : await this.claimJobById(next.id);
					if (!job) {
						waitingSince ??= Date.now();
						if (Date.now() - waitingSince > BUSY_JOB_WAIT_MS) throw new ConflictError("A due job of this organization is still running elsewhere; advance again shortly", "CLOCK_ADVANCING");
						await new Promise((resolve) => setTimeout(resolve, 50));
						continue;
					}
					waitingSince = undefined;
					await this.setClockAtLeast(tenantId, new Date(job.dueAt));
					await this.runBillingJob(job);
					ran += 1;
				}
				await this.setClockAtLeast(tenantId, target);
				return ran;
			});
		},
	},
});
