/**
 * What notifications react to (a mixin of notifications.service.ts): the durable channels other domains'
 * outboxes feed (a new account, paid and refunded orders, settled, failed and refunded payments, finished
 * screenshot jobs), each
 * turned into a `notifications.send` whose event id derives from the entity, so a redelivery doubles
 * nothing. Only durable channels: plain broker events are at most once, and a notification would be lost
 * whenever no notifications node is up.
 */
import type { Service, ServiceSchema } from "moleculer";
import { systemCall } from "../../lib/caller";
import { isFinalRefusal } from "../../lib/errors";
import { formatMoney } from "../../lib/currency";
import { platformConfigOf } from "../../lib/node";
import { ORDER_CHANNELS, PAYMENT_CHANNELS, type OrderMessage, type PaymentMessage, type PublicOrder, type PublicPayment } from "../commerce/contracts";
import { USER_CHANNELS, type UserCreatedMessage } from "../identity/contracts";
import { SCREENSHOT_CHANNELS, type PublicScreenshotJob, type ScreenshotJobMessage } from "../screenshots/contracts";
import type { SendParams } from "./contracts";

export interface TriggerMethods {
	orderNotification(type: "order.paid" | "order.refunded", order: PublicOrder): SendParams;
	paymentNotification(type: "payment.succeeded" | "payment.failed" | "payment.refunded", payment: PublicPayment): SendParams;
	paymentOf(message: PaymentMessage): Promise<PublicPayment>;
	sendDurably(params: SendParams): Promise<void>;
	screenshotJobFinished(type: "screenshot.job.succeeded" | "screenshot.job.failed", job: PublicScreenshotJob): Promise<void>;
}

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
				await this.sendDurably(this.paymentNotification("payment.succeeded", await this.paymentOf(message)));
			},
		},
		[PAYMENT_CHANNELS.refunded]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: PaymentMessage) {
				await this.sendDurably(this.paymentNotification("payment.refunded", await this.paymentOf(message)));
			},
		},
		[PAYMENT_CHANNELS.failed]: {
			group: "notifications",
			maxRetries: 10,
			async handler(message: PaymentMessage) {
				await this.sendDurably(this.paymentNotification("payment.failed", await this.paymentOf(message)));
			},
		},
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
			return { userId: payment.userId, tenantId: payment.tenantId ?? undefined, type, data, eventId: `${type}:${payment.id}` };
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
