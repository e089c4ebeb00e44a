/**
 * The commerce domain's public face: what other domains may import from it (and nothing else). DTOs as
 * callers receive them, the names of the events (fire and forget) and durable channels (JetStream, fed by
 * the outboxes) commerce publishes, and the payloads those carry.
 */
import { AnyObject, DateTime, Enum, Nullable, Type, Uuid, type Static } from "../../lib/schema";
import { ORDER_STATUSES, PAYMENT_STATUSES as ORDER_PAYMENT_STATUSES } from "../../models/commerce/orders/order.models";
import { PAYMENT_METHODS, PAYMENT_STATUSES, PAYMENT_STATUS_REASONS, type PaymentStatusReason } from "../../models/commerce/payments/payment.model";
import { PRODUCT_STATUSES } from "../../models/commerce/catalog/product.model";

/** An ISO 4217 code as answered: upper case. */
const Currency = Type.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 currency code" });

// --- Catalog ---------------------------------------------------------------------------------------------

export const PRODUCT_EVENTS = { created: "product.created", updated: "product.updated", archived: "product.archived" } as const;

/** A product as the API answers it (its schema is the OpenAPI document's, its Static type the DTO). */
export const PublicProductSchema = Type.Object({
	id: Uuid,
	name: Type.String(),
	description: Type.String(),
	category: Type.String(),
	priceAmount: Type.Integer({ minimum: 0, description: "In the currency's minor unit." }),
	currency: Currency,
	features: AnyObject,
	image: Nullable(Type.String()),
	status: Enum(PRODUCT_STATUSES),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicProduct = Static<typeof PublicProductSchema>;

/** GET /categories: each category of active products and how many it holds. */
export const CategoryCountSchema = Type.Object({ category: Type.String(), count: Type.Integer({ minimum: 0 }) });

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

export const PublicOrderLineSchema = Type.Object({
	productId: Uuid,
	name: Type.String(),
	unitPriceAmount: Type.Integer(),
	quantity: Type.Integer({ minimum: 1 }),
	totalAmount: Type.Integer(),
	currency: Currency,
});
export type PublicOrderLine = Static<typeof PublicOrderLineSchema>;

export const PublicOrderSchema = Type.Object({
	id: Uuid,
	userId: Uuid,
	tenantId: Nullable(Uuid),
	status: Enum(ORDER_STATUSES),
	paymentStatus: Enum(ORDER_PAYMENT_STATUSES),
	currency: Currency,
	totalAmount: Type.Integer(),
	paymentId: Nullable(Type.String({ description: "The payment that paid the order." })),
	lines: Type.Array(PublicOrderLineSchema),
	createdAt: DateTime,
	updatedAt: DateTime,
	paidAt: Nullable(DateTime),
	cancelledAt: Nullable(DateTime),
	completedAt: Nullable(DateTime),
	refundedAt: Nullable(DateTime),
});
export type PublicOrder = Static<typeof PublicOrderSchema>;

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

export const PublicPaymentSchema = Type.Object({
	id: Uuid,
	orderId: Uuid,
	userId: Uuid,
	tenantId: Nullable(Uuid),
	amount: Type.Integer(),
	currency: Currency,
	method: Enum(PAYMENT_METHODS),
	status: Enum(PAYMENT_STATUSES),
	paymentReference: Type.String(),
	instructions: AnyObject,
	createdAt: DateTime,
	updatedAt: DateTime,
	settledAt: Nullable(DateTime),
	failedAt: Nullable(DateTime),
	refundedAt: Nullable(DateTime),
	providerReference: Nullable(Type.String({ description: "Card payments: the Stripe PaymentIntent id." })),
	statusReason: Nullable(Enum(PAYMENT_STATUS_REASONS, { description: "Why the platform itself failed or refunded the payment (e.g. `order_cancelled`)." })),
});
export type PublicPayment = Static<typeof PublicPaymentSchema>;

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

/** What Stripe's webhook answers: received, and what became of the event. */
export const StripeWebhookAnswerSchema = Type.Object({
	received: Type.Literal(true),
	duplicate: Type.Optional(Type.Literal(true)),
	ignored: Type.Optional(Type.String({ description: "Why the event changed nothing." })),
	paymentId: Type.Optional(Uuid),
	status: Type.Optional(Enum(PAYMENT_STATUSES)),
});
