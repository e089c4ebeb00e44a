/**
 * How the payments service reaches a way of paying, as Medusa's payment providers do
 * (packages/modules/payment: an AbstractPaymentProvider per processor, picked by id): one provider per method
 * (`bank_transfer`, `virtual_account`, `e_wallet`, `credit_card`), chosen by method through the
 * PaymentProviderRegistry (payment-provider-registry.ts). payments.service.ts and its mixins know this file
 * only, never a processor's SDK; adding a method or swapping a processor is a new implementation here.
 *
 * A provider always describes a payment (its instructions, synchronously, before the row is written). A
 * processor also opens it (`initiatePayment`, once the row exists, so the payment id can be the processor's
 * idempotency key), gives money back (`refundPayment`), abandons what took no money (`cancelPayment`) and
 * reads its own signed webhooks (`parseWebhook`). A processor that keeps cards (`SavedMethodSupport`) also has
 * customers, set-ups, and charges a saved card without the payer (`chargeSavedMethod`).
 *
 * Errors are the platform's typed errors: a refusal no retry changes is 422 PAYMENT_PROVIDER_REJECTED, a
 * processor that can't be reached 503 PAYMENT_PROVIDER_UNAVAILABLE, a bad webhook signature 400.
 */
import type { Payable, PaymentMethod } from "./contracts";

/** The payment a provider acts on, as the service holds it. */
export interface ProviderPayment {
	id: string;
	method: PaymentMethod;
	/** The human-readable reference (`LAT-7K3Q-9XW2`) payers quote. */
	reference: string;
	/** In the currency's minor unit by ISO 4217 (the platform's amounts); a processor converts to its own. */
	amount: number;
	/** ISO 4217, upper case. */
	currency: string;
	payable: Payable;
	tenantId: string | null;
	/** A payable's own words for the processor's records (billing: the invoice number). */
	description?: string;
}

/** A payment opened at a processor. */
export interface InitiatedPayment {
	/** The processor's id of what settles the payment (a Stripe PaymentIntent `pi_…`). */
	providerReference: string;
	/** Merged into the stored instructions. */
	instructions: Record<string, unknown>;
	/** Answered to the payer once and never stored (Stripe's client secret). */
	secretInstructions?: Record<string, unknown>;
}

/** Why a charge failed: the processor's error code (`card_declined`), the issuer's decline code (`insufficient_funds`), its words. */
export interface PaymentFailure {
	code: string;
	declineCode?: string;
	message: string;
}

/** What an off-session charge came to, answered synchronously. */
export type ChargeOutcome =
	| { status: "succeeded"; providerReference: string }
	/** Still processing at the processor: its webhook settles or fails the payment. */
	| { status: "pending"; providerReference: string }
	| { status: "failed"; providerReference?: string; failure: PaymentFailure };

/** A saved payment method of a customer at the processor. */
export interface SavedMethodRef {
	customerId: string;
	methodId: string;
}

/** What may be shown of a saved card. */
export interface SavedMethodDetails {
	methodId: string;
	/** The customer it is attached to, if any. */
	customerId: string | null;
	type: "card";
	brand: string;
	last4: string;
	expMonth: number;
	expYear: number;
}

/** A set-up (a Stripe SetupIntent) the payer confirms in the browser to save a card. */
export interface StartedSetup {
	setupId: string;
	clientSecret: string;
}

/** A processor's webhook, verified and read into what the payments service acts on. */
export type ProviderEvent = { id: string; type: string } & (
	| {
			kind: "payment_succeeded" | "payment_failed";
			providerReference: string;
			/** The payment id the processor was given (metadata), for an event that beats the stored reference. */
			paymentId?: string;
			/** In platform minor units; undefined when the processor's amount can't be one. */
			amount?: number;
			currency: string;
			failure?: PaymentFailure;
	  }
	| { kind: "setup_succeeded"; setupId: string; customerId: string | null; methodId: string | null }
	| { kind: "ignored" }
);

export interface PaymentProvider {
	readonly method: PaymentMethod;
	/** Names the provider in instructions and saved methods ("manual", "stripe"). */
	readonly name: string;
	/** Who settles a started payment: a super admin or the bank's callback (`verify`), or the processor's webhook. */
	readonly settledBy: "verify" | "webhook";
	/** What the payer is told (account, reference, deep link, …): stored on the payment and answered. */
	instructions(payment: ProviderPayment): Record<string, unknown>;
	/** Opens the payment at the processor, once the row exists; undefined for a manual method. */
	initiatePayment?(payment: ProviderPayment): Promise<InitiatedPayment>;
	/** Gives the money back at the processor; undefined: it is given back outside and only recorded here. */
	refundPayment?(payment: { id: string; providerReference: string }): Promise<void>;
	/** Abandons a started payment that took no money (its payable can't be paid any more). */
	cancelPayment?(providerReference: string): Promise<void>;
	/** Verifies a webhook over its raw body and reads it; 400 when the signature doesn't verify. */
	parseWebhook?(rawBody: string, signature: string | undefined): ProviderEvent;
}

/** A processor that keeps a customer's cards and charges them without the payer (subscriptions). */
export interface SavedMethodSupport {
	/** The processor's customer for a tenant; the key makes a retried create the same customer. */
	createCustomer(input: { tenantId: string; idempotencyKey: string }): Promise<{ customerId: string }>;
	/** A set-up for the payer to confirm a card on; confirmed, the processor's webhook says so (`setup_succeeded`). */
	startSetup(input: { customerId: string; tenantId: string }): Promise<StartedSetup>;
	describeSavedMethod(methodId: string): Promise<SavedMethodDetails>;
	detachSavedMethod(methodId: string): Promise<void>;
	/** Charges a saved card now, off-session; a decline is an outcome (`failed`), not an error. */
	chargeSavedMethod(payment: ProviderPayment, saved: SavedMethodRef): Promise<ChargeOutcome>;
}

export function savesMethods(provider: PaymentProvider | undefined): provider is PaymentProvider & SavedMethodSupport {
	return typeof (provider as Partial<SavedMethodSupport> | undefined)?.chargeSavedMethod === "function";
}

/** A failure as the payment stores it (the columns' lengths). */
export function failureColumns(failure: PaymentFailure): { failureCode: string; declineCode: string | null; failureMessage: string } {
	return { failureCode: failure.code.slice(0, 100), declineCode: failure.declineCode?.slice(0, 100) ?? null, failureMessage: failure.message.slice(0, 500) };
}

/** The part of the instructions every method shares. */
export function baseInstructions(payment: ProviderPayment): Record<string, unknown> {
	return {
		type: payment.method,
		reference: payment.reference,
		amount: payment.amount,
		currency: payment.currency,
		...(payment.description ? { description: payment.description } : {}),
	};
}
