import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";
import type { BillingPaymentMethod, InvoiceLineKind, InvoiceReason, InvoiceStatus, SubscriptionStatus } from "../../../services/billing/contracts";

/** BIGINT columns: node-postgres hands them over as strings. */
type BigIntColumn = string | number;

/** Every allowed subscription status change (Stripe's); anything else is 409 INVALID_TRANSITION. */
export const SUBSCRIPTION_TRANSITIONS: Readonly<Record<SubscriptionStatus, readonly SubscriptionStatus[]>> = {
	trialing: ["active", "past_due", "canceled"],
	active: ["past_due", "canceled"],
	past_due: ["active", "unpaid", "canceled"],
	unpaid: ["active", "canceled"],
	canceled: [],
};

/** A finalized invoice never changes its lines or totals; only its payment state moves on. */
export const INVOICE_TRANSITIONS: Readonly<Record<InvoiceStatus, readonly InvoiceStatus[]>> = {
	draft: ["open", "void"],
	open: ["paid", "void", "uncollectible"],
	uncollectible: ["paid", "void"],
	paid: [],
	void: [],
};

export interface SubscriptionRow {
	id: string;
	tenantId: string;
	planId: string;
	planCode: string;
	status: SubscriptionStatus;
	paymentMethod: BillingPaymentMethod;
	currentPeriodStart: Date;
	currentPeriodEnd: Date;
	trialStart: Date | null;
	trialEnd: Date | null;
	cancelAtPeriodEnd: boolean;
	canceledAt: Date | null;
	endedAt: Date | null;
	pendingPlanId: string | null;
	couponId: string | null;
	couponCode: string | null;
	couponPeriodsLeft: number | null;
	couponPercentOffBasisPoints: number | null;
	couponAmountOff: BigIntColumn | null;
	createdBy: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const SubscriptionModel: ModelDefinition<"subscription", SubscriptionRow, "cancelAtPeriodEnd"> = {
	name: "subscription",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		planId: { type: DataTypes.UUID, allowNull: false },
		planCode: { type: DataTypes.STRING(64), allowNull: false },
		status: { type: DataTypes.STRING(20), allowNull: false },
		paymentMethod: { type: DataTypes.STRING(30), allowNull: false },
		currentPeriodStart: { type: DataTypes.DATE, allowNull: false },
		currentPeriodEnd: { type: DataTypes.DATE, allowNull: false },
		trialStart: { type: DataTypes.DATE, allowNull: true },
		trialEnd: { type: DataTypes.DATE, allowNull: true },
		cancelAtPeriodEnd: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
		canceledAt: { type: DataTypes.DATE, allowNull: true },
		endedAt: { type: DataTypes.DATE, allowNull: true },
		/** A downgrade waiting for the period end. */
		pendingPlanId: { type: DataTypes.UUID, allowNull: true },
		couponId: { type: DataTypes.UUID, allowNull: true },
		couponCode: { type: DataTypes.STRING(64), allowNull: true },
		/** Billing periods the coupon still discounts; null: forever (or no coupon). */
		couponPeriodsLeft: { type: DataTypes.INTEGER, allowNull: true },
		/** The coupon's terms when redeemed (one of the two is set): renewals discount by these, whatever became of the coupon. */
		couponPercentOffBasisPoints: { type: DataTypes.INTEGER, allowNull: true },
		couponAmountOff: { type: DataTypes.BIGINT, allowNull: true },
		createdBy: { type: DataTypes.UUID, allowNull: true },
	},
	options: { tableName: "subscriptions" },
};

