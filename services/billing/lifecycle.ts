/**
 * What a subscription's timers do (a mixin of billing.service.ts; the jobs are written by subscriptions.ts
 * and by each other, and run by jobs.ts in billing time):
 *
 * - trial_will_end (three days before the trial ends, or at once for a shorter trial): subscription.trial_will_end.
 * - trial_end: the first period starts (active) and its invoice (trial_end: the fixed fee in advance, the
 *   coupon, tax) is issued and collected; a subscription set to cancel ends with its trial instead.
 * - period_end (renewal): a pending cancel ends the subscription (a final subscription_cancel invoice for the
 *   ended period's metered usage); otherwise a pending downgrade takes effect and the subscription_cycle
 *   invoice holds the new period's fixed fee in advance, the ended period's metered usage in arrears (priced
 *   by the plan of the ended period, a line per charge with its tiers), the coupon's discount (one period of
 *   it used) and tax. The next period_end is set in the same transaction.
 *
 * Each checks its subscription is still in the state the job was set for (a stale job completes without
 * effect), and records its effects, its messages, the next jobs and its own completion in ONE transaction.
 * The invoice's first payment attempt is a job written in that transaction and run right after it.
 */
import type { Transaction } from "sequelize";
import { LIVE_SUBSCRIPTION_STATUSES, type PublicPlan } from "./contracts";
import { addInterval } from "./money";
import { fixedFeeLine, meteredLines } from "./lines";
import { afterCouponUse } from "./subscriptions";
import { type BillingHost, billingMixin, type InvoiceDraft, type JobRow, type LineInput, type SubscriptionRow } from "./billing.types";

function sameInstant(a: Date | string | null, b: Date | string): boolean {
	return a !== null && new Date(a).getTime() === new Date(b).getTime();
}

async function completeAlone(host: BillingHost, job: JobRow): Promise<void> {
	await host.adapter.db.transaction((transaction) => host.completeJob(transaction, job));
}

/** Issues the invoice in the transaction and writes its first payment attempt, due now (run after the commit). */
async function issueAndCollect(host: BillingHost, transaction: Transaction, draft: InvoiceDraft, owners: string[], at: Date): Promise<JobRow | undefined> {
	const invoice = await host.issueInvoice(transaction, draft, owners, at);
	return invoice.status === "open" ? host.scheduleJob(transaction, "payment_retry", invoice.tenantId, invoice.id, at, { runHere: true }) : undefined;
}

/** The ended period's metered charges under `plan`, from usage's aggregation. */
async function meteredFor(host: BillingHost, subscription: SubscriptionRow, plan: PublicPlan, start: Date, end: Date): Promise<LineInput[]> {
	if (plan.charges.length === 0) return [];
	const [quantities, metrics] = await Promise.all([
		host.usageAdapter.aggregate(
			subscription.tenantId,
			start,
			end,
			plan.charges.map((charge) => charge.metric),
		),
		host.plansAdapter.metrics(),
	]);
	return meteredLines(plan, quantities, metrics, start, end);
}

