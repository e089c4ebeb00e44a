/**
 * The billing domain's public face: what other domains may import from it (and nothing else). Plans and
 * their prices, subscriptions, usage metering, invoices; the events and durable channels billing publishes
 * and the payloads they carry; the limits every tenant is held to.
 *
 * Money is exact: integer minor units of the amount's ISO 4217 currency, never a float. Usage quantities are
 * integers (a count, bytes, seconds…): a metric that needs fractions meters a smaller unit. Rounding happens in
 * one place (services/billing/money.ts): half away from zero, once per line.
 */
import { AnyObject, DateTime, Enum, Nullable, Type, Uuid, type Static } from "../../lib/schema";

/** An ISO 4217 code as answered: upper case. */
const Currency = Type.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 currency code" });
const Minor = (description: string) => Type.Integer({ description: `${description} In the currency's minor unit.` });

// --- Limits ----------------------------------------------------------------------------------------------

/**
 * The limits tenants are held to, by name. -1 means unlimited. Plans may name more (later domains add
 * theirs); a plan that doesn't name one gives the free plan's value.
 */
export const LIMIT_NAMES = [
	"members",
	"apiKeys",
	"storageBytes",
	"webhookEndpoints",
	"projects",
	"screenshotsPerMonth",
	"reviewSources",
	"widgets",
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];
export type Limits = Record<string, number>;

/**
 * The free plan: what a tenant without a live subscription (or whose subscription is `unpaid`) gets. Billing
 * seeds it as the plan `free`; this constant is also what tenants answers when no billing node is deployed.
 */
export const FREE_PLAN_CODE = "free";
export const FREE_PLAN_LIMITS: Readonly<Record<LimitName, number>> = Object.freeze({
	members: 5,
	apiKeys: 5,
	storageBytes: 1024 ** 3,
	webhookEndpoints: 3,
	projects: 3,
	screenshotsPerMonth: 100,
	reviewSources: 2,
	widgets: 1,
});

/** `billing.limits` answer: the tenant's effective limits and where they come from. */
export const TenantLimitsSchema = Type.Object({
	tenantId: Uuid,
	planCode: Type.String(),
	subscriptionStatus: Nullable(Type.String()),
	limits: Type.Record(Type.String(), Type.Integer({ minimum: -1 })),
	features: AnyObject,
});
export type TenantLimits = Static<typeof TenantLimitsSchema>;

// --- Metrics and plans -----------------------------------------------------------------------------------

