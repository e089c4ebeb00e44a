/**
 * The commerce domain's public face: what other domains may import from it (and nothing else). DTOs as
 * callers receive them, the names of the events (fire and forget) and durable channels (JetStream, fed by
 * the outboxes) commerce publishes, and the payloads those carry.
 */
import type { OrderStatus, PaymentStatus as OrderPaymentStatus } from "../../models/commerce/orders/order.models";
import type { PaymentMethod, PaymentStatus, PaymentStatusReason } from "../../models/commerce/payments/payment.model";
import type { ProductStatus } from "../../models/commerce/catalog/product.model";

// --- Catalog ---------------------------------------------------------------------------------------------

export const PRODUCT_EVENTS = { created: "product.created", updated: "product.updated", archived: "product.archived" } as const;

export interface PublicProduct {
	id: string;
	name: string;
	description: string;
	category: string;
	priceAmount: number;
	currency: string;
	features: Record<string, unknown>;
	image: string | null;
	status: ProductStatus;
	createdAt: string;
	updatedAt: string;
}

// --- Orders ----------------------------------------------------------------------------------------------

/** Events (fire and forget) an order's changes emit, with `{ order }` (OrderEvent). */
export const ORDER_EVENTS = {
	created: "order.created",
	paid: "order.paid",
	cancelled: "order.cancelled",
	completed: "order.completed",
	refunded: "order.refunded",
	/**
	 * A settled or refunded payment that the order can't follow (e.g. cancelled meanwhile). With `refund`
	 * (the reason), the saga refunds it; without, a human looks.
	 */
	paymentConflict: "order.payment_conflict",
} as const;

/**
 * Durable channels the outbox relay (mixins/outbox.mixin.ts) publishes to. `paid`, `refunded` and
 * `cancelled` carry `{ orderId, order }` (the public order, as the `order.*` events carry it): notifications
 * consumes the first two, payments (group "payments") `cancelled`, to fail the order's pending payment.
 * `paymentRejected` carries `{ orderId, paymentId, reason, code }`: a settled payment the order can't take
 * (cancelled meanwhile, paid by another payment), which payments refunds.
 */
export const ORDER_CHANNELS = {
	paid: "commerce.order.paid",
	refunded: "commerce.order.refunded",
	cancelled: "commerce.order.cancelled",
	paymentRejected: "commerce.order.payment_rejected",
} as const;

export interface PublicOrderLine {
	productId: string;
	name: string;
	unitPriceAmount: number;
	quantity: number;
	totalAmount: number;
	currency: string;
}

export interface PublicOrder {
	id: string;
	userId: string;
	tenantId: string | null;
	status: OrderStatus;
	paymentStatus: OrderPaymentStatus;
	currency: string;
	totalAmount: number;
	paymentId: string | null;
	lines: PublicOrderLine[];
	createdAt: string;
	updatedAt: string;
	paidAt: string | null;
	cancelledAt: string | null;
	completedAt: string | null;
	refundedAt: string | null;
}

/** What the `order.*` events carry. */
export interface OrderEvent {
	order: PublicOrder;
}

/** `commerce.order.paid|refunded|cancelled`, from orders' outbox: the public order, as the `order.*` events carry it. */
export interface OrderMessage {
	orderId: string;
	order: PublicOrder;
}

/** `commerce.order.cancelled` as payments reads it: only the id matters there. */
export type OrderCancelledMessage = Pick<OrderMessage, "orderId">;

/** `commerce.order.payment_rejected`: a settled payment the order can't take, which payments refunds. */
export interface PaymentRejectedMessage {
	orderId: string;
	paymentId: string;
	reason: PaymentStatusReason;
	code?: string;
}

// --- Payments --------------------------------------------------------------------------------------------

/** Events (fire and forget) a payment's changes emit, with `{ payment }`. */
export const PAYMENT_EVENTS = {
	succeeded: "payment.succeeded",
	failed: "payment.failed",
	refunded: "payment.refunded",
} as const;

/**
 * Durable channels the outbox relay (mixins/outbox.mixin.ts) publishes to, with `{ paymentId, orderId, payment }`:
 * orders (group "orders") runs the saga on settled and refunded, notifications (group "notifications") tells the
 * payer and the tenant of all three.
 */
export const PAYMENT_CHANNELS = {
	settled: "commerce.payment.settled",
	refunded: "commerce.payment.refunded",
	failed: "commerce.payment.failed",
} as const;

export interface PublicPayment {
	id: string;
	orderId: string;
	userId: string;
	tenantId: string | null;
	amount: number;
	currency: string;
	method: PaymentMethod;
	status: PaymentStatus;
	paymentReference: string;
	instructions: Record<string, unknown>;
	createdAt: string;
	updatedAt: string;
	settledAt: string | null;
	failedAt: string | null;
	refundedAt: string | null;
	/** Card payments: the Stripe PaymentIntent id. */
	providerReference: string | null;
	/** Why the platform itself failed or refunded the payment (e.g. `order_cancelled`); null otherwise. */
	statusReason: PaymentStatusReason | null;
}

/** What the `payment.*` events carry. */
export interface PaymentEvent {
	payment: PublicPayment;
}

/** `commerce.payment.settled|refunded|failed`, from payments' outbox; rows written before `payment` was added carry ids only. */
export interface PaymentMessage {
	paymentId: string;
	orderId: string;
	payment?: PublicPayment;
}
