/**
 * Billing's one door to the payments service (commerce): invoices are paid through it, never by a copy.
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
import { PAYMENT_ACTIONS, payableOf, type PayInvoiceParams, type PaymentMessage, type PublicPayment } from "../commerce/contracts";

export type PayInvoiceRequest = PayInvoiceParams;
/** The part of PublicPayment billing reads. */
export type InvoicePayment = Pick<PublicPayment, "id" | "status" | "failureCode" | "failureMessage">;
/** A commerce.payment.* message as billing reads it: only invoices' payments are billing's. */
export type PaymentChannelMessage = PaymentMessage;

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
	const payable = payableOf(message);
	return payable.type === "invoice" ? payable.id : undefined;
}