/** How a metric's events of one period become one quantity (Lago's aggregations). */
export const AGGREGATIONS = ["count", "sum", "max", "unique_count"] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export const PublicMetricSchema = Type.Object({
	code: Type.String({ description: "What usage events name, e.g. `screenshots`." }),
	name: Type.String(),
	description: Type.String(),
	aggregation: Enum(AGGREGATIONS),
	field: Nullable(Type.String({ description: "For sum and max: the event's `value` when null; for unique_count: the property counted." })),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicMetric = Static<typeof PublicMetricSchema>;

export const PLAN_INTERVALS = ["month", "year"] as const;
export type PlanInterval = (typeof PLAN_INTERVALS)[number];
export const PLAN_STATUSES = ["active", "archived"] as const;
export type PlanStatus = (typeof PLAN_STATUSES)[number];
export const PRICING_MODELS = ["per_unit", "package", "graduated"] as const;
export type PricingModel = (typeof PRICING_MODELS)[number];

/** A graduated tier: units up to `upTo` (inclusive; null: no end) cost `unitAmount` each plus `flatAmount` once. */
export const PriceTierSchema = Type.Object({
	upTo: Nullable(Type.Integer({ minimum: 1 })),
	unitAmount: Minor("Per unit in this tier."),
	flatAmount: Minor("Once, when usage reaches this tier."),
});
export type PriceTier = Static<typeof PriceTierSchema>;

/**
 * A metered charge of a plan. `freeUnits` are subtracted from the period's quantity first. `per_unit`:
 * quantity × unitAmount. `package`: every started package of `packageSize` units costs `packageAmount`.
 * `graduated`: each unit priced by the tier it falls in.
 */
export const MeteredChargeSchema = Type.Object({
	metric: Type.String(),
	model: Enum(PRICING_MODELS),
	freeUnits: Type.Integer({ minimum: 0 }),
	unitAmount: Type.Optional(Minor("per_unit: per unit.")),
	packageSize: Type.Optional(Type.Integer({ minimum: 1 })),
	packageAmount: Type.Optional(Minor("package: per started package.")),
	tiers: Type.Optional(Type.Array(PriceTierSchema)),
	hardLimit: Type.Optional(Nullable(Type.Integer({ minimum: 0, description: "Usage past this in a period is refused (403 PLAN_LIMIT_REACHED) by the consuming service." }))),
});
export type MeteredCharge = Static<typeof MeteredChargeSchema>;

/**
 * A plan as answered: one version of it. A change to what it costs makes a new version (the `code` stays,
 * `version` grows); running subscriptions keep the version they started on.
 */
export const PublicPlanSchema = Type.Object({
	id: Uuid,
	code: Type.String(),
	version: Type.Integer({ minimum: 1 }),
	name: Type.String(),
	description: Type.String(),
	interval: Enum(PLAN_INTERVALS),
	amount: Minor("The fixed fee per interval."),
	currency: Currency,
	trialDays: Type.Integer({ minimum: 0 }),
	limits: Type.Record(Type.String(), Type.Integer({ minimum: -1 })),
	features: AnyObject,
	charges: Type.Array(MeteredChargeSchema),
	taxRateBasisPoints: Nullable(Type.Integer({ minimum: 0, maximum: 10_000, description: "1 % = 100; null: the tenant's rate (or none)." })),
	status: Enum(PLAN_STATUSES),
	createdAt: DateTime,
});
export type PublicPlan = Static<typeof PublicPlanSchema>;

export const COUPON_DURATIONS = ["once", "repeating", "forever"] as const;
export type CouponDuration = (typeof COUPON_DURATIONS)[number];

export const PublicCouponSchema = Type.Object({
	id: Uuid,
	code: Type.String(),
	name: Type.String(),
	percentOffBasisPoints: Nullable(Type.Integer({ minimum: 1, maximum: 10_000, description: "25 % = 2500." })),
	amountOff: Nullable(Minor("A fixed discount per invoice.")),
	currency: Nullable(Currency),
	duration: Enum(COUPON_DURATIONS),
	durationPeriods: Nullable(Type.Integer({ minimum: 1, description: "repeating: how many billing periods." })),
	maxRedemptions: Nullable(Type.Integer({ minimum: 1 })),
	timesRedeemed: Type.Integer({ minimum: 0 }),
	expiresAt: Nullable(DateTime),
	status: Enum(PLAN_STATUSES),
	createdAt: DateTime,
});
export type PublicCoupon = Static<typeof PublicCouponSchema>;

/** Codes as stored: plans `^[a-z][a-z0-9_-]{0,63}$`, metrics `^[a-z][a-z0-9_]{0,63}$` (the migration checks both). */
export const PLAN_CODE_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
export const METRIC_CODE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
/** Coupon codes are matched without regard to case and stored upper case (`SUMMER25`). */
export const COUPON_CODE_PATTERN = /^[A-Z0-9][A-Z0-9_-]{0,63}$/;

/**
 * Broadcast (every node, fire and forget) after a change of the plans service commits, so whoever caches
 * plans, metrics or coupons (usage's metrics, tenants' limits, billing's plan lookups) drops what it holds.
 * Each carries the entity's code, what happened, and its public form after the change (null once deleted).
 */
export const PLANS_EVENTS = { planChanged: "plan.changed", metricChanged: "metric.changed", couponChanged: "coupon.changed" } as const;
/** `updated`: edited in place (name, description, features); `versioned`: a new version became current. */
export const PLAN_CHANGES = ["created", "updated", "versioned", "archived", "deleted"] as const;
export type PlanChange = (typeof PLAN_CHANGES)[number];
export interface PlanChangedEvent {
	code: string;
	change: PlanChange;
	/** The current version after the change; null once deleted. */
	plan: PublicPlan | null;
}
export interface MetricChangedEvent {
	code: string;
	change: "created" | "updated" | "deleted";
	metric: PublicMetric | null;
}
export interface CouponChangedEvent {
	code: string;
	change: "created" | "archived";
	coupon: PublicCoupon;
}

/**
 * `billing.plansInUse` (internal, the billing engine answers it): which of these plan version ids a live
 * subscription (trialing, active, past_due, unpaid) runs on or is due to move to. The plans service asks it
 * before deleting a plan.
 */
export interface PlansInUseParams {
	planIds: string[];
}
export interface PlansInUseResult {
	inUse: string[];
}

/**
 * `plans.redeemCoupon` (internal): counts one redemption, atomically, if the coupon is active, not expired at
 * `at` (the tenant's billing time; now when left out), below its maximum and, for a fixed amount, in `currency`.
 * Answers the coupon as redeemed, else 422 COUPON_INVALID with `reason`. There is no "give it back": redeem
 * as the last step of whatever uses the coupon.
 */
export interface RedeemCouponParams {
	code: string;
	currency: string;
	at?: string;
}
export const COUPON_INVALID_REASONS = ["unknown", "archived", "expired", "exhausted", "currency_mismatch"] as const;
export type CouponInvalidReason = (typeof COUPON_INVALID_REASONS)[number];

// --- Subscriptions ---------------------------------------------------------------------------------------

/** Stripe's vocabulary. `trialing`, `active`, `past_due` and `unpaid` are live (one per tenant); `canceled` ended. */
export const SUBSCRIPTION_STATUSES = ["trialing", "active", "past_due", "unpaid", "canceled"] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];
export const LIVE_SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = ["trialing", "active", "past_due", "unpaid"];

/** How invoices of a subscription are paid: a saved card off-session, or manually (instructions on the invoice). */
export const BILLING_PAYMENT_METHODS = ["credit_card", "bank_transfer", "virtual_account", "e_wallet"] as const;
export type BillingPaymentMethod = (typeof BILLING_PAYMENT_METHODS)[number];

export const PublicSubscriptionSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	plan: PublicPlanSchema,
	status: Enum(SUBSCRIPTION_STATUSES),
	paymentMethod: Enum(BILLING_PAYMENT_METHODS),
	currentPeriodStart: DateTime,
	currentPeriodEnd: DateTime,
	trialStart: Nullable(DateTime),
	trialEnd: Nullable(DateTime),
	cancelAtPeriodEnd: Type.Boolean(),
	canceledAt: Nullable(DateTime),
	endedAt: Nullable(DateTime),
	pendingPlan: Nullable(PublicPlanSchema),
	couponCode: Nullable(Type.String()),
	couponPeriodsLeft: Nullable(Type.Integer({ minimum: 0, description: "null: forever (or no coupon)." })),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicSubscription = Static<typeof PublicSubscriptionSchema>;

// --- Usage -----------------------------------------------------------------------------------------------

/** Events a batch may hold. */
export const MAX_USAGE_BATCH = 1000;

export const UsageEventInputSchema = Type.Object({
	transactionId: Type.String({ minLength: 1, maxLength: 200, description: "Unique per tenant: a replay is accepted and not counted twice." }),
	metric: Type.String(),
	value: Type.Optional(Type.Integer({ minimum: 0, description: "For sum and max metrics; 1 when left out." })),
	timestamp: Type.Optional(DateTime),
	properties: Type.Optional(AnyObject),
});
export type UsageEventInput = Static<typeof UsageEventInputSchema>;

export const RecordUsageResultSchema = Type.Object({
	accepted: Type.Integer({ minimum: 0, description: "Events in the request." }),
	recorded: Type.Integer({ minimum: 0, description: "Events stored now (the rest were replays)." }),
	duplicates: Type.Integer({ minimum: 0 }),
});
export type RecordUsageResult = Static<typeof RecordUsageResultSchema>;

export const MetricUsageSchema = Type.Object({
	metric: Type.String(),
	aggregation: Enum(AGGREGATIONS),
	quantity: Type.Integer({ minimum: 0 }),
	included: Type.Integer({ minimum: 0, description: "The plan's free units." }),
	billable: Type.Integer({ minimum: 0 }),
	estimatedAmount: Minor("What the billable quantity costs so far."),
	hardLimit: Nullable(Type.Integer({ minimum: 0 })),
});
export type MetricUsage = Static<typeof MetricUsageSchema>;

export const UsageSummarySchema = Type.Object({
	tenantId: Uuid,
	periodStart: DateTime,
	periodEnd: DateTime,
	currency: Currency,
	metrics: Type.Array(MetricUsageSchema),
});
export type UsageSummary = Static<typeof UsageSummarySchema>;

// --- Invoices --------------------------------------------------------------------------------------------

/** draft → open (finalized: numbered, never changes again) → paid | void | uncollectible. */
export const INVOICE_STATUSES = ["draft", "open", "paid", "void", "uncollectible"] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];
export const INVOICE_REASONS = ["subscription_create", "trial_end", "subscription_cycle", "subscription_update", "subscription_cancel", "manual"] as const;
export type InvoiceReason = (typeof INVOICE_REASONS)[number];
export const INVOICE_LINE_KINDS = ["fixed_fee", "proration_credit", "proration_charge", "metered", "discount", "tax"] as const;
export type InvoiceLineKind = (typeof INVOICE_LINE_KINDS)[number];

