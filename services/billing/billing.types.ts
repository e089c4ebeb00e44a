/**
 * The shapes of the billing service (billing.service.ts and its mixins): rows as the tables hold them, the
 * invoice a computation builds before it is stored, and the methods each mixin gives the others.
 */
import type { InvoicePdfMethods } from "./invoice-pdf";
import type { Context } from "moleculer";
import type { Transaction } from "sequelize";
import type {
	AccountRow,
	BillingAccountModel,
	BillingJobKind,
	BillingJobModel,
	InvoiceLineModel,
	InvoiceModel,
	InvoiceRow,
	JobRow,
	SubscriptionModel,
	SubscriptionRow,
} from "../../models/billing/billing/billing.models";
import type { AggregateMethods } from "../../mixins/aggregate.mixin";
import type { ServiceSchema } from "moleculer";
import type { DbMixinLocals, DbMixinMethods, DbMixinSettings, DbService } from "../../mixins/db.mixin";
import type { DueJobsMethods } from "../../mixins/due-jobs.mixin";
import type { OutboxMethods } from "../../mixins/outbox.mixin";
import type { CallerMeta } from "../../lib/caller";
import type { BillingConfig } from "../../lib/config";
import type {
	BillingEventType,
	BillingPaymentMethod,
	InvoiceLineKind,
	InvoiceReason,
	InvoiceStatus,
	PublicInvoice,
	PublicPlan,
	PublicSubscription,
	SubscriptionStatus,
} from "./contracts";
import type { PlansAdapter } from "./plans-adapter";
import type { UsageAdapter } from "./usage-adapter";
import type { PaymentsAdapter } from "./payments-adapter";
import type { MembersAdapter } from "./members-adapter";

export type BillingContext<P = Record<string, unknown>> = Context<P, CallerMeta>;

export type { AccountRow, InvoiceLineRow, InvoiceRow, JobRow, SubscriptionRow } from "../../models/billing/billing/billing.models";

/** A line before it is stored (money.ts computed its amount). */
export interface LineInput {
	kind: InvoiceLineKind;
	description: string;
	metric: string | null;
	quantity: number;
	amount: number;
	periodStart: Date | null;
	periodEnd: Date | null;
	details: Record<string, unknown>;
}

/** The coupon terms a subscription carries (snapshotted at redemption). */
export interface CouponTerms {
	percentOffBasisPoints: number | null;
	amountOff: number | null;
}

/** What an invoice will hold, computed outside the transaction that stores and finalizes it. */
export interface InvoiceDraft {
	tenantId: string;
	subscriptionId: string | null;
	reason: InvoiceReason;
	currency: string;
	/** The charge lines (fixed fee, prorations, metered): discount and tax lines are added from them. */
	lines: LineInput[];
	coupon: CouponTerms | null;
	taxRateBasisPoints: number;
	taxInclusive: boolean;
	periodStart: Date | null;
	periodEnd: Date | null;
}

/** What a caller and the outbox see of a change: built before the transaction from remote answers. */
export interface PlanLookup {
	plan(id: string): Promise<PublicPlan>;
}

export interface BillingLocals {
	plansAdapter: PlansAdapter;
	usageAdapter: UsageAdapter;
	paymentsAdapter: PaymentsAdapter;
	membersAdapter: MembersAdapter;
	billingConfig: BillingConfig;
	production: boolean;
}

export interface ClockMethods {
	/** Wall clock + the tenant's test-clock offset (always the wall clock in production). */
	billingNow(tenantId: string): Promise<Date>;
	account(tenantId: string, transaction?: Transaction): Promise<AccountRow>;
	/** Moves the tenant's clock forward to at least `at` (never back). */
	setClockAtLeast(tenantId: string, at: Date): Promise<void>;
	/** Runs the tenant's jobs due up to `target`, each at its due time; answers how many ran. */
	advanceClock(tenantId: string, target: Date): Promise<number>;
}

