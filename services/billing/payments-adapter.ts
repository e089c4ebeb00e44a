/**
 * Billing's one door to the payments service (commerce, generalised to pay invoices on branch paygen). The
 * shapes below mirror what paygen declares in services/commerce/contracts.ts (PAYMENT_ACTIONS,
 * PayInvoiceParams, PublicPayment, PaymentMessage with `payable`); once that lands they can be imported from
 * there instead of restated here.
 *
 *   payments.payInvoice {tenantId, invoiceId, amount, currency, method, description?, idempotencyKey} → PublicPayment
 *       card: charged off-session now (status succeeded or failed); manual methods: pending, with instructions
 *   payments.defaultPaymentMethod {tenantId} → the tenant's default saved card, or null
 *   payments.voidForInvoice {invoiceId, reason: "invoice_voided"} → fails the invoice's pending payments
 *
 * and the durable channels commerce.payment.settled / commerce.payment.failed, whose messages carry
 * `payable: { type: "invoice", id }` and `payment` for an invoice's payment.
 */
import type { ServiceBroker } from "moleculer";
import { systemCall } from "../../lib/caller";
import type { BillingPaymentMethod } from "./contracts";

export const PAYMENT_ACTIONS = {
	payInvoice: "payments.payInvoice",
	defaultPaymentMethod: "payments.defaultPaymentMethod",
	voidForInvoice: "payments.voidForInvoice",
} as const;

export interface PayInvoiceRequest {
	tenantId: string;
	invoiceId: string;
	/** Minor units, > 0. */
	amount: number;
	currency: string;
	method: BillingPaymentMethod;
	description?: string;
	/** `<invoiceId>:<attempt>`: a replay answers the same payment and never charges twice. */
	idempotencyKey: string;
}

/** The part of PublicPayment billing reads. */
export interface InvoicePayment {
	id: string;
	status: "pending" | "succeeded" | "failed" | "refunded";
	failureCode?: string | null;
	failureMessage?: string | null;
}

/** A commerce.payment.* message as billing reads it: only invoices' payments are billing's. */
export interface PaymentChannelMessage {
	paymentId: string;
	orderId?: string | null;
	payable?: { type: string; id: string };
	payment?: InvoicePayment;
}

export class PaymentsAdapter {
	constructor(private readonly broker: ServiceBroker) {}

	payInvoice(request: PayInvoiceRequest): Promise<InvoicePayment> {
		return this.broker.call<InvoicePayment, PayInvoiceRequest>(PAYMENT_ACTIONS.payInvoice, request, systemCall());
	}

	/** Whether the tenant has a default card to charge invoices to. */
	async hasDefaultCard(tenantId: string): Promise<boolean> {
		const method = await this.broker.call<{ id: string } | null, { tenantId: string }>(PAYMENT_ACTIONS.defaultPaymentMethod, { tenantId }, systemCall());
		return Boolean(method?.id);
	}

	voidForInvoice(invoiceId: string): Promise<unknown> {
		return this.broker.call(PAYMENT_ACTIONS.voidForInvoice, { invoiceId, reason: "invoice_voided" }, systemCall());
	}
}

/** The invoice a payment message is about, or undefined when it pays something else (an order). */
export function invoiceOf(message: PaymentChannelMessage): string | undefined {
	return message.payable?.type === "invoice" ? message.payable.id : undefined;
}
