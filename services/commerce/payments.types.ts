/**
 * The shapes of payments: what callers get (PublicPayment), the service's settings, locals and methods (the
 * rows, PaymentRow, SavedMethodRow and PaymentCustomerRow, are declared with their models). payments.service.ts and its mixins
 * (payments-reconciliation.ts, -webhooks.ts, -invoices.ts, -saved-methods.ts) hold the logic.
 */
import type { Context } from "moleculer";
import type { Transaction } from "sequelize";
import type { PaymentProvider, ProviderEvent, ProviderPayment } from "./payment-provider";
import type { PaymentProviderRegistry } from "./payment-provider-registry";
import type { CallerMeta } from "../../lib/caller";
import type { DbMixinSettings, DbService } from "../../mixins/db.mixin";
import type { IdempotencyMeta } from "../../mixins/idempotency.mixin";
import type { PaymentMethod, PaymentModel, PaymentRow, PaymentStatus } from "../../models/commerce/payments/payment.model";
import type { PaymentCustomerModel, SavedMethodRow, SavedPaymentMethodModel } from "../../models/commerce/payments/saved-payment-method.model";
import type { Payable, PublicPayment } from "./contracts";
import type { AggregateMethods } from "../../mixins/aggregate.mixin";

export type { PublicPayment, PublicSavedPaymentMethod } from "./contracts";
export type { PaymentRow } from "../../models/commerce/payments/payment.model";
export type { PaymentCustomerRow, SavedMethodRow } from "../../models/commerce/payments/saved-payment-method.model";

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

/** A payment about to be written: what pays what, for how much, how. */
export interface NewPayment {
	payable: Payable;
	userId: string | null;
	tenantId: string | null;
	amount: number;
	currency: string;
	method: PaymentMethod;
	idempotencyKey?: string;
	description?: string;
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
	invoiceId?: string;
}

export interface PaymentsLocals {
	/** Built in created(): the manual methods always, credit_card when STRIPE_SECRET_KEY is configured. */
	providers: PaymentProviderRegistry;
}

export interface WebhookOutcome {
	received: true;
	duplicate?: true;
	ignored?: string;
	paymentId?: string;
	status?: PaymentStatus;
	/** A card saved by a `setup_intent.succeeded`. */
	paymentMethodId?: string;
	/** Set when the payment changed: what to announce after the commit. */
	changed?: { row: PaymentRow; event: string };
	/** Set when a card was saved: what to announce after the commit. */
	saved?: SavedMethodRow;
}

export interface PaymentsMethods extends AggregateMethods<PaymentRow, PaymentStatus, PublicPayment> {
	isBankCallback(ctx: Context<{ callbackSecret?: string }, CallerMeta>): boolean;
	loadRow(id: string): Promise<PaymentRow | undefined>;
	toPublic(row: PaymentRow): PublicPayment;
	newReference(): string;
	/** The payment as its provider sees it. */
	providerPaymentOf(row: PaymentRow): ProviderPayment;
	/**
	 * Writes a pending payment with its provider's instructions and a fresh reference. 409 PAYMENT_PENDING when
	 * the payable has one; a concurrent request with the same idempotency key answers its payment (`replayed`).
	 */
	insertPayment(values: NewPayment): Promise<{ row: PaymentRow; replayed: boolean }>;
	/** Opens a new payment at its processor (cards: a PaymentIntent); refused or unreachable, the payment fails and the error propagates. */
	initiateAtProvider(row: PaymentRow, provider: PaymentProvider): Promise<PublicPayment>;
	/** One verified webhook event, once (its id recorded with the change): payments-webhooks.ts. */
	handleProviderEvent(event: ProviderEvent, provider: PaymentProvider): Promise<WebhookOutcome>;
	/** A payment's success or failure at its processor, in the webhook's transaction. */
	applyPaymentEvent(event: Extract<ProviderEvent, { kind: "payment_succeeded" | "payment_failed" }>, transaction: Transaction): Promise<WebhookOutcome>;
	currentStatus(row: PaymentRow, transaction: Transaction): Promise<PaymentStatus>;
	/** The public payment: answers, events, outbox rows (AggregateMixin reads it). */
	present(row: PaymentRow): PublicPayment;
}

export type PaymentsContext<P = Record<string, unknown>> = Context<P, IdempotencyMeta>;

/** DbMixin's part of the payments service, its models typed: `this` of its mixins starts from it. */
export type PaymentsDb = DbService<typeof PaymentModel, typeof PaymentCustomerModel | typeof SavedPaymentMethodModel>;
