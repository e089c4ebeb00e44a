/**
 * Billing as the source of each tenant's limits and plan (a mixin of billing.service.ts), internal actions
 * other services call:
 *
 *   billing.limits {tenantId}       → TenantLimits: the live subscription's plan limits over the free plan's;
 *                                     `unpaid` (or no subscription) → the free plan. Cached 60 s per tenant and
 *                                     cleaned on every node at any subscription change, which is also broadcast
 *                                     (BILLING_EVENTS.limitsChanged and periodChanged) for other services' caches.
 *   billing.currentPlan {tenantId}  → { plan, periodStart, periodEnd, now }: the subscription's plan and period,
 *                                     or the free plan and the calendar month (UTC) of the tenant's billing time.
 *   billing.plansInUse {planIds}    → { inUse: planIds[] }: those a live subscription runs on or is due to move to
 *                                     (plans refuses to delete a plan with any).
 */
import { Op } from "sequelize";
import { BILLING_EVENTS, FREE_PLAN_CODE, FREE_PLAN_LIMITS, LIVE_SUBSCRIPTION_STATUSES, type LimitsChangedEvent, type PeriodChangedEvent, type PublicPlan, type TenantLimits } from "./contracts";
import { type BillingContext, type BillingHost, billingMixin } from "./billing.types";

/** The free plan as plans answers it, or — with no plans node to ask — the platform's constant limits. */
async function freePlanOrDefault(host: BillingHost): Promise<Pick<PublicPlan, "code" | "limits" | "features">> {
	try {
		return await host.plansAdapter.freePlan();
	} catch (err) {
		if ((err as { name?: string }).name !== "ServiceNotFoundError") throw err;
		return { code: FREE_PLAN_CODE, limits: { ...FREE_PLAN_LIMITS }, features: {} };
	}
}

export const Limits = billingMixin({
	actions: {
		limits: {
			visibility: "public",
			cache: { keys: ["tenantId"], ttl: 60 },
			params: { tenantId: "uuid" },
			async handler(this: BillingHost, ctx: BillingContext<{ tenantId: string }>): Promise<TenantLimits> {
				const tenantId = ctx.params.tenantId.toLowerCase();
				const [free, subscription] = await Promise.all([freePlanOrDefault(this), this.liveSubscription(tenantId)]);
				const base = { ...FREE_PLAN_LIMITS, ...free.limits };
				if (!subscription || subscription.status === "unpaid") {
					return { tenantId, planCode: free.code, subscriptionStatus: subscription?.status ?? null, limits: base, features: free.features };
				}
				const plan = await this.plansAdapter.getVersion(subscription.planId);
				return {
					tenantId,
					planCode: plan.code,
					subscriptionStatus: subscription.status,
					limits: { ...base, ...plan.limits },
					features: { ...free.features, ...plan.features },
				};
			},
		},

		currentPlan: {
			visibility: "public",
			params: { tenantId: "uuid" },
			async handler(this: BillingHost, ctx: BillingContext<{ tenantId: string }>) {
				const tenantId = ctx.params.tenantId.toLowerCase();
				const [subscription, now] = await Promise.all([this.liveSubscription(tenantId), this.billingNow(tenantId)]);
				if (subscription) {
					return {
						plan: await this.plansAdapter.getVersion(subscription.planId),
						periodStart: new Date(subscription.currentPeriodStart).toISOString(),
						periodEnd: new Date(subscription.currentPeriodEnd).toISOString(),
						now: now.toISOString(),
					};
				}
				const periodStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
				const periodEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
				return { plan: await this.plansAdapter.freePlan(), periodStart: periodStart.toISOString(), periodEnd: periodEnd.toISOString(), now: now.toISOString() };
			},
		},

		plansInUse: {
			visibility: "public",
			params: { planIds: { type: "array", items: "uuid", min: 1, max: 1000 } },
			async handler(this: BillingHost, ctx: BillingContext<{ planIds: string[] }>) {
				const ids = ctx.params.planIds.map((id) => id.toLowerCase());
				const rows = await this.models.subscription.findAll({
					attributes: ["planId", "pendingPlanId"],
					where: { status: [...LIVE_SUBSCRIPTION_STATUSES], [Op.or]: [{ planId: ids }, { pendingPlanId: ids }] },
				});
				const used = new Set(rows.map((row) => row.get({ plain: true })).flatMap((row) => [row.planId, row.pendingPlanId]));
				return { inUse: ids.filter((id) => used.has(id)) };
			},
		},
	},

	methods: {
		async subscriptionChanged(this: BillingHost, tenantId: string): Promise<void> {
			// Cleans this service's cache on every node (moleculer-db broadcasts cache.clean.billing).
			await this.entityChanged("updated", { tenantId }, undefined as never);
			this.broker.broadcast(BILLING_EVENTS.limitsChanged, { tenantId } satisfies LimitsChangedEvent);
			this.broker.broadcast(BILLING_EVENTS.periodChanged, { tenantId } satisfies PeriodChangedEvent);
		},
	},
});
