/**
 * What notifications react to (a mixin of notifications.service.ts): the durable channels other domains'
 * outboxes feed (a new account, paid and refunded orders, settled, failed and refunded payments, finished
 * screenshot jobs, billing's subscription and invoice events), each turned into a `notifications.send` whose event id derives from the
 * entity or the announcement, so a redelivery doubles nothing. Only durable channels: plain broker events are
 * at most once, and a notification would be lost whenever no notifications node is up.
 */
import { createHash } from "node:crypto";
import type { Service, ServiceSchema } from "moleculer";
import { systemCall } from "../../lib/caller";
import { isFinalRefusal } from "../../lib/errors";
import { formatMoney } from "../../lib/currency";
import { platformConfigOf } from "../../lib/node";
import { BILLING_CHANNELS, BILLING_EVENT_TYPES, type BillingEventType, type BillingMessage, type PublicInvoice, type PublicSubscription, type SubscriptionStatus } from "../billing/contracts";
import { ORDER_CHANNELS, PAYMENT_CHANNELS, payableOf, type OrderMessage, type PaymentMessage, type PublicOrder, type PublicPayment } from "../commerce/contracts";
import { USER_CHANNELS, type UserCreatedMessage } from "../identity/contracts";
import type { NotificationType } from "./catalog";
import { SCREENSHOT_CHANNELS, type PublicScreenshotJob, type ScreenshotJobMessage } from "../screenshots/contracts";
import type { SendParams } from "./contracts";

export interface TriggerMethods {
	orderNotification(type: "order.paid" | "order.refunded", order: PublicOrder): SendParams;
	paymentNotification(type: "payment.succeeded" | "payment.failed" | "payment.refunded", payment: PublicPayment): SendParams;
	paymentOf(message: PaymentMessage): Promise<PublicPayment>;
	/** The send a billing message makes, or undefined for a message that lacks what its type needs (logged). */
	billingNotification(type: BillingEventType, message: BillingMessage): Promise<SendParams | undefined>;
	/** The tenant's name, as billing emails name the organization. */
	organizationName(tenantId: string): Promise<string>;
	sendDurably(params: SendParams): Promise<void>;
	screenshotJobFinished(type: "screenshot.job.succeeded" | "screenshot.job.failed", job: PublicScreenshotJob): Promise<void>;
}

const SUBSCRIPTION_STATUS_TEXT: Readonly<Record<SubscriptionStatus, string>> = {
	trialing: "in its trial",
	active: "active",
	past_due: "past due",
	unpaid: "unpaid",
	canceled: "canceled",
};

/** Billing dates are instants in UTC (billing time), written as the day. */
const BILLING_DATE = new Intl.DateTimeFormat("en", { dateStyle: "long", timeZone: "UTC" });
const billingDate = (value: string | Date) => BILLING_DATE.format(new Date(value));

/**
 * `<type>:<message eventId>`: one event per announcement, the same on every redelivery. An event id that
 * doesn't fit the notification's id rules (characters, length) is hashed, never refused.
 */
function billingEventId(type: BillingEventType, messageEventId: string): string {
	const part = /^[A-Za-z0-9_.:-]{1,160}$/.test(messageEventId) ? messageEventId : createHash("sha256").update(messageEventId).digest("hex");
	return `${type}:${part}`;
}

/** The durable consumers of billing's channels: one per event type, all alike. */
const BILLING_TRIGGERS: NonNullable<ServiceSchema["channels"]> = Object.fromEntries(
	BILLING_EVENT_TYPES.map((type) => [
		BILLING_CHANNELS[type],
		{
			group: "notifications",
			maxRetries: 10,
			async handler(message: BillingMessage) {
				const host = this as unknown as Host;
				const params = await host.billingNotification(type, message);
				if (params) await host.sendDurably(params);
			},
		},
	]),
);

type Host = Service & TriggerMethods;

/**
 * The channel consumers (group "notifications"). Spread into the service's own `channels`: Moleculer keeps
 * one `channels` object per schema, so a mixin's would be replaced by the service's rather than merged.
 */