export const InvoiceLineSchema = Type.Object({
	kind: Enum(INVOICE_LINE_KINDS),
	description: Type.String(),
	metric: Nullable(Type.String()),
	quantity: Type.Integer({ description: "Units (metered), days (prorations) or 1." }),
	amount: Minor("Signed: credits and discounts are negative."),
	periodStart: Nullable(DateTime),
	periodEnd: Nullable(DateTime),
	details: AnyObject,
});
export type InvoiceLine = Static<typeof InvoiceLineSchema>;

export const PublicInvoiceSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	subscriptionId: Nullable(Uuid),
	number: Nullable(Type.String({ description: "INV-<year>-<6 digits>, per tenant without gaps; null while draft." })),
	status: Enum(INVOICE_STATUSES),
	reason: Enum(INVOICE_REASONS),
	currency: Currency,
	subtotal: Minor("Lines before discount and tax."),
	discount: Minor("Coupon discounts (positive)."),
	tax: Minor("Tax (included in or added to the total, as the rate says)."),
	total: Minor("What the tenant owes."),
	amountPaid: Minor("Paid so far."),
	taxRateBasisPoints: Type.Integer({ minimum: 0 }),
	taxInclusive: Type.Boolean(),
	periodStart: Nullable(DateTime),
	periodEnd: Nullable(DateTime),
	lines: Type.Array(InvoiceLineSchema),
	paymentAttempts: Type.Integer({ minimum: 0 }),
	nextPaymentAttemptAt: Nullable(DateTime),
	issuedAt: Nullable(DateTime),
	paidAt: Nullable(DateTime),
	voidedAt: Nullable(DateTime),
	pdfUrl: Nullable(Type.String({ description: "GET it for the PDF (once rendered)." })),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicInvoice = Static<typeof PublicInvoiceSchema>;

