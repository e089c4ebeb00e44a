/**
 * Subscriptions (a mixin of billing.service.ts): one live subscription per tenant (trialing, active,
 * past_due or unpaid; Stripe's vocabulary), what a tenant owner does with it, and what callers see of it.
 *
 * - POST /subscriptions: with a trial the subscription is trialing for the plan's trial days (its period is
 *   the trial); without, the first invoice (subscription_create: the first period's fixed fee) is issued and
 *   collected at once. A card needs the tenant's saved default card up front.
 * - PUT /subscriptions/current: an upgrade (the new plan costs at least as much per period) takes effect at
 *   once, prorated to the day on a subscription_update invoice (credit for the old plan's unused days,
 *   charge for the new plan's); a downgrade waits for the period end (`pendingPlan`) unless `immediately`.
 *   In a trial any change takes effect at once (nothing is invoiced before the trial ends).
 * - DELETE /subscriptions/current: cancel at the period end, or `immediately=true` now (a final
 *   subscription_cancel invoice for the metered usage so far). POST /subscriptions/current/resume undoes a
 *   pending cancel.
 *
 * Status changes are guarded (mixins/aggregate.mixin.ts, SUBSCRIPTION_TRANSITIONS); other changes are
 * guarded updates too (`where` the state they were decided on). Each change commits with its outbox message.
 */
