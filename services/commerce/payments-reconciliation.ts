/**
 * Payments' side of keeping money and orders in agreement (a mixin of payments.service.ts).
 *
 * Cancelling an order fails its pending payment in the same request (orders calls `payments.voidForOrder`
 * after the cancel commits) and again durably (the cancel's outbox row on `commerce.order.cancelled`), as
 * Stripe cancels a PaymentIntent and Medusa's cancel-order flow cancels uncaptured payments: the buyer can
 * always cancel an unpaid order, and a pending payment never hangs on a cancelled one. A payment created
 * while the cancel ran re-reads its order and fails itself (`refuseIfOrderMovedOn`).
 *
 * Money can still arrive: a bank transfer already on its way, a verify racing the cancel, a card confirmed
 * in the browser. It settles (a failed payment too: the money was received), and orders refuses it
 * (`markPaid`: the order is cancelled, or paid by another payment). Orders then writes an outbox row on
 * `commerce.order.payment_rejected`; here it is refunded (cards at Stripe, key `refund-<paymentId>`) through
 * the same guarded change and outbox as a super admin's refund, with the reason in `statusReason`. The
 * refund is announced on `commerce.payment.refunded` like any other: notifications tells the buyer, and
 * orders records it on the cancelled order (`paymentStatus: refunded`). Every step is durable and idempotent.
 */
import type { Context, ServiceSchema } from "moleculer";
import type { PaymentsContext, PaymentRow, PaymentsDb, PaymentsLocals, PaymentsMethods, PublicPayment } from "./payments.types";
import type { OutboxMethods } from "../../mixins/outbox.mixin";
import { PAYMENT_STATUS_REASONS, type PaymentStatusReason } from "../../models/commerce/payments/payment.model";
import { ORDER_CHANNELS, PAYMENT_CHANNELS, PAYMENT_EVENTS, type OrderCancelledMessage, type Payable, type PaymentRejectedMessage } from "./contracts";
import { systemCall } from "../../lib/caller";
import { ConflictError, UnprocessableEntityError, isFinalRefusal } from "../../lib/errors";

export interface ReconciliationMethods {
	/** Fails a new payment whose order stopped being payable while it was created; 409 ORDER_NOT_PAYABLE. */
	refuseIfOrderMovedOn(row: PaymentRow): Promise<void>;
	/** Refunds a settled payment (cards at Stripe first) and announces it; a refunded one is answered as it is. */
	refundSettled(ctx: Context, before: PaymentRow, reason: PaymentStatusReason | null): Promise<PublicPayment>;
	/** Fails the pending payments of a payable that can no longer be paid (a cancelled order, a voided invoice); answers those it failed. */
	voidPendingPayments(ctx: Context, payable: Payable, reason: PaymentStatusReason): Promise<PublicPayment[]>;
}

interface OrderView {
	status: string;
	paymentStatus: string;
}

const reasonRule = { type: "enum", values: PAYMENT_STATUS_REASONS } as const;

type Host = PaymentsDb & PaymentsMethods & OutboxMethods & ReconciliationMethods & PaymentsLocals;