export interface InvoiceRow {
	id: string;
	tenantId: string;
	subscriptionId: string | null;
	number: string | null;
	status: InvoiceStatus;
	reason: InvoiceReason;
	currency: string;
	subtotal: BigIntColumn;
	discount: BigIntColumn;
	tax: BigIntColumn;
	total: BigIntColumn;
	amountPaid: BigIntColumn;
	taxRateBasisPoints: number;
	taxInclusive: boolean;
	periodStart: Date | null;
	periodEnd: Date | null;
	paymentAttempts: number;
	nextPaymentAttemptAt: Date | null;
	paymentId: string | null;
	pdfFileId: string | null;
	issuedAt: Date | null;
	paidAt: Date | null;
	voidedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const InvoiceModel: ModelDefinition<
	"invoice",
	InvoiceRow,
	"status" | "subtotal" | "discount" | "tax" | "total" | "amountPaid" | "taxRateBasisPoints" | "taxInclusive" | "paymentAttempts"
> = {
	name: "invoice",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		subscriptionId: { type: DataTypes.UUID, allowNull: true },
		number: { type: DataTypes.STRING(32), allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "draft" },
		reason: { type: DataTypes.STRING(30), allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		subtotal: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
		discount: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
		tax: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
		total: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
		amountPaid: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
		taxRateBasisPoints: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		taxInclusive: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
		periodStart: { type: DataTypes.DATE, allowNull: true },
		periodEnd: { type: DataTypes.DATE, allowNull: true },
		paymentAttempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		nextPaymentAttemptAt: { type: DataTypes.DATE, allowNull: true },
		/** The payment (payments service) that paid it. */
		paymentId: { type: DataTypes.UUID, allowNull: true },
		pdfFileId: { type: DataTypes.UUID, allowNull: true },
		issuedAt: { type: DataTypes.DATE, allowNull: true },
		paidAt: { type: DataTypes.DATE, allowNull: true },
		voidedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "invoices" },
};

export interface InvoiceLineRow {
	id: string;
	invoiceId: string;
	position: number;
	kind: InvoiceLineKind;
	description: string;
	metric: string | null;
	quantity: BigIntColumn;
	amount: BigIntColumn;
	periodStart: Date | null;
	periodEnd: Date | null;
	details: Record<string, unknown>;
}

export const InvoiceLineModel: ModelDefinition<"invoiceLine", InvoiceLineRow, "details"> = {
	name: "invoiceLine",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		invoiceId: { type: DataTypes.UUID, allowNull: false },
		position: { type: DataTypes.INTEGER, allowNull: false },
		kind: { type: DataTypes.STRING(30), allowNull: false },
		description: { type: DataTypes.STRING(500), allowNull: false },
		metric: { type: DataTypes.STRING(64), allowNull: true },
		quantity: { type: DataTypes.BIGINT, allowNull: false },
		amount: { type: DataTypes.BIGINT, allowNull: false },
		periodStart: { type: DataTypes.DATE, allowNull: true },
		periodEnd: { type: DataTypes.DATE, allowNull: true },
		details: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
	},
	options: { tableName: "invoice_lines", timestamps: false },
};

/** Per tenant: the tax rate its invoices use when the plan names none, and the invoice number sequence. */
export interface AccountRow {
	tenantId: string;
	taxRateBasisPoints: number;
	taxInclusive: boolean;
	clockOffsetMs: BigIntColumn;
}

export const BillingAccountModel: ModelDefinition<"billingAccount", AccountRow, "taxRateBasisPoints" | "taxInclusive" | "clockOffsetMs"> = {
	name: "billingAccount",
	define: {
		tenantId: { type: DataTypes.UUID, primaryKey: true },
		taxRateBasisPoints: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		taxInclusive: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
		/** Non-production only: how far this tenant's billing time runs ahead of the wall clock (Stripe's test clocks). */
		clockOffsetMs: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
	},
	options: { tableName: "billing_accounts" },
};

export const BILLING_JOB_KINDS = ["trial_will_end", "trial_end", "period_end", "payment_retry"] as const;
export type BillingJobKind = (typeof BILLING_JOB_KINDS)[number];

/**
 * Billing's timers, as rows (mixins/due-jobs.mixin.ts): a trial's end, a period's end, a payment retry.
 * `dueAt` is in the tenant's billing time (wall clock + its test clock offset).
 */
export interface JobRow {
	id: string;
	kind: BillingJobKind;
	tenantId: string;
	subjectId: string;
	dueAt: Date;
	status: "pending" | "done" | "canceled" | "failed";
	/** Raised by every claim: the fencing token the run's completion is recorded under. */
	attempts: number;
	leasedUntil: Date | null;
	lastError: string | null;
}

export const BillingJobModel: ModelDefinition<"billingJob", JobRow, "status" | "attempts"> = {
	name: "billingJob",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		kind: { type: DataTypes.STRING(30), allowNull: false },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		/** The subscription or invoice it acts on. */
		subjectId: { type: DataTypes.UUID, allowNull: false },
		dueAt: { type: DataTypes.DATE, allowNull: false },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "pending" },
		attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		leasedUntil: { type: DataTypes.DATE, allowNull: true },
		lastError: { type: DataTypes.TEXT, allowNull: true },
	},
	options: { tableName: "jobs" },
};