export interface JobsMethods {
	/** Writes a job (once per kind, subject and due time); `runHere`: the writer runs it after the commit (runJobNow). */
	scheduleJob(transaction: Transaction, kind: BillingJobKind, tenantId: string, subjectId: string, dueAt: Date, options?: { runHere?: boolean }): Promise<JobRow | undefined>;
	cancelJobs(transaction: Transaction, subjectId: string, kinds: readonly BillingJobKind[]): Promise<void>;
	claimBillingJobs(limit: number): Promise<JobRow[]>;
	claimJobById(id: string): Promise<JobRow | undefined>;
	runBillingJob(job: JobRow, signal?: AbortSignal): Promise<void>;
	/** Records the job done in the caller's transaction, under the lease it was claimed with. */
	completeJob(transaction: Transaction, job: JobRow): Promise<void>;
	/** Marks the job done if this run still holds it; false when it doesn't (canceled, or leased to another run). */
	completeJobIfLeased(transaction: Transaction, job: JobRow): Promise<boolean>;
	/** Runs a collection job written in a transaction that just committed, here and now (unless another node has it). */
	runJobNow(job: JobRow | undefined): Promise<void>;
}

export interface InvoiceMethods {
	/** Stores the draft and its lines and finalizes it (number, open, or paid when it totals 0), with its outbox rows. */
	issueInvoice(transaction: Transaction, draft: InvoiceDraft, owners: string[], issuedAt: Date): Promise<InvoiceRow>;
	presentInvoices(rows: InvoiceRow[], transaction?: Transaction): Promise<PublicInvoice[]>;
	presentInvoice(row: InvoiceRow, transaction?: Transaction): Promise<PublicInvoice>;
	loadInvoice(id: string, transaction?: Transaction): Promise<InvoiceRow | undefined>;
	/** open|uncollectible → another status, guarded like every status change; undefined when the guard lost. */
	moveInvoice(transaction: Transaction, id: string, from: readonly InvoiceStatus[], changes: { status: InvoiceStatus } & Record<string, unknown>): Promise<InvoiceRow | undefined>;
	/** The invoice of a subscription's change, its tax rate and the coupon to apply worked out. */
	draftFor(subscription: SubscriptionRow, plan: PublicPlan, reason: InvoiceReason, lines: LineInput[], period: { start: Date; end: Date } | null, coupon: CouponTerms | null): Promise<InvoiceDraft>;
	voidOpenInvoice(before: InvoiceRow): Promise<InvoiceRow>;
	/** Renders and records a finalized invoice's PDF, when the service has the invoice-pdf mixin. */
	attachInvoicePdf(invoiceId: string): Promise<void>;
}

export interface CollectionMethods {
	/** Asks payments for the invoice's money and applies the outcome; answers the invoice as it then is. */
	collectInvoice(invoice: InvoiceRow, source: CollectionSource, job?: JobRow): Promise<InvoiceRow>;
	markInvoicePaid(invoiceId: string, paymentId: string, job?: JobRow): Promise<InvoiceRow | undefined>;
	recordPaymentFailure(invoiceId: string, failure: PaymentFailure, job?: JobRow): Promise<InvoiceRow | undefined>;
	/** The dunning hook: when the invoice is tried again after its `failedAttempts`-th failure, or null (no retry left: unpaid). */
	nextRetryAt(invoice: InvoiceRow, failedAttempts: number, failedAt: Date): Date | null;
	subscriptionAfterFailure(transaction: Transaction, subscription: SubscriptionRow, exhausted: boolean, owners: string[], at: Date): Promise<SubscriptionRow | undefined>;
	restoreSubscription(transaction: Transaction, invoice: InvoiceRow, owners: string[], at: Date): Promise<SubscriptionRow | undefined>;
	recordOutcome(transaction: Transaction, paymentId: string, invoiceId: string, outcome: "succeeded" | "failed"): Promise<boolean>;
}

export type CollectionSource = "initial" | "retry" | "manual";

