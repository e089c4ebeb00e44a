/**
 * Stand-ins for billing's neighbours while they are built elsewhere (issue 14): tiny `plans`, `usage` and
 * `payments` services with the action names and answer shapes billing's adapters expect
 * (services/billing/*-adapter.ts), holding their state in memory so a test decides what they answer. Once
 * the real services land, tests can run them instead and drop these.
 */
import { randomUUID } from "node:crypto";
import type { Context, ServiceBroker } from "moleculer";
import { EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import type { MeteredCharge, PublicCoupon, PublicMetric, PublicPlan } from "../../services/billing/contracts";

export interface PlanInput {
	code: string;
	name?: string;
	amount: number;
	currency?: string;
	interval?: "month" | "year";
	trialDays?: number;
	limits?: Record<string, number>;
	features?: Record<string, unknown>;
	charges?: MeteredCharge[];
	taxRateBasisPoints?: number | null;
	status?: "active" | "archived";
}

export interface PayInvoiceCall {
	tenantId: string;
	invoiceId: string;
	amount: number;
	currency: string;
	method: string;
	description?: string;
	idempotencyKey: string;
}

export interface StubPayment {
	id: string;
	status: "pending" | "succeeded" | "failed";
	failureCode: string | null;
	failureMessage: string | null;
}

export class BillingNeighbours {
	readonly plans = new Map<string, PublicPlan>();
	readonly versions = new Map<string, PublicPlan>();
	readonly coupons = new Map<string, PublicCoupon>();
	readonly metrics: PublicMetric[] = [];
	/** Per tenant: what usage.aggregate answers. */
	readonly usage = new Map<string, Record<string, number>>();
	readonly aggregateCalls: Array<{ tenantId: string; from: string; to: string; metrics?: string[] }> = [];
	/** Tenants with a saved default card, and whether charging it succeeds. */
	readonly cards = new Map<string, "succeed" | "fail">();
	readonly payCalls: PayInvoiceCall[] = [];
	readonly voided: string[] = [];
	private readonly byKey = new Map<string, StubPayment>();

	addPlan(input: PlanInput): PublicPlan {
		const previous = this.plans.get(input.code);
		const plan: PublicPlan = {
			id: randomUUID(),
			code: input.code,
			version: (previous?.version ?? 0) + 1,
			name: input.name ?? input.code[0].toUpperCase() + input.code.slice(1),
			description: "",
			interval: input.interval ?? "month",
			amount: input.amount,
			currency: input.currency ?? "USD",
			trialDays: input.trialDays ?? 0,
			limits: input.limits ?? {},
			features: input.features ?? {},
			charges: input.charges ?? [],
			taxRateBasisPoints: input.taxRateBasisPoints ?? null,
			status: input.status ?? "active",
			createdAt: new Date().toISOString(),
		};
		this.plans.set(plan.code, plan);
		this.versions.set(plan.id, plan);
		return plan;
	}

	addCoupon(input: Partial<PublicCoupon> & { code: string; duration: PublicCoupon["duration"] }): PublicCoupon {
		const coupon: PublicCoupon = {
			id: randomUUID(),
			name: input.code,
			percentOffBasisPoints: null,
			amountOff: null,
			currency: null,
			durationPeriods: null,
			maxRedemptions: null,
			timesRedeemed: 0,
			expiresAt: null,
			status: "active",
			createdAt: new Date().toISOString(),
			...input,
		};
		this.coupons.set(coupon.code, coupon);
		return coupon;
	}

	/** The payment payInvoice answered for an idempotency key (`<invoiceId>:<attempt>`). */
	paymentFor(idempotencyKey: string): StubPayment | undefined {
		return this.byKey.get(idempotencyKey);
	}

	/** The services, created on `broker` (any node of the cluster). */
	install(broker: ServiceBroker): void {
		// eslint-disable-next-line @typescript-eslint/no-this-alias
		const stubs = this;
		broker.createService({
			name: "plans",
			actions: {
				current: {
					params: { code: "string" },
					handler(ctx: Context<{ code: string }>) {
						const plan = stubs.plans.get(ctx.params.code);
						if (!plan) throw new EntityNotFoundError("Plan", ctx.params.code);
						return plan;
					},
				},
				getVersion: {
					params: { id: "string" },
					handler(ctx: Context<{ id: string }>) {
						const plan = stubs.versions.get(ctx.params.id);
						if (!plan) throw new EntityNotFoundError("Plan", ctx.params.id);
						return plan;
					},
				},
				freePlan: {
					handler() {
						return stubs.plans.get("free");
					},
				},
				redeemCoupon: {
					params: { code: "string", currency: "string" },
					handler(ctx: Context<{ code: string; currency: string }>) {
						const coupon = stubs.coupons.get(ctx.params.code);
						const usable =
							coupon &&
							coupon.status === "active" &&
							(!coupon.expiresAt || new Date(coupon.expiresAt) > new Date()) &&
							(coupon.maxRedemptions === null || coupon.timesRedeemed < coupon.maxRedemptions) &&
							(coupon.currency === null || coupon.currency === ctx.params.currency);
						if (!usable) throw new UnprocessableEntityError(`Coupon ${ctx.params.code} can't be redeemed`, "COUPON_INVALID");
						coupon.timesRedeemed += 1;
						return coupon;
					},
				},
				metrics: {
					handler() {
						return stubs.metrics;
					},
				},
			},
		});
		broker.createService({
			name: "usage",
			actions: {
				aggregate: {
					params: { tenantId: "string", from: "string", to: "string", metrics: { type: "array", items: "string", optional: true } },
					handler(ctx: Context<{ tenantId: string; from: string; to: string; metrics?: string[] }>) {
						stubs.aggregateCalls.push(ctx.params);
						return stubs.usage.get(ctx.params.tenantId) ?? {};
					},
				},
			},
		});
		broker.createService({
			name: "payments",
			actions: {
				payInvoice: {
					params: { $$strict: false },
					handler(ctx: Context<PayInvoiceCall>) {
						stubs.payCalls.push(ctx.params);
						const known = stubs.byKey.get(ctx.params.idempotencyKey);
						if (known) return known;
						let payment: StubPayment;
						if (ctx.params.method !== "credit_card") {
							payment = { id: randomUUID(), status: "pending", failureCode: null, failureMessage: null };
						} else {
							const card = stubs.cards.get(ctx.params.tenantId);
							if (!card) throw new UnprocessableEntityError("No saved card", "PAYMENT_METHOD_REQUIRED");
							payment =
								card === "succeed"
									? { id: randomUUID(), status: "succeeded", failureCode: null, failureMessage: null }
									: { id: randomUUID(), status: "failed", failureCode: "card_declined", failureMessage: "Your card was declined." };
						}
						stubs.byKey.set(ctx.params.idempotencyKey, payment);
						return payment;
					},
				},
				defaultPaymentMethod: {
					params: { tenantId: "string" },
					handler(ctx: Context<{ tenantId: string }>) {
						return stubs.cards.has(ctx.params.tenantId) ? { id: randomUUID(), tenantId: ctx.params.tenantId, type: "card", brand: "visa", last4: "4242", isDefault: true } : null;
					},
				},
				voidForInvoice: {
					params: { invoiceId: "string", reason: "string" },
					handler(ctx: Context<{ invoiceId: string }>) {
						stubs.voided.push(ctx.params.invoiceId);
						return [];
					},
				},
			},
		});
	}
}