export const Lifecycle = billingMixin({
	methods: {
		async runTrialWillEnd(this: BillingHost, job: JobRow): Promise<void> {
			const row = await this.loadRow(job.subjectId);
			if (!row || row.status !== "trialing") return completeAlone(this, job);
			const owners = await this.membersAdapter.owners(row.tenantId);
			const at = await this.billingNow(row.tenantId);
			const subscription = await this.presentSubscription(row);
			await this.adapter.db.transaction(async (transaction) => {
				await this.completeJob(transaction, job);
				await this.announceBilling(transaction, "subscription.trial_will_end", row.tenantId, owners, at, { subscription });
			});
		},

		async runTrialEnd(this: BillingHost, job: JobRow): Promise<void> {
			const before = await this.loadRow(job.subjectId);
			if (!before || before.status !== "trialing" || !sameInstant(before.trialEnd, job.dueAt)) return completeAlone(this, job);
			const owners = await this.membersAdapter.owners(before.tenantId);
			const at = await this.billingNow(before.tenantId);
			const start = new Date(before.trialEnd!);
			if (before.cancelAtPeriodEnd) {
				await this.adapter.db.transaction(async (transaction) => {
					await this.completeJob(transaction, job);
					const { row } = await this.transition(before, ["trialing"], { status: "canceled", endedAt: start, cancelAtPeriodEnd: false }, { transaction });
					await this.announceBilling(transaction, "subscription.canceled", row.tenantId, owners, at, { subscription: await this.presentSubscription(row) });
				});
				await this.subscriptionChanged(before.tenantId);
				return;
			}
			const plan = await this.plansAdapter.getVersion(before.planId);
			const end = addInterval(start, plan.interval);
			const coupon = this.couponOf(before);
			const draft = await this.draftFor(before, plan, "trial_end", [fixedFeeLine(plan, start, end)], { start, end }, coupon);
			const collection = await this.adapter.db.transaction(async (transaction) => {
				await this.completeJob(transaction, job);
				const { row } = await this.transition(
					before,
					["trialing"],
					{ status: "active", currentPeriodStart: start, currentPeriodEnd: end, couponPeriodsLeft: afterCouponUse(before, coupon) },
					{ transaction },
				);
				await this.announceBilling(transaction, "subscription.updated", row.tenantId, owners, at, { subscription: await this.presentSubscription(row) });
				await this.scheduleJob(transaction, "period_end", row.tenantId, row.id, end);
				return issueAndCollect(this, transaction, draft, owners, at);
			});
			await this.runJobNow(collection);
			await this.subscriptionChanged(before.tenantId);
		},

		async runPeriodEnd(this: BillingHost, job: JobRow): Promise<void> {
			const before = await this.loadRow(job.subjectId);
			const renewable = before && before.status !== "trialing" && LIVE_SUBSCRIPTION_STATUSES.includes(before.status);
			if (!before || !renewable || !sameInstant(before.currentPeriodEnd, job.dueAt)) return completeAlone(this, job);
			const endedPlan = await this.plansAdapter.getVersion(before.planId);
			const start = new Date(before.currentPeriodStart);
			const end = new Date(before.currentPeriodEnd);
			const metered = await meteredFor(this, before, endedPlan, start, end);
			const owners = await this.membersAdapter.owners(before.tenantId);
			const at = await this.billingNow(before.tenantId);

			if (before.cancelAtPeriodEnd) {
				const draft = metered.length > 0 ? await this.draftFor(before, endedPlan, "subscription_cancel", metered, { start, end }, this.couponOf(before)) : undefined;
				const collection = await this.adapter.db.transaction(async (transaction) => {
					await this.completeJob(transaction, job);
					const { row } = await this.transition(before, [before.status], { status: "canceled", endedAt: end, cancelAtPeriodEnd: false }, { transaction });
					await this.announceBilling(transaction, "subscription.canceled", row.tenantId, owners, at, { subscription: await this.presentSubscription(row) });
					return draft ? issueAndCollect(this, transaction, draft, owners, at) : undefined;
				});
				await this.runJobNow(collection);
				await this.subscriptionChanged(before.tenantId);
				return;
			}

			const plan = before.pendingPlanId ? await this.plansAdapter.getVersion(before.pendingPlanId) : endedPlan;
			const nextEnd = addInterval(end, plan.interval);
			const coupon = this.couponOf(before);
			// The invoice's period is the one that ended (its usage); the fixed fee's line names the period it pays for.
			const draft = await this.draftFor(before, plan, "subscription_cycle", [fixedFeeLine(plan, end, nextEnd), ...metered], { start, end }, coupon);
			const collection = await this.adapter.db.transaction(async (transaction) => {
				await this.completeJob(transaction, job);
				const [count, rows] = await this.models.subscription.update(
					{ planId: plan.id, planCode: plan.code, pendingPlanId: null, currentPeriodStart: end, currentPeriodEnd: nextEnd, couponPeriodsLeft: afterCouponUse(before, coupon) },
					{ where: { id: before.id, status: before.status, currentPeriodEnd: end }, returning: true, transaction },
				);
				if (count !== 1) throw new Error(`Subscription ${before.id} changed while its period ${end.toISOString()} was renewing`);
				const row = rows[0].get({ plain: true });
				await this.announceBilling(transaction, "subscription.updated", row.tenantId, owners, at, { subscription: await this.presentSubscription(row) });
				await this.scheduleJob(transaction, "period_end", row.tenantId, row.id, nextEnd);
				return issueAndCollect(this, transaction, draft, owners, at);
			});
			await this.runJobNow(collection);
			await this.subscriptionChanged(before.tenantId);
		},
	},
});