export interface PaymentFailure {
	paymentId: string | null;
	code: string;
	message: string;
}

export interface SubscriptionMethods {
	liveSubscription(tenantId: string, transaction?: Transaction): Promise<SubscriptionRow | undefined>;
	presentSubscription(row: SubscriptionRow): Promise<PublicSubscription>;
	presentSubscriptions(rows: SubscriptionRow[]): Promise<PublicSubscription[]>;
	/** present() for the aggregate mixin. */
	present(row: SubscriptionRow): Promise<PublicSubscription>;
	couponOf(row: SubscriptionRow): CouponTerms | null;
	/** After a subscription changed: every node drops the tenant's cached limits; the cluster hears of it (limitsChanged, periodChanged). */
	subscriptionChanged(tenantId: string): Promise<void>;
	subscribe(tenantId: string, userId: string | null, params: CreateSubscriptionParams): Promise<SubscriptionRow>;
	/** The current version of an active plan, or 422. */
	availablePlan(code: string): Promise<PublicPlan>;
	changeTo(before: SubscriptionRow, planCode: string, immediately: boolean): Promise<SubscriptionRow>;
	cancelAtEnd(before: SubscriptionRow): Promise<SubscriptionRow>;
	cancelNow(before: SubscriptionRow): Promise<SubscriptionRow>;
	/** A change that is not a status change, guarded by the columns it was decided on, with subscription.updated. */
	updateAnnounced(
		before: SubscriptionRow,
		changes: Partial<SubscriptionRow>,
		expected: Partial<SubscriptionRow>,
		options?: { transaction?: Transaction; owners?: string[]; at?: Date },
	): Promise<SubscriptionRow>;
}

export interface CreateSubscriptionParams {
	planCode: string;
	couponCode?: string;
	paymentMethod: BillingPaymentMethod;
}

export interface MessageMethods {
	/** A BillingMessage on its channel, in the caller's transaction (published once it commits). */
	announceBilling(transaction: Transaction, type: BillingEventType, tenantId: string, owners: string[], at: Date, subject: { subscription?: PublicSubscription; invoice?: PublicInvoice }): Promise<void>;
}

export interface LifecycleMethods {
	runTrialWillEnd(job: JobRow): Promise<void>;
	runTrialEnd(job: JobRow): Promise<void>;
	runPeriodEnd(job: JobRow): Promise<void>;
	runPaymentRetry(job: JobRow): Promise<void>;
}

export type BillingMethods = ClockMethods &
	InvoicePdfMethods &
	JobsMethods &
	InvoiceMethods &
	CollectionMethods &
	SubscriptionMethods &
	MessageMethods &
	LifecycleMethods &
	DueJobsMethods &
	OutboxMethods &
	Omit<AggregateMethods<SubscriptionRow, SubscriptionStatus, PublicSubscription>, "loadRow"> & { loadRow(id: string): Promise<SubscriptionRow | undefined> };

/** Billing's models: the subscription (the main one), and the others by name. */
export type BillingExtraModels = typeof InvoiceModel | typeof InvoiceLineModel | typeof BillingAccountModel | typeof BillingJobModel;

/** `this` inside billing's mixins. */
export type BillingHost = Omit<DbService<typeof SubscriptionModel, BillingExtraModels>, "settings"> & BillingMethods & BillingLocals;

/** One of billing's mixins as written: its handlers and methods see the whole service. */
export type BillingMixin = Partial<
	ServiceSchema<DbMixinSettings, DbMixinMethods<typeof SubscriptionModel, BillingExtraModels> & BillingMethods, DbMixinLocals<typeof SubscriptionModel, BillingExtraModels> & BillingLocals>
>;

/**
 * Declares one of billing's mixins: type-checked against the whole service it joins (`this` in handlers and
 * methods), handed to Moleculer's mixin list, which takes untyped schemas.
 */
export function billingMixin(schema: BillingMixin): Partial<ServiceSchema> {
	return schema as unknown as Partial<ServiceSchema>;
}