export const NOTIFICATION_TRIGGERS: NonNullable<ServiceSchema["channels"]> = {
		/**
		 * The welcome, from users' outbox: an account created while no notifications node is up is welcomed
		 * when one starts. The event id derives from the user, so a redelivery sends nothing twice.
		 */
		[USER_CHANNELS.created]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: UserCreatedMessage) {
				await this.sendDurably({ userId: message.userId, type: "account.welcome", data: {}, eventId: `account.welcome:${message.userId}` });
			},
		},
		/**
		 * The durable path for commerce: orders' and payments' outboxes publish these after the change commits,
		 * and JetStream keeps them for this group while no notifications node is up. At least once: every
		 * send's event id derives from the entity (`order.paid:<orderId>`), so a redelivery doubles nothing.
		 */
		[ORDER_CHANNELS.paid]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: OrderMessage) {
				await this.sendDurably(this.orderNotification("order.paid", message.order));
			},
		},
		[ORDER_CHANNELS.refunded]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: OrderMessage) {
				await this.sendDurably(this.orderNotification("order.refunded", message.order));
			},
		},
		[PAYMENT_CHANNELS.settled]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: PaymentMessage) {
				// An invoice's payment is told by billing, with the invoice (its own notifications and webhooks).
				if (payableOf(message).type !== "order") return;
				await this.sendDurably(this.paymentNotification("payment.succeeded", await this.paymentOf(message)));
			},
		},
		[PAYMENT_CHANNELS.refunded]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: PaymentMessage) {
				// An invoice's payment is told by billing, with the invoice (its own notifications and webhooks).
				if (payableOf(message).type !== "order") return;
				await this.sendDurably(this.paymentNotification("payment.refunded", await this.paymentOf(message)));
			},
		},
		[PAYMENT_CHANNELS.failed]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: PaymentMessage) {
				// An invoice's payment is told by billing, with the invoice (its own notifications and webhooks).
				if (payableOf(message).type !== "order") return;
				await this.sendDurably(this.paymentNotification("payment.failed", await this.paymentOf(message)));
			},
		},
		/**
		 * Billing's outbox: subscription and invoice events go to every owner the message names (one send, so
		 * the tenant's webhook endpoints get each event once however many owners there are) and, with
		 * `tenantId`, to the tenant's webhooks and sockets. The event id derives from the message's, so a
		 * redelivery sends nothing twice.
		 */
		...BILLING_TRIGGERS,
		/** Finished screenshot jobs, from the jobs' outbox: one event id per job and outcome. */
		[SCREENSHOT_CHANNELS.succeeded]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: ScreenshotJobMessage) {
				await this.screenshotJobFinished("screenshot.job.succeeded", message.screenshotjob);
			},
		},
		[SCREENSHOT_CHANNELS.failed]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: ScreenshotJobMessage) {
				await this.screenshotJobFinished("screenshot.job.failed", message.screenshotjob);
			},
		},
};