export const PaymentsReconciliation: Partial<ServiceSchema> = {
	/**
	 * Durable inputs from orders (group "payments"). At least once: both actions are idempotent. A refusal no
	 * retry can fix (an unknown payment) is logged and acknowledged; anything else is retried.
	 */
	channels: {
		[ORDER_CHANNELS.cancelled]: {
			group: "payments",
			maxRetries: 10,
			async handler(payload: OrderCancelledMessage) {
				await this.broker.call("payments.voidForOrder", { orderId: payload.orderId, reason: "order_cancelled" }, systemCall());
			},
		},
		[ORDER_CHANNELS.paymentRejected]: {
			group: "payments",
			maxRetries: 10,
			async handler(payload: PaymentRejectedMessage) {
				try {
					await this.broker.call("payments.refundRejected", { paymentId: payload.paymentId, reason: payload.reason }, systemCall());
				} catch (err) {
					if (!isFinalRefusal(err)) throw err;
					this.logger.error(`Payment ${payload.paymentId}, rejected by order ${payload.orderId} (${payload.reason}), can't be refunded: ${(err as Error).message}; refund it by hand`);
				}
			},
		},
	},

	actions: {
		/** Internal: the order was cancelled; its pending payments fail (cards: the PaymentIntent is cancelled at Stripe). */
		voidForOrder: {
			visibility: "public",
			permissions: ["super_admin"],
			params: { orderId: "uuid", reason: reasonRule, $$strict: "remove" },
			async handler(ctx: PaymentsContext<{ orderId: string; reason: PaymentStatusReason }>) {
				return this.voidPendingPayments(ctx, { type: "order", id: ctx.params.orderId.toLowerCase() }, ctx.params.reason);
			},
		},

		/** Internal: a settled payment the order refused is refunded; already refunded: answered as it is. */
		refundRejected: {
			visibility: "public",
			permissions: ["super_admin"],
			params: { paymentId: "uuid", reason: reasonRule, $$strict: "remove" },
			async handler(ctx: PaymentsContext<{ paymentId: string; reason: PaymentStatusReason }>) {
				const before = await this.loadRow(ctx.params.paymentId);
				if (!before) throw new UnprocessableEntityError(`Payment ${ctx.params.paymentId} doesn't exist`, "PAYMENT_UNKNOWN");
				if (before.status === "pending" || before.status === "failed") {
					// A stale message: nothing was received (or it was already given back and failed since).
					this.logger.warn(`Payment ${before.id} is ${before.status}: nothing to refund for order ${before.orderId}`);
					return this.toPublic(before);
				}
				return this.refundSettled(ctx, before, ctx.params.reason);
			},
		},
	},

	methods: {
		async refuseIfOrderMovedOn(this: Host, row: PaymentRow): Promise<void> {
			let order: OrderView;
			try {
				order = await this.broker.call<OrderView, { id: string }>("orders.getOrder", { id: row.payableId }, systemCall());
			} catch (err) {
				// Orders answered a moment ago; failing the new payment now for want of a second answer would
				// strand the buyer. Should the order have been cancelled meanwhile, money for this payment is refunded.
				this.logger.warn(`Payment ${row.id}: could not read order ${row.orderId} again, going on: ${(err as Error).message}`);
				return;
			}
			if (order.status === "pending" && order.paymentStatus === "unpaid") return;
			const reason: PaymentStatusReason = order.status === "cancelled" ? "order_cancelled" : "order_not_payable";
			await this.guardedUpdate(row.id, "pending", { status: "failed", failedAt: new Date(), statusReason: reason });
			throw new ConflictError(`Order ${row.orderId} can't be paid: it is ${order.status} (${order.paymentStatus})`, "ORDER_NOT_PAYABLE", {
				orderId: row.orderId,
				status: order.status,
				paymentStatus: order.paymentStatus,
			});
		},

		async refundSettled(this: Host, ctx: Context, before: PaymentRow, reason: PaymentStatusReason | null): Promise<PublicPayment> {
			if (before.status === "refunded") return this.toPublic(before);
			const provider = this.providers.find(before.method);
			// A processor's payment is refunded there first (manual methods give the money back outside, recorded here).
			if (before.status === "succeeded" && (!provider || provider.refundPayment)) {
				if (!provider?.refundPayment || !before.providerReference) {
					throw new UnprocessableEntityError("Card refunds are not available: Stripe is not configured", "METHOD_NOT_AVAILABLE", { paymentId: before.id });
				}
				await provider.refundPayment({ id: before.id, providerReference: before.providerReference });
			}
			const { row, changed } = await this.transition(
				before,
				"succeeded",
				{ status: "refunded", refundedAt: new Date(), statusReason: reason },
				{ channel: PAYMENT_CHANNELS.refunded, noOp: (current) => current.status === "refunded" },
			);
			return changed ? this.announce(ctx, PAYMENT_EVENTS.refunded, row) : this.toPublic(row);
		},

		async voidPendingPayments(this: Host, ctx: Context, payable: Payable, reason: PaymentStatusReason): Promise<PublicPayment[]> {
			const where = { payableType: payable.type, payableId: payable.id, status: "pending" as const };
			const pending = (await this.models.payment.findAll({ where })).map((row) => row.get({ plain: true }));
			const voided: PublicPayment[] = [];
			for (const before of pending) {
				// No channel: the buyer cancelled, a "payment failed" notice would mislead. Guarded: a payment that
				// settled meanwhile stays settled, and the saga refunds it.
				const row = await this.guardedUpdate(before.id, "pending", { status: "failed", failedAt: new Date(), statusReason: reason });
				if (!row) continue;
				const provider = this.providers.find(row.method);
				if (row.providerReference && provider?.cancelPayment) {
					// Best effort: an intent Stripe already took money on can't be cancelled; its webhook settles
					// the failed payment and the saga refunds it.
					await provider.cancelPayment(row.providerReference).catch((err: unknown) => {
						this.logger.warn(`Payment ${row.id}: cancelling PaymentIntent ${row.providerReference} failed: ${(err as Error).message}`);
					});
				}
				voided.push(await this.announce(ctx, PAYMENT_EVENTS.failed, row));
			}
			return voided;
		},
	},
};
