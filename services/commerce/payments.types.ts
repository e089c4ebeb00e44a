/**
 * The shapes of payments: what callers get (PublicPayment), what the table holds (PaymentRow), the service's
 * settings, locals and methods. payments.service.ts (and payments-reconciliation.ts) hold the logic.
 */
import type { Context } from "moleculer";
import type Stripe from "stripe";
import type { CardPaymentProvider } from "./stripe-provider";
import type { CallerMeta } from "../../lib/caller";
import type { DbMixinSettings } from "../../mixins/db.mixin";
import type { IdempotencyMeta } from "../../mixins/idempotency.mixin";
import type { PaymentMethod, PaymentStatus, PaymentStatusReason } from "../../models/commerce/payments/payment.model";
import type { PublicPayment } from "./contracts";
import type { AggregateMethods } from "../../mixins/aggregate.mixin";

export type { PublicPayment } from "./contracts";

export interface PaymentsSettings extends DbMixinSettings {
	/** Shown in bank-transfer instructions. Placeholders until a real account is configured. */
	bankAccount: { bankName: string; accountName: string; iban: string; bic: string };
	/** Virtual account numbers are this prefix plus 10 random digits. */
	virtualAccountPrefix: string;
	/** Base of the e-wallet deep link (and QR payload). */
	walletDeepLinkBase: string;
	/**
	 * Shared secret a bank callback presents as `callbackSecret` to `POST /payments/:id/verify`. Unset: bank
	 * callbacks are refused (super admins can still verify).
	 */
	bankCallbackSecret?: string;
}

export interface PaymentRow {
	id: string;
	orderId: string;
	userId: string;
	tenantId: string | null;
	amount: string | number;
	currency: string;
	method: PaymentMethod;
	status: PaymentStatus;
	paymentReference: string;
	instructions: Record<string, unknown>;
	settledAt: Date | null;
	failedAt: Date | null;
	refundedAt: Date | null;
	providerReference: string | null;
	statusReason: PaymentStatusReason | null;
	createdAt: Date;
	updatedAt: Date;
}

export interface OrderView {
	id: string;
	userId: string;
	tenantId: string | null;
	status: string;
	paymentStatus: string;
	currency: string;
	totalAmount: number;
}

export interface ListParams {
	page: number;
	pageSize: number;
	status?: PaymentStatus;
	orderId?: string;
}

export interface PaymentsLocals {
	/** Set in created() when STRIPE_SECRET_KEY is configured; unset, credit_card answers 422. */
	cardProvider?: CardPaymentProvider;
}

export interface WebhookOutcome {
	received: true;
	duplicate?: true;
	ignored?: string;
	paymentId?: string;
	status?: PaymentStatus;
	/** Set when the payment changed: what to announce after the commit. */
	changed?: { row: PaymentRow; event: string };
}

export interface PaymentsMethods extends AggregateMethods<PaymentRow, PaymentStatus, PublicPayment> {
	isBankCallback(ctx: Context<{ callbackSecret?: string }, CallerMeta>): boolean;
	loadRow(id: string): Promise<PaymentRow | undefined>;
	toPublic(row: PaymentRow): PublicPayment;
	newReference(): string;
	instructionsFor(method: PaymentMethod, reference: string, amount: number, currency: string): Record<string, unknown>;
	availableMethods(): PaymentMethod[];
	startCardPayment(row: PaymentRow): Promise<PublicPayment>;
	handleStripeEvent(event: Stripe.Event): Promise<WebhookOutcome>;
	/** The public payment: answers, events, outbox rows (AggregateMixin reads it). */
	present(row: PaymentRow): PublicPayment;
}

export type PaymentsContext<P = Record<string, unknown>> = Context<P, IdempotencyMeta>;
