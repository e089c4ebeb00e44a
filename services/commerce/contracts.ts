/**
 * The commerce domain's public face: what other domains may import from it (and nothing else). DTOs as
 * callers receive them, the names of the events (fire and forget) and durable channels (JetStream, fed by
 * the outboxes) commerce publishes, and the payloads those carry.
 */
import { AnyObject, DateTime, Enum, Nullable, Type, Uuid, type Static } from "../../lib/schema";
import { ORDER_STATUSES, PAYMENT_STATUSES as ORDER_PAYMENT_STATUSES } from "../../models/commerce/orders/order.models";
import {
	PAYABLE_TYPES,
	PAYMENT_METHODS,
	PAYMENT_STATUSES,
	PAYMENT_STATUS_REASONS,
	type PayableType,
	type PaymentMethod,
	type PaymentStatus,
	type PaymentStatusReason,
} from "../../models/commerce/payments/payment.model";
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

export { PAYABLE_TYPES, PAYMENT_METHODS, PAYMENT_STATUSES };
export type { PayableType, PaymentMethod, PaymentStatus, PaymentStatusReason };

/** Events (fire and forget) a payment's changes emit, with `{ payment }`. */
export const PAYMENT_EVENTS = {
	succeeded: "payment.succeeded",
	failed: "payment.failed",
	refunded: "payment.refunded",
} as const;

/**
 * Durable channels the outbox relay (mixins/outbox.mixin.ts) publishes to, with a PaymentMessage: `settled`
 * when the money arrived, `failed` when a pending payment failed (a card declined, a transfer that never came;
 * not when the platform voided it for a cancelled order or a voided invoice), `refunded` when it was given back.
 * Every payable's payments share them: a consumer keeps to its own payable type (`payableOf(message).type`).
 * Orders (group "orders") runs the saga on settled and refunded of orders; notifications (group
 * "notifications") tells an order's payer and tenant of all three; billing consumes its invoices'.
 */
export const PAYMENT_CHANNELS = {
	settled: "commerce.payment.settled",
	refunded: "commerce.payment.refunded",
	failed: "commerce.payment.failed",
} as const;

/**
 * The internal actions another domain calls (visibility "public": through the broker, never REST), as
 * platform work (`systemCall()`): `payInvoice` (PayInvoiceParams → PublicPayment), `defaultPaymentMethod`
 * (`{ tenantId }` → PublicSavedPaymentMethod | null), `voidForInvoice` (`{ invoiceId, reason: "invoice_voided" }`
 * → the payments it failed).
 */
export const PAYMENT_ACTIONS = {
	payInvoice: "payments.payInvoice",
	defaultPaymentMethod: "payments.defaultPaymentMethod",
	voidForInvoice: "payments.voidForInvoice",
} as const;

/** What a payment pays: an order (POST /payments) or an invoice (`payments.payInvoice`, billing). */
export const PayableSchema = Type.Object({ type: Enum(PAYABLE_TYPES), id: Uuid });
export type Payable = Static<typeof PayableSchema>;

export const PublicPaymentSchema = Type.Object({
	id: Uuid,
	payable: PayableSchema,
	orderId: Nullable(Type.String({ format: "uuid", description: "The order paid; null when the payable is not an order." })),
	userId: Nullable(Type.String({ format: "uuid", description: "The payer; null for an invoice, which its tenant pays." })),
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
	failureCode: Nullable(Type.String({ description: "Why the charge failed: the processor's error code (`card_declined`, `expired_card`, `authentication_required`) or `payment_method_missing` (no saved card)." })),
	declineCode: Nullable(Type.String({ description: "The card issuer's reason for a decline (`insufficient_funds`, `generic_decline`, `lost_card`)." })),
	failureMessage: Nullable(Type.String({ description: "The processor's explanation of the refusal." })),
});
export type PublicPayment = Static<typeof PublicPaymentSchema>;

/** What the `payment.*` events carry. */
export interface PaymentEvent {
	payment: PublicPayment;
}

/**
 * `commerce.payment.settled|refunded|failed`, from payments' outbox. Messages written before payables existed
 * carry `{ paymentId, orderId }` only (and some no `payment`): they are about orders, which `payableOf` answers.
 */
export interface PaymentMessage {
	paymentId: string;
	/** The order paid, for an order's payment; null for any other payable. */
	orderId: string | null;
	payable?: Payable;
	payment?: PublicPayment;
}

/** A PaymentMessage about an invoice's payment (what billing consumes): the tenant is `payment.tenantId`. */
export interface InvoicePaymentMessage extends PaymentMessage {
	orderId: null;
	payable: { type: "invoice"; id: string };
	payment: PublicPayment;
}

/** What a payment message pays, old messages included (they name only the order). */
export function payableOf(message: Pick<PaymentMessage, "orderId" | "payable">): Payable {
	return message.payable ?? { type: "order", id: message.orderId ?? "" };
}

/**
 * `payments.payInvoice`: billing pays one of its invoices. `idempotencyKey` names the attempt (say
 * `<invoiceId>:<attempt>`): a replay with the same key answers the same payment and never charges twice.
 */
export interface PayInvoiceParams {
	tenantId: string;
	invoiceId: string;
	/** In the currency's minor unit (ISO 4217), > 0. */
	amount: number;
	currency: string;
	method: PaymentMethod;
	/** Shown on the processor's records and in the payment's instructions (e.g. "Invoice INV-2026-000001"). */
	description?: string;
	idempotencyKey: string;
}

// --- Saved payment methods -------------------------------------------------------------------------------

/** Events (fire and forget) when a tenant's saved cards change, with `{ paymentMethod }` (PublicSavedPaymentMethod). */
export const PAYMENT_METHOD_EVENTS = {
	saved: "payment_method.saved",
	removed: "payment_method.removed",
} as const;

/** A tenant's saved card as it may be shown: never the processor's id or the number. */
export const PublicSavedPaymentMethodSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	type: Type.Literal("card"),
	brand: Type.String({ description: "visa, mastercard, amex, …" }),
	last4: Type.String({ pattern: "^[0-9]{4}$" }),
	expMonth: Type.Integer({ minimum: 1, maximum: 12 }),
	expYear: Type.Integer(),
	isDefault: Type.Boolean({ description: "The card the tenant's invoices are charged to." }),
	createdAt: DateTime,
});
export type PublicSavedPaymentMethod = Static<typeof PublicSavedPaymentMethodSchema>;

/** POST /payment-methods/setup: what Stripe.js confirms the card with (answered once, never stored). */
export const PaymentMethodSetupSchema = Type.Object({
	provider: Type.String({ description: "The processor (stripe)." }),
	setupIntentId: Type.String({ description: "The Stripe SetupIntent (seti_…)." }),
	clientSecret: Type.String({ description: "For Stripe.js `confirmCardSetup`; answered only here." }),
});
export type PaymentMethodSetup = Static<typeof PaymentMethodSetupSchema>;

/** What Stripe's webhook answers: received, and what became of the event. */
export const StripeWebhookAnswerSchema = Type.Object({
	received: Type.Literal(true),
	duplicate: Type.Optional(Type.Literal(true)),
	ignored: Type.Optional(Type.String({ description: "Why the event changed nothing." })),
	paymentId: Type.Optional(Uuid),
	status: Type.Optional(Enum(PAYMENT_STATUSES)),
	paymentMethodId: Type.Optional(Type.String({ format: "uuid", description: "The card a `setup_intent.succeeded` saved." })),
});
