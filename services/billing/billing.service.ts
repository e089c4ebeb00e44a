/**
 * Billing (issue 14): subscriptions, invoices and their numbering, billing accounts (tax, test clock), the
 * due jobs that move subscriptions through time, and each tenant's limits. Schema "billing".
 *
 * The service is composed of mixins, each a seam of its own:
 *   subscriptions.ts  REST of /subscriptions, the lifecycle a tenant owner drives
 *   lifecycle.ts      trial_will_end, trial_end and period_end (renewal) jobs
 *   invoices.ts       issuing (numbered, finalized in one transaction) and REST of /invoices
 *   collection.ts     collectInvoice: payments.payInvoice and its outcome; the payment channels' side
 *   dunning.ts        the retry schedule (BILLING_DUNNING_DAYS) and payment_retry jobs
 *   clock.ts          billing time, the test clock, billing accounts
 *   jobs.ts           billing.jobs: claim (in each tenant's billing time), lease, completion
 *   limits.ts         billing.limits, billing.currentPlan, billing.plansInUse
 *   messages.ts       BillingMessage outbox rows on BILLING_CHANNELS
 * Neighbours are reached through one adapter each (plans-, usage-, payments-, members-adapter.ts).
 */
import path from "node:path";
import { DbMixin, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AggregateMixin } from "../../mixins/aggregate.mixin";
import { DueJobsMixin } from "../../mixins/due-jobs.mixin";
import { OutboxMixin, outboxModel } from "../../mixins/outbox.mixin";
import {
	BillingAccountModel,
	BillingJobModel,
	InvoiceLineModel,
	InvoiceModel,
	SubscriptionModel,
	SUBSCRIPTION_TRANSITIONS,
} from "../../models/billing/billing/billing.models";
import { platformConfigOf } from "../../lib/node";
import { PAYMENT_CHANNELS } from "../commerce/contracts";
import { BILLING_CHANNELS, type BillingMessage, type SubscriptionStatus } from "./contracts";
import type { BillingExtraModels, BillingHost, BillingLocals, BillingMethods } from "./billing.types";
import { Clock } from "./clock";
import { Collection } from "./collection";
import { Dunning } from "./dunning";
import { Invoices } from "./invoices";
import { InvoicePdfMixin } from "./invoice-pdf";
import { Jobs } from "./jobs";
import { Lifecycle } from "./lifecycle";
import { Limits } from "./limits";
import { Messages } from "./messages";
import { Subscriptions } from "./subscriptions";
import { MembersAdapter } from "./members-adapter";
import { PaymentsAdapter, invoiceOf, type PaymentChannelMessage } from "./payments-adapter";
import { PlansAdapter } from "./plans-adapter";
import { UsageAdapter } from "./usage-adapter";

const BillingService: DbServiceSchema<DbMixinSettings, BillingMethods, BillingLocals, typeof SubscriptionModel, BillingExtraModels> = {
	name: "billing",
	mixins: [
		DbMixin({
			schema: "billing",
			migrations: path.join(__dirname, "../../models/billing/billing/migrations"),
			model: SubscriptionModel,
			extraModels: [InvoiceModel, InvoiceLineModel, BillingAccountModel, BillingJobModel, outboxModel()],
			// Subscriptions and invoices are their tenant's; platform callers list every tenant's (narrowing with `tenantId`).
			owner: { owner: "tenant", platformLists: "all" },
			owners: { invoice: { owner: "tenant", platformLists: "all" } },
			entityName: "Subscription",
		}),
		OutboxMixin({ name: "Billing outbox" }),
		AggregateMixin<SubscriptionStatus>({ model: "subscription", entityName: "Subscription", transitions: SUBSCRIPTION_TRANSITIONS }),
		DueJobsMixin({ name: "Billing jobs", claim: "claimBillingJobs", run: "runBillingJob" }),
		Clock,
		Jobs,
		Subscriptions,
		Lifecycle,
		Invoices,
		InvoicePdfMixin,
		Collection,
		Dunning,
		Limits,
		Messages,
	],

	/**
	 * Payments' durable channels, for invoices' payments only (orders' are the orders service's): a settlement
	 * that arrives later than the synchronous answer (a bank transfer, a verification), or a failure heard
	 * this way. Idempotent by payment id; an invoice billing doesn't know is logged and acknowledged.
	 */
	channels: {
		[PAYMENT_CHANNELS.settled]: {
			group: "billing",
			maxRetries: 10,
			async handler(this: BillingHost, message: PaymentChannelMessage) {
				const invoiceId = invoiceOf(message);
				if (invoiceId) await this.markInvoicePaid(invoiceId, message.paymentId);
			},
		},
		/**
		 * Invoice PDFs are rendered after finalization by this durable consumer (invoice-pdf.ts), never inline in a
		 * request: a Chromium that is down delays the PDF, not the invoice.
		 */
		[BILLING_CHANNELS["invoice.finalized"]]: {
			group: "billing-pdf",
			maxRetries: 10,
			async handler(this: BillingHost, message: BillingMessage) {
				if (message.invoice) await this.attachInvoicePdf(message.invoice.id);
			},
		},
		[PAYMENT_CHANNELS.failed]: {
			group: "billing",
			maxRetries: 10,
			async handler(this: BillingHost, message: PaymentChannelMessage) {
				const invoiceId = invoiceOf(message);
				if (!invoiceId) return;
				await this.recordPaymentFailure(invoiceId, {
					paymentId: message.paymentId,
					code: message.payment?.failureCode ?? "payment_failed",
					message: message.payment?.failureMessage ?? "The payment failed",
				});
			},
		},
	},

	created() {
		this.plansAdapter = new PlansAdapter(this.broker);
		this.usageAdapter = new UsageAdapter(this.broker);
		this.paymentsAdapter = new PaymentsAdapter(this.broker);
		this.membersAdapter = new MembersAdapter(this.broker);
		const config = platformConfigOf(this.broker);
		this.billingConfig = config.billing;
		this.production = config.env === "production";
	},

	started() {
		this.startOutboxRelay();
		this.startDueJobs();
	},

	async stopped() {
		await this.stopDueJobs();
		await this.stopOutboxRelay();
	},
};

export default BillingService;