import type { Transaction } from "sequelize";
import { LIVE_SUBSCRIPTION_STATUSES, BILLING_PAYMENT_METHODS, PublicSubscriptionSchema, SUBSCRIPTION_STATUSES } from "./contracts";
import type { PublicCoupon, PublicPlan, PublicSubscription, SubscriptionStatus } from "./contracts";
import { PAGE_PARAMS, plainRow } from "../../mixins/db.mixin";
import { requireTenant } from "../../lib/caller";
import { ConflictError, NotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { apiPath, created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";
import { addInterval } from "./money";
import { fixedFeeLine, meteredLines, prorationLines } from "./lines";
import { type BillingContext, type BillingHost, billingMixin, type CouponTerms, type CreateSubscriptionParams, type JobRow, type SubscriptionRow } from "./billing.types";

const DAY_MS = 86_400_000;
const TRIAL_NOTICE_MS = 3 * DAY_MS;
const PLAN_CODE = { type: "string", trim: true, min: 1, max: 64 } as const;

function iso(value: Date | string | null | undefined): string | null {
	return value ? new Date(value).toISOString() : null;
}

/** A coupon's discount periods once it has discounted one (null: forever). */
export function afterCouponUse(row: SubscriptionRow, applied: CouponTerms | null): number | null {
	return applied && row.couponPeriodsLeft !== null ? Math.max(0, row.couponPeriodsLeft - 1) : row.couponPeriodsLeft;
}

function couponColumns(coupon: PublicCoupon | null): Partial<SubscriptionRow> {
	if (!coupon) return {};
	return {
		couponId: coupon.id,
		couponCode: coupon.code,
		couponPeriodsLeft: coupon.duration === "once" ? 1 : coupon.duration === "repeating" ? (coupon.durationPeriods ?? 1) : null,
		couponPercentOffBasisPoints: coupon.percentOffBasisPoints,
		couponAmountOff: coupon.amountOff,
	};
}

function notFound(): NotFoundError {
	return new NotFoundError("The organization has no live subscription", "SUBSCRIPTION_NOT_FOUND");
}

export const Subscriptions = billingMixin({
	actions: {
		createSubscription: {
			rest: { method: "POST", fullPath: apiPath("subscriptions") },
			permissions: ["tenant:owner"],
			summary: "Subscribe the organization to a plan (one live subscription at a time)",
			description:
				"A plan with trial days starts `trialing` (its first invoice comes when the trial ends); one without is invoiced and charged now. `credit_card` charges the organization's saved default card (422 PAYMENT_METHOD_REQUIRED without one); the other methods are paid by transfer against the invoice's payment instructions.",
			responses: { 201: { description: "The new subscription", body: PublicSubscriptionSchema, headers: { Location: "The current subscription's URL" } } },
			errors: { 409: ["SUBSCRIPTION_EXISTS"], 422: ["UNKNOWN_PLAN", "PLAN_NOT_AVAILABLE", "PAYMENT_METHOD_REQUIRED", "COUPON_INVALID"] },
			params: {
				planCode: PLAN_CODE,
				couponCode: { type: "string", trim: true, min: 1, max: 64, optional: true },
				paymentMethod: { type: "enum", values: BILLING_PAYMENT_METHODS },
				$$strict: "remove",
			},
			async handler(this: BillingHost, ctx: BillingContext<CreateSubscriptionParams>) {
				const tenantId = requireTenant(ctx.meta);
				const row = await this.subscribe(tenantId, ctx.meta.user?.id ?? null, ctx.params);
				created(ctx, "subscriptions", "current");
				return this.presentSubscription(row);
			},
		},

		currentSubscription: {
			rest: { method: "GET", fullPath: apiPath("subscriptions/current") },
			permissions: ["tenant:viewer"],
			summary: "The organization's live subscription",
			responses: { 200: { description: "The live subscription", body: PublicSubscriptionSchema } },
			errors: { 404: ["SUBSCRIPTION_NOT_FOUND"] },
			params: {},
			async handler(this: BillingHost, ctx: BillingContext) {
				const row = await this.liveSubscription(requireTenant(ctx.meta));
				if (!row) throw notFound();
				return this.presentSubscription(row);
			},
		},

		listSubscriptions: {
			rest: { method: "GET", fullPath: apiPath("subscriptions") },
			permissions: ["tenant:viewer"],
			summary: "The organization's subscriptions, newest first, ended ones included (super admins: everyone's)",
			responses: { 200: { description: "A page of subscriptions, newest first", body: PageOf(PublicSubscriptionSchema) } },
			params: {
				...PAGE_PARAMS,
				status: { type: "enum", values: SUBSCRIPTION_STATUSES, optional: true },
				tenantId: { type: "uuid", optional: true, description: "super admins only; ignored for everyone else" },
				$$strict: "remove",
			},
			async handler(this: BillingHost, ctx: BillingContext<{ page: number; pageSize: number; status?: SubscriptionStatus; tenantId?: string }>) {
				const { page, pageSize, status, tenantId } = ctx.params;
				// A platform caller may narrow to one tenant; for anyone else the owner condition puts their own there.
				const where = { ...(tenantId ? { tenantId: tenantId.toLowerCase() } : {}), ...(status ? { status } : {}) };
				const found = await this.scoped(ctx).page({ page, pageSize, where });
				return { ...found, rows: await this.presentSubscriptions(found.rows) };
			},
		},

		changePlan: {
			rest: { method: "PUT", fullPath: apiPath("subscriptions/current") },
			permissions: ["tenant:owner"],
			summary: "Change the plan: an upgrade now (prorated to the day), a downgrade at the period end unless `immediately`",
			description:
				"An upgrade (a plan costing at least as much per period) takes effect at once: a subscription_update invoice credits the old plan's unused days and charges the new plan's, and is charged now. A downgrade waits for the period end (`pendingPlan`); with `immediately: true` it is prorated now like an upgrade (the credit may bring the invoice to 0). Asking for the current plan again undoes a pending downgrade. The new plan must have the same currency and interval.",
			responses: { 200: { description: "The subscription after the change", body: PublicSubscriptionSchema } },
			errors: {
				404: ["SUBSCRIPTION_NOT_FOUND"],
				409: ["ALREADY_ON_PLAN", "SUBSCRIPTION_UNPAID", "SUBSCRIPTION_CHANGED"],
				422: ["UNKNOWN_PLAN", "PLAN_NOT_AVAILABLE", "CURRENCY_MISMATCH", "INTERVAL_MISMATCH"],
			},
			params: { planCode: PLAN_CODE, immediately: { type: "boolean", optional: true, default: false }, $$strict: "remove" },
			async handler(this: BillingHost, ctx: BillingContext<{ planCode: string; immediately: boolean }>) {
				const before = await this.liveSubscription(requireTenant(ctx.meta));
				if (!before) throw notFound();
				return this.presentSubscription(await this.changeTo(before, ctx.params.planCode, ctx.params.immediately));
			},
		},

		cancelSubscription: {
			rest: { method: "DELETE", fullPath: apiPath("subscriptions/current") },
			permissions: ["tenant:owner"],
			summary: "Cancel the subscription at the period end, or now with `immediately=true`",
			description:
				"At the period end (the default) the subscription stays as it is until then (`cancelAtPeriodEnd`), and resume undoes it. Now: it ends at once, and a final subscription_cancel invoice charges the metered usage of the period so far.",
			responses: { 200: { description: "The subscription after the cancel", body: PublicSubscriptionSchema } },
			errors: { 404: ["SUBSCRIPTION_NOT_FOUND"], 409: ["SUBSCRIPTION_CHANGED", "INVALID_TRANSITION"] },
			params: { immediately: { type: "boolean", convert: true, optional: true, default: false }, $$strict: "remove" },
			async handler(this: BillingHost, ctx: BillingContext<{ immediately: boolean }>) {
				const before = await this.liveSubscription(requireTenant(ctx.meta));
				if (!before) throw notFound();
				return this.presentSubscription(ctx.params.immediately ? await this.cancelNow(before) : await this.cancelAtEnd(before));
			},
		},

		resumeSubscription: {
			rest: { method: "POST", fullPath: apiPath("subscriptions/current/resume") },
			permissions: ["tenant:owner"],
			summary: "Undo a pending cancel: the subscription renews at the period end again",
			responses: { 200: { description: "The subscription, renewing again", body: PublicSubscriptionSchema } },
			errors: { 404: ["SUBSCRIPTION_NOT_FOUND"], 409: ["CANCELLATION_NOT_PENDING", "SUBSCRIPTION_CHANGED"] },
			params: {},
			async handler(this: BillingHost, ctx: BillingContext) {
				const before = await this.liveSubscription(requireTenant(ctx.meta));
				if (!before) throw notFound();
				if (!before.cancelAtPeriodEnd) throw new ConflictError("The subscription is not set to cancel", "CANCELLATION_NOT_PENDING");
				return this.presentSubscription(await this.updateAnnounced(before, { cancelAtPeriodEnd: false, canceledAt: null }, { cancelAtPeriodEnd: true }));
			},
		},
	},

	methods: {
		async liveSubscription(this: BillingHost, tenantId: string, transaction?: Transaction): Promise<SubscriptionRow | undefined> {
			return plainRow(await this.models.subscription.findOne({ where: { tenantId, status: [...LIVE_SUBSCRIPTION_STATUSES] }, transaction }));
		},

		couponOf(this: BillingHost, row: SubscriptionRow): CouponTerms | null {
			if (!row.couponId || row.couponPeriodsLeft === 0) return null;
			return { percentOffBasisPoints: row.couponPercentOffBasisPoints, amountOff: row.couponAmountOff === null ? null : Number(row.couponAmountOff) };
		},

		async subscribe(this: BillingHost, tenantId: string, userId: string | null, params: CreateSubscriptionParams): Promise<SubscriptionRow> {
			const exists = () => new ConflictError("The organization already has a live subscription: change its plan instead", "SUBSCRIPTION_EXISTS");
			if (await this.liveSubscription(tenantId)) throw exists();
			const plan = await this.availablePlan(params.planCode);
			if (params.paymentMethod === "credit_card" && !(await this.paymentsAdapter.hasDefaultCard(tenantId))) {
				throw new UnprocessableEntityError("Save a card for the organization first (it is charged for every invoice)", "PAYMENT_METHOD_REQUIRED");
			}
			// Redeemed before the row exists: a lost race for the one live subscription costs the coupon a redemption.
			const now = await this.billingNow(tenantId);
			const coupon = params.couponCode ? await this.plansAdapter.redeemCoupon(params.couponCode, plan.currency, now) : null;
			const owners = await this.membersAdapter.owners(tenantId);
			const trialEnd = plan.trialDays > 0 ? new Date(now.getTime() + plan.trialDays * DAY_MS) : null;
			const periodEnd = trialEnd ?? addInterval(now, plan.interval);
			const status: SubscriptionStatus = trialEnd ? "trialing" : "active";
			const fields = {
				tenantId,
				planId: plan.id,
				planCode: plan.code,
				status,
				paymentMethod: params.paymentMethod,
				currentPeriodStart: now,
				currentPeriodEnd: periodEnd,
				trialStart: trialEnd ? now : null,
				trialEnd,
				createdBy: userId,
				...couponColumns(coupon),
			};
			// Without a trial the first invoice applies the coupon now: the row starts with that period used.
			const applied = trialEnd ? null : this.couponOf(fields as SubscriptionRow);
			const draft = trialEnd ? undefined : await this.draftFor(fields as SubscriptionRow, plan, "subscription_create", [fixedFeeLine(plan, now, periodEnd)], { start: now, end: periodEnd }, applied);
			let collection: JobRow | undefined;
			const row = await this.adapter.db.transaction(async (transaction) => {
				let inserted: SubscriptionRow;
				try {
					inserted = (await this.models.subscription.create({ ...fields, couponPeriodsLeft: afterCouponUse(fields as SubscriptionRow, applied) }, { transaction })).get({ plain: true });
				} catch (err) {
					if ((err as Error).name === "SequelizeUniqueConstraintError") throw exists();
					throw err;
				}
				await this.announceBilling(transaction, "subscription.created", tenantId, owners, now, { subscription: await this.presentSubscription(inserted) });
				if (trialEnd) {
					await this.scheduleJob(transaction, "trial_will_end", tenantId, inserted.id, new Date(Math.max(now.getTime(), trialEnd.getTime() - TRIAL_NOTICE_MS)));
					await this.scheduleJob(transaction, "trial_end", tenantId, inserted.id, trialEnd);
					return inserted;
				}
				await this.scheduleJob(transaction, "period_end", tenantId, inserted.id, periodEnd);
				const invoice = await this.issueInvoice(transaction, { ...draft!, subscriptionId: inserted.id }, owners, now);
				if (invoice.status === "open") collection = await this.scheduleJob(transaction, "payment_retry", tenantId, invoice.id, now, { runHere: true });
				return inserted;
			});
			await this.runJobNow(collection);
			await this.subscriptionChanged(tenantId);
			return (await this.loadRow(row.id)) ?? row;
		},

		/** The current version of an active plan, or 422. */
		async availablePlan(this: BillingHost, code: string): Promise<PublicPlan> {
			const plan = await this.plansAdapter.current(code);
			if (!plan) throw new UnprocessableEntityError(`There is no plan "${code}"`, "UNKNOWN_PLAN", { planCode: code });
			if (plan.status !== "active") throw new UnprocessableEntityError(`The plan "${code}" is no longer offered`, "PLAN_NOT_AVAILABLE", { planCode: code });
			return plan;
		},

		async changeTo(this: BillingHost, before: SubscriptionRow, planCode: string, immediately: boolean): Promise<SubscriptionRow> {
			if (before.status === "unpaid") throw new ConflictError("Pay the open invoice first: the subscription is unpaid", "SUBSCRIPTION_UNPAID");
			const [oldPlan, newPlan] = await Promise.all([this.plansAdapter.getVersion(before.planId), this.availablePlan(planCode)]);
			if (newPlan.id === before.planId) {
				if (!before.pendingPlanId) throw new ConflictError(`The subscription is on ${newPlan.code} already`, "ALREADY_ON_PLAN");
				// Back to the plan it is on: the pending downgrade is undone.
				return this.updateAnnounced(before, { pendingPlanId: null }, { pendingPlanId: before.pendingPlanId });
			}
			if (newPlan.currency !== oldPlan.currency) {
				throw new UnprocessableEntityError(`The plan ${newPlan.code} is in ${newPlan.currency}; the subscription pays in ${oldPlan.currency}`, "CURRENCY_MISMATCH");
			}
			if (newPlan.interval !== oldPlan.interval) {
				throw new UnprocessableEntityError(`The plan ${newPlan.code} renews every ${newPlan.interval}; the subscription every ${oldPlan.interval}: cancel and subscribe anew`, "INTERVAL_MISMATCH");
			}
			const planColumns = { planId: newPlan.id, planCode: newPlan.code, pendingPlanId: null };
			const unchanged = { planId: before.planId };
			// Nothing is invoiced during a trial: any change just takes effect (and the trial's end invoices the new plan).
			if (before.status === "trialing") {
				const row = await this.updateAnnounced(before, planColumns, unchanged);
				await this.subscriptionChanged(row.tenantId);
				return row;
			}
			if (newPlan.amount < oldPlan.amount && !immediately) return this.updateAnnounced(before, { pendingPlanId: newPlan.id }, unchanged);
			const owners = await this.membersAdapter.owners(before.tenantId);
			const now = await this.billingNow(before.tenantId);
			const lines = prorationLines(oldPlan, newPlan, new Date(before.currentPeriodStart), new Date(before.currentPeriodEnd), now);
			const draft = await this.draftFor(before, newPlan, "subscription_update", lines, { start: now, end: new Date(before.currentPeriodEnd) }, this.couponOf(before));
			let collection: JobRow | undefined;
			const row = await this.adapter.db.transaction(async (transaction) => {
				const changed = await this.updateAnnounced(before, planColumns, unchanged, { transaction, owners, at: now });
				const invoice = await this.issueInvoice(transaction, draft, owners, now);
				if (invoice.status === "open") collection = await this.scheduleJob(transaction, "payment_retry", before.tenantId, invoice.id, now, { runHere: true });
				return changed;
			});
			await this.runJobNow(collection);
			await this.subscriptionChanged(row.tenantId);
			return (await this.loadRow(row.id)) ?? row;
		},

		async cancelAtEnd(this: BillingHost, before: SubscriptionRow): Promise<SubscriptionRow> {
			if (before.cancelAtPeriodEnd) return before;
			return this.updateAnnounced(before, { cancelAtPeriodEnd: true, canceledAt: await this.billingNow(before.tenantId) }, { cancelAtPeriodEnd: false });
		},

		async cancelNow(this: BillingHost, before: SubscriptionRow): Promise<SubscriptionRow> {
			const plan = await this.plansAdapter.getVersion(before.planId);
			const owners = await this.membersAdapter.owners(before.tenantId);
			const now = await this.billingNow(before.tenantId);
			const start = new Date(before.currentPeriodStart);
			// The usage so far is owed (in arrears); the fixed fee was paid in advance and is not refunded.
			const metered = before.status !== "trialing" && plan.charges.length > 0 && now.getTime() > start.getTime();
			const lines = metered
				? meteredLines(plan, await this.usageAdapter.aggregate(before.tenantId, start, now, plan.charges.map((charge) => charge.metric)), await this.plansAdapter.metrics(), start, now)
				: [];
			const draft = lines.length > 0 ? await this.draftFor(before, plan, "subscription_cancel", lines, { start, end: now }, this.couponOf(before)) : undefined;
			let collection: JobRow | undefined;
			const row = await this.adapter.db.transaction(async (transaction) => {
				const { row: canceled } = await this.transition(
					before,
					LIVE_SUBSCRIPTION_STATUSES,
					{ status: "canceled", canceledAt: before.canceledAt ?? now, endedAt: now, cancelAtPeriodEnd: false },
					{ transaction },
				);
				await this.cancelJobs(transaction, canceled.id, ["trial_will_end", "trial_end", "period_end"]);
				await this.announceBilling(transaction, "subscription.canceled", canceled.tenantId, owners, now, { subscription: await this.presentSubscription(canceled) });
				if (draft) {
					const invoice = await this.issueInvoice(transaction, draft, owners, now);
					if (invoice.status === "open") collection = await this.scheduleJob(transaction, "payment_retry", canceled.tenantId, invoice.id, now, { runHere: true });
				}
				return canceled;
			});
			await this.runJobNow(collection);
			await this.subscriptionChanged(row.tenantId);
			return row;
		},

		/**
		 * A change that is not a status change, guarded by the status and the `expected` columns it was decided
		 * on, committed with subscription.updated (in the caller's transaction when given).
		 */
		async updateAnnounced(
			this: BillingHost,
			before: SubscriptionRow,
			changes: Partial<SubscriptionRow>,
			expected: Partial<SubscriptionRow>,
			options: { transaction?: Transaction; owners?: string[]; at?: Date } = {},
		): Promise<SubscriptionRow> {
			const owners = options.owners ?? (await this.membersAdapter.owners(before.tenantId));
			const at = options.at ?? (await this.billingNow(before.tenantId));
			const apply = async (transaction: Transaction) => {
				const [count, rows] = await this.models.subscription.update(changes, {
					where: { id: before.id, status: [...LIVE_SUBSCRIPTION_STATUSES], ...expected },
					returning: true,
					transaction,
				});
				if (count !== 1) throw new ConflictError("The subscription changed meanwhile: read it again", "SUBSCRIPTION_CHANGED");
				const row = rows[0].get({ plain: true });
				await this.announceBilling(transaction, "subscription.updated", row.tenantId, owners, at, { subscription: await this.presentSubscription(row) });
				return row;
			};
			return options.transaction ? apply(options.transaction) : this.adapter.db.transaction(apply);
		},

		present(this: BillingHost, row: SubscriptionRow): Promise<PublicSubscription> {
			return this.presentSubscription(row);
		},

		async presentSubscriptions(this: BillingHost, rows: SubscriptionRow[]): Promise<PublicSubscription[]> {
			return Promise.all(rows.map((row) => this.presentSubscription(row)));
		},

		async presentSubscription(this: BillingHost, row: SubscriptionRow): Promise<PublicSubscription> {
			const [plan, pendingPlan] = await Promise.all([this.plansAdapter.getVersion(row.planId), row.pendingPlanId ? this.plansAdapter.getVersion(row.pendingPlanId) : null]);
			return {
				id: row.id,
				tenantId: row.tenantId,
				plan,
				status: row.status,
				paymentMethod: row.paymentMethod,
				currentPeriodStart: iso(row.currentPeriodStart)!,
				currentPeriodEnd: iso(row.currentPeriodEnd)!,
				trialStart: iso(row.trialStart),
				trialEnd: iso(row.trialEnd),
				cancelAtPeriodEnd: row.cancelAtPeriodEnd,
				canceledAt: iso(row.canceledAt),
				endedAt: iso(row.endedAt),
				pendingPlan,
				couponCode: row.couponCode,
				couponPeriodsLeft: row.couponId ? row.couponPeriodsLeft : null,
				createdAt: iso(row.createdAt)!,
				updatedAt: iso(row.updatedAt)!,
			};
		},
	},
});