export const NotificationTriggers: Partial<ServiceSchema> = {
	methods: {
		/** The buyer is told, the order's tenant gets the webhook; one event id per order and type. */
		orderNotification(this: Host, type: "order.paid" | "order.refunded", order: PublicOrder): SendParams {
			const data = {
				orderId: order.id,
				total: formatMoney(order.totalAmount, order.currency),
				link: `${platformConfigOf(this.broker).appUrl}/orders/${order.id}`,
				order,
			};
			return { userId: order.userId, tenantId: order.tenantId ?? undefined, type, data, eventId: `${type}:${order.id}` };
		},

		paymentNotification(this: Host, type: "payment.succeeded" | "payment.failed" | "payment.refunded", payment: PublicPayment): SendParams {
			const data = {
				paymentId: payment.id,
				orderId: payment.orderId,
				total: formatMoney(payment.amount, payment.currency),
				link: `${platformConfigOf(this.broker).appUrl}/orders/${payment.orderId}`,
				payment,
			};
			return { userId: payment.userId ?? undefined, tenantId: payment.tenantId ?? undefined, type, data, eventId: `${type}:${payment.id}` };
		},

		async billingNotification(this: Host, type: BillingEventType, message: BillingMessage): Promise<SendParams | undefined> {
			const config = platformConfigOf(this.broker);
			const subject = type.startsWith("invoice.") ? message.invoice : message.subscription;
			if (!subject || !message.tenantId || !message.eventId) {
				this.logger.error(`Billing message ${type} (${message.eventId ?? "no event id"}) lacks its ${type.split(".")[0]}, tenant or event id: not notified`);
				return undefined;
			}
			const base = { organization: await this.organizationName(message.tenantId), occurredAt: message.occurredAt };
			let data: Record<string, unknown>;
			if (message.invoice && type.startsWith("invoice.")) {
				const invoice: PublicInvoice = message.invoice;
				const pdfLink = invoice.pdfUrl ? new URL(invoice.pdfUrl, config.oidc.publicUrl).toString() : undefined;
				const retryNote = invoice.nextPaymentAttemptAt
					? `We will try again on ${billingDate(invoice.nextPaymentAttemptAt)}.`
					: "No further automatic attempt is scheduled: please pay the invoice.";
				data = {
					...base,
					invoiceId: invoice.id,
					invoiceNumber: invoice.number ?? "draft",
					total: formatMoney(invoice.total, invoice.currency),
					amountDue: formatMoney(Math.max(0, invoice.total - invoice.amountPaid), invoice.currency),
					link: `${config.appUrl}/billing/invoices/${invoice.id}`,
					...(pdfLink ? { pdfLink } : {}),
					...(type === "invoice.payment_failed" ? { retryNote } : {}),
					invoice,
				};
			} else {
				const subscription: PublicSubscription = message.subscription!;
				data = {
					...base,
					subscriptionId: subscription.id,
					planName: subscription.plan.name,
					planCode: subscription.plan.code,
					status: SUBSCRIPTION_STATUS_TEXT[subscription.status] + (subscription.cancelAtPeriodEnd ? ", canceling at the period's end" : ""),
					periodEnd: billingDate(subscription.currentPeriodEnd),
					trialEnd: billingDate(subscription.trialEnd ?? subscription.currentPeriodEnd),
					endsAt: billingDate(subscription.endedAt ?? subscription.currentPeriodEnd),
					amount: formatMoney(subscription.plan.amount, subscription.plan.currency),
					link: `${config.appUrl}/billing`,
					subscription,
				};
			}
			const eventId = billingEventId(type, message.eventId);
			// Every billing event type is a type of the catalog: a type error here when one is missing from it.
			const notificationType: NotificationType = type;
			// Owners as of the announcement; a message naming none still reaches the tenant's current owners and its webhooks.
			const ownerIds = [...new Set(message.ownerIds ?? [])];
			return ownerIds.length > 0
				? { userIds: ownerIds, tenantId: message.tenantId, type: notificationType, data, eventId }
				: { tenantId: message.tenantId, roles: ["owner"], type: notificationType, data, eventId };
		},

		async organizationName(this: Host, tenantId: string): Promise<string> {
			try {
				return (await this.broker.call<{ name: string }, { id: string }>("tenants.details", { id: tenantId }, systemCall())).name;
			} catch (err) {
				// A tenant gone since (404) is still told about its billing; identity unreachable is retried with the message.
				if (isFinalRefusal(err)) return "your organization";
				throw err;
			}
		},

		/**
		 * The user who created the job is told (in-app, and by email when it failed) and the tenant's webhooks get
		 * the job; a job made with an API key has no user, so only the webhooks.
		 */
		async screenshotJobFinished(this: Host, type: "screenshot.job.succeeded" | "screenshot.job.failed", job: PublicScreenshotJob) {
			const eventId = `${type}:${job.id}`;
			const data = {
				jobId: job.id,
				source: job.source.url ?? "an HTML document",
				images: job.results.length,
				error: job.error?.message ?? "",
				link: `${platformConfigOf(this.broker).appUrl}/screenshots/${job.id}`,
				job,
			};
			if (job.createdBy) return this.sendDurably({ userId: job.createdBy, tenantId: job.tenantId, type, data, eventId });
			try {
				await this.broker.call("webhooks.dispatch", { tenantId: job.tenantId, eventType: type, eventId, data }, systemCall());
			} catch (err) {
				if (!isFinalRefusal(err)) throw err;
				this.logger.error(`Webhook ${type} (${eventId}) refused, not retried:`, err);
			}
		},

		/** The payment a message announces; a row written before messages carried it is looked up (as it is now). */
		async paymentOf(this: Host, message: PaymentMessage): Promise<PublicPayment> {
			return message.payment ?? this.broker.call<PublicPayment, { id: string }>("payments.getPayment", { id: message.paymentId }, systemCall());
		},

		/**
		 * For channel messages: a failure that another delivery may get past is thrown, so the message comes
		 * back (what was delivered is recorded and skipped then); a refusal is final, logged and acknowledged.
		 */
		async sendDurably(this: Host, params: SendParams) {
			try {
				await this.broker.call("notifications.send", params, systemCall());
			} catch (err) {
				if (!isFinalRefusal(err)) throw err;
				this.logger.error(`Notification ${params.type} (${params.eventId ?? "no event id"}) refused, not retried:`, err);
			}
		},
	},
};