// --- Billing accounts and time -------------------------------------------------------------------------

/** GET/PUT /billing/account: a tenant's tax settings, and its billing time (the wall clock, or its test clock). */
export const BillingAccountSchema = Type.Object({
	tenantId: Uuid,
	taxRateBasisPoints: Type.Integer({ minimum: 0, maximum: 10_000, description: "Used when the plan names no rate. 1 % = 100." }),
	taxInclusive: Type.Boolean({ description: "Prices include tax (the tax is the part of the total that is tax), or tax is added on top." }),
	now: DateTime,
});
export type BillingAccount = Static<typeof BillingAccountSchema>;

/** POST /billing/test-clocks/advance (not in production): where the tenant's billing time stands, and how many due jobs ran on the way. */
export const ClockAdvanceResultSchema = Type.Object({
	tenantId: Uuid,
	now: DateTime,
	ran: Type.Integer({ minimum: 0 }),
});
export type ClockAdvanceResult = Static<typeof ClockAdvanceResultSchema>;

// --- Events and channels ---------------------------------------------------------------------------------

/** Webhook/notification event types billing announces (their names are what tenants' endpoints subscribe to). */
export const BILLING_EVENT_TYPES = [
	"subscription.created",
	"subscription.updated",
	"subscription.canceled",
	"subscription.trial_will_end",
	"invoice.finalized",
	"invoice.paid",
	"invoice.payment_failed",
	"invoice.voided",
] as const;
export type BillingEventType = (typeof BILLING_EVENT_TYPES)[number];

/**
 * Durable channels billing's outbox publishes (JetStream, at least once). Each message is a BillingMessage:
 * notifications turns it into an email + in-app notice to the tenant's owners and the tenant's webhooks.
 */
export const BILLING_CHANNELS: Readonly<Record<BillingEventType, string>> = Object.freeze({
	"subscription.created": "billing.subscription.created",
	"subscription.updated": "billing.subscription.updated",
	"subscription.canceled": "billing.subscription.canceled",
	"subscription.trial_will_end": "billing.subscription.trial_will_end",
	"invoice.finalized": "billing.invoice.finalized",
	"invoice.paid": "billing.invoice.paid",
	"invoice.payment_failed": "billing.invoice.payment_failed",
	"invoice.voided": "billing.invoice.voided",
});

/**
 * Broadcast (fire and forget) to every node. `limitsChanged`: a tenant's limits may have changed, drop what
 * was cached. `periodChanged`: a tenant's billing time jumped (a test clock advanced) or its current period or
 * plan changed (subscribed, renewed, upgraded, canceled): drop any cached `billing.currentPlan` answer (usage
 * keeps one per tenant for a second on its ingest path). Both carry `{ tenantId }`.
 */
export const BILLING_EVENTS = { limitsChanged: "billing.limitsChanged", periodChanged: "billing.periodChanged" } as const;
export interface LimitsChangedEvent {
	tenantId: string;
}
export type PeriodChangedEvent = LimitsChangedEvent;

/**
 * What a billing channel carries. `eventId` is unique per announcement (a redelivery carries the same), so
 * consumers record it and skip replays. `ownerIds`: the tenant's owners when it was written (who is emailed).
 */
export interface BillingMessage {
	eventId: string;
	type: BillingEventType;
	tenantId: string;
	ownerIds: string[];
	occurredAt: string;
	subscription?: PublicSubscription;
	invoice?: PublicInvoice;
}

/** `billing.recordUsage` (internal): what a service meters for a tenant. */
export interface RecordUsageParams {
	tenantId: string;
	events: UsageEventInput[];
}

/** `billing.checkUsageLimit` (internal): may the tenant use `increment` more of `metric` in this period? */
export interface UsageLimitCheck {
	allowed: boolean;
	metric: string;
	quantity: number;
	hardLimit: number | null;
}
