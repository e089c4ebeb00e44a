/**
 * Card payments through Stripe, with the official `stripe` SDK: the `credit_card` PaymentProvider
 * (payment-provider.ts), which the payments service reaches through the registry only, so another card
 * processor can be plugged in (as Medusa's payment providers are). It also keeps tenants' cards
 * (SavedMethodSupport): a Stripe customer per tenant, a SetupIntent the payer confirms with Stripe.js, and
 * off-session PaymentIntents (`confirm: true, off_session: true`) that charge a saved card for an invoice.
 *
 * Stripe's answers become the platform's typed errors: a request Stripe refuses (card declined, invalid
 * request, amount too small) is 422 PAYMENT_PROVIDER_REJECTED with Stripe's message; Stripe unreachable or
 * failing is 503 PAYMENT_PROVIDER_UNAVAILABLE; a webhook whose signature does not verify is 400
 * INVALID_STRIPE_SIGNATURE.
 */
import Stripe from "stripe";
import { BadRequestError, ServiceUnavailableError, UnprocessableEntityError } from "../../lib/errors";
import { minorUnitDigits } from "../../lib/currency";
import {
	baseInstructions,
	type ChargeOutcome,
	type InitiatedPayment,
	type PaymentProvider,
	type ProviderEvent,
	type ProviderPayment,
	type SavedMethodDetails,
	type SavedMethodRef,
	type SavedMethodSupport,
	type StartedSetup,
} from "./payment-provider";

export interface CreatePaymentIntentInput {
	/** In the currency's minor unit by ISO 4217 (cents; yen; fils): the platform's amounts. Converted for Stripe. */
	amount: number;
	/** ISO 4217 code, any case; sent to Stripe lower-cased. */
	currency: string;
	paymentId: string;
	/** For an order's payment (metadata `orderId`, as before payables existed). */
	orderId?: string;
	/** What the payment pays (metadata `payableType`, `payableId`). */
	payable?: { type: string; id: string };
	/** Shown on Stripe's records (billing: the invoice number). */
	description?: string;
	/** Sent as Stripe's `Idempotency-Key`: a retried create returns the same intent. Use the payment id. */
	idempotencyKey: string;
}

export interface CreatedPaymentIntent {
	id: string;
	clientSecret: string;
	status: string;
}

export interface RefundInput {
	paymentIntentId: string;
	/** Smallest currency unit; omitted refunds whatever is left. */
	amount?: number;
	idempotencyKey: string;
}

export interface CreatedRefund {
	id: string;
	status: string;
}

export interface StripeCardProviderOptions {
	secretKey: string;
	webhookSecret?: string;
	/** `https://api.stripe.com`, or a local server that speaks Stripe's API (tests). */
	apiBase: string;
}

/**
 * Where Stripe's amounts don't count in ISO 4217's minor unit: ISK is zero-decimal by ISO but two-decimal in
 * Stripe's API (`100` is 1 króna), MGA two-decimal by ISO but zero-decimal at Stripe. Elsewhere (JPY 0, EUR
 * 2, KWD 3) they agree. https://docs.stripe.com/currencies#special-cases
 */
const STRIPE_EXPONENT: Readonly<Record<string, number>> = { ISK: 2, MGA: 0 };

/** Stripe's amount for a platform amount (ISO 4217 minor units), or undefined when Stripe can't express it. */
export function toStripeAmount(amount: number, currency: string): number | undefined {
	const code = currency.toUpperCase();
	const shift = (STRIPE_EXPONENT[code] ?? minorUnitDigits(code)) - minorUnitDigits(code);
	if (shift >= 0) return amount * 10 ** shift;
	const factor = 10 ** -shift;
	return amount % factor === 0 ? amount / factor : undefined;
}

/** The platform amount (ISO 4217 minor units) of a Stripe amount, or undefined when it isn't a whole one. */
export function fromStripeAmount(amount: number, currency: string): number | undefined {
	const code = currency.toUpperCase();
	const shift = (STRIPE_EXPONENT[code] ?? minorUnitDigits(code)) - minorUnitDigits(code);
	if (shift <= 0) return amount * 10 ** -shift;
	const factor = 10 ** shift;
	return amount % factor === 0 ? amount / factor : undefined;
}

/** Stripe's metadata of a payment: which payment, and what it pays. */
function paymentMetadata(input: Pick<CreatePaymentIntentInput, "paymentId" | "orderId" | "payable">): Record<string, string> {
	return {
		paymentId: input.paymentId,
		...(input.orderId ? { orderId: input.orderId } : {}),
		...(input.payable ? { payableType: input.payable.type, payableId: input.payable.id } : {}),
	};
}

/** An id from a field Stripe answers either as an id or, expanded, as the object. */
function idOf(value: string | { id: string } | null | undefined): string | null {
	if (value == null) return null;
	return typeof value === "string" ? value : value.id;
}

/** Webhooks older than this (seconds) are refused, so a captured one can't be replayed later. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export class StripeCardProvider implements PaymentProvider, SavedMethodSupport {
	readonly method = "credit_card" as const;
	readonly name = "stripe";
	readonly settledBy = "webhook" as const;
	readonly client: Stripe;
	private readonly webhookSecret?: string;

	constructor(options: StripeCardProviderOptions) {
		const base = new URL(options.apiBase);
		const protocol = base.protocol === "http:" ? "http" : "https";
		this.client = new Stripe(options.secretKey, {
			host: base.hostname,
			port: base.port === "" ? (protocol === "http" ? 80 : 443) : Number(base.port),
			protocol,
			maxNetworkRetries: 2,
			timeout: 10_000,
			telemetry: false,
			appInfo: { name: "Lattice" },
		});
		this.webhookSecret = options.webhookSecret;
	}

	// --- Stripe's API, as the provider methods below use it ----------------------------------------------

	async createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatedPaymentIntent> {
		const amount = toStripeAmount(input.amount, input.currency);
		if (amount === undefined) {
			throw new UnprocessableEntityError(`Stripe can't charge fractions of the main unit of ${input.currency.toUpperCase()}`, "PAYMENT_PROVIDER_REJECTED", {
				provider: "stripe",
				amount: input.amount,
				currency: input.currency.toUpperCase(),
			});
		}
		try {
			const intent = await this.client.paymentIntents.create(
				{
					amount,
					currency: input.currency.toLowerCase(),
					metadata: paymentMetadata(input),
					...(input.description ? { description: input.description } : {}),
					automatic_payment_methods: { enabled: true },
				},
				{ idempotencyKey: input.idempotencyKey },
			);
			if (intent.client_secret == null) {
				throw new ServiceUnavailableError("Stripe answered a payment intent without a client secret", "PAYMENT_PROVIDER_UNAVAILABLE");
			}
			return { id: intent.id, clientSecret: intent.client_secret, status: intent.status };
		} catch (err) {
			throw mapStripeError(err);
		}
	}

	async refund(input: RefundInput): Promise<CreatedRefund> {
		try {
			const refund = await this.client.refunds.create(
				{ payment_intent: input.paymentIntentId, ...(input.amount != null ? { amount: input.amount } : {}) },
				{ idempotencyKey: input.idempotencyKey },
			);
			return { id: refund.id, status: refund.status ?? "pending" };
		} catch (err) {
			throw mapStripeError(err);
		}
	}

	async cancelPaymentIntent(paymentIntentId: string): Promise<void> {
		try {
			await this.client.paymentIntents.cancel(paymentIntentId, { cancellation_reason: "abandoned" }, { idempotencyKey: `cancel-${paymentIntentId}` });
		} catch (err) {
			throw mapStripeError(err);
		}
	}

	// --- PaymentProvider ---------------------------------------------------------------------------------

	instructions(payment: ProviderPayment): Record<string, unknown> {
		return baseInstructions(payment);
	}

	/** A PaymentIntent the payer confirms with Stripe.js; its client secret is answered once, never stored. */
	async initiatePayment(payment: ProviderPayment): Promise<InitiatedPayment> {
		const intent = await this.createPaymentIntent({
			amount: payment.amount,
			currency: payment.currency,
			paymentId: payment.id,
			orderId: payment.payable.type === "order" ? payment.payable.id : undefined,
			payable: payment.payable,
			description: payment.description,
			idempotencyKey: payment.id,
		});
		return { providerReference: intent.id, instructions: { provider: this.name, paymentIntentId: intent.id }, secretInstructions: { clientSecret: intent.clientSecret } };
	}

	async refundPayment(payment: { id: string; providerReference: string }): Promise<void> {
		// The same key on every attempt: a retried or concurrent refund is one refund at Stripe.
		await this.refund({ paymentIntentId: payment.providerReference, idempotencyKey: `refund-${payment.id}` });
	}

	async cancelPayment(providerReference: string): Promise<void> {
		await this.cancelPaymentIntent(providerReference);
	}

	parseWebhook(rawBody: string, signature: string | undefined): ProviderEvent {
		const event = this.verifyWebhook(rawBody, signature);
		const base = { id: event.id, type: event.type };
		if (event.type === "payment_intent.succeeded" || event.type === "payment_intent.payment_failed") {
			const intent = event.data.object;
			const error = intent.last_payment_error;
			return {
				...base,
				kind: event.type === "payment_intent.succeeded" ? "payment_succeeded" : "payment_failed",
				providerReference: intent.id,
				paymentId: intent.metadata?.paymentId,
				amount: fromStripeAmount(Number(intent.amount), intent.currency),
				currency: intent.currency.toUpperCase(),
				...(error ? { failure: { code: error.code ?? "payment_failed", declineCode: error.decline_code, message: error.message ?? "The payment failed" } } : {}),
			};
		}
		if (event.type === "setup_intent.succeeded") {
			const setup = event.data.object;
			return { ...base, kind: "setup_succeeded", setupId: setup.id, customerId: idOf(setup.customer), methodId: idOf(setup.payment_method) };
		}
		return { ...base, kind: "ignored" };
	}

	// --- SavedMethodSupport ------------------------------------------------------------------------------

	async createCustomer(input: { tenantId: string; idempotencyKey: string }): Promise<{ customerId: string }> {
		try {
			const customer = await this.client.customers.create({ metadata: { tenantId: input.tenantId }, description: `Lattice tenant ${input.tenantId}` }, { idempotencyKey: input.idempotencyKey });
			return { customerId: customer.id };
		} catch (err) {
			throw mapStripeError(err);
		}
	}

	/** A SetupIntent for a card to charge later without the payer (`usage: off_session`). */
	async startSetup(input: { customerId: string; tenantId: string }): Promise<StartedSetup> {
		try {
			const setup = await this.client.setupIntents.create({
				customer: input.customerId,
				usage: "off_session",
				allowed_payment_method_types: ["card"],
				metadata: { tenantId: input.tenantId },
			});
			if (setup.client_secret == null) throw new ServiceUnavailableError("Stripe answered a setup intent without a client secret", "PAYMENT_PROVIDER_UNAVAILABLE");
			return { setupId: setup.id, clientSecret: setup.client_secret };
		} catch (err) {
			throw mapStripeError(err);
		}
	}

	async describeSavedMethod(methodId: string): Promise<SavedMethodDetails> {
		try {
			const method = await this.client.paymentMethods.retrieve(methodId);
			if (method.type !== "card" || !method.card) {
				throw new UnprocessableEntityError(`Payment method ${methodId} is not a card`, "PAYMENT_PROVIDER_REJECTED", { provider: "stripe" });
			}
			const { brand, last4, exp_month: expMonth, exp_year: expYear } = method.card;
			return { methodId: method.id, customerId: idOf(method.customer), type: "card", brand, last4, expMonth, expYear };
		} catch (err) {
			throw mapStripeError(err);
		}
	}

	async detachSavedMethod(methodId: string): Promise<void> {
		try {
			await this.client.paymentMethods.detach(methodId);
		} catch (err) {
			throw mapStripeError(err);
		}
	}

	/**
	 * Charges a saved card now: a PaymentIntent with `confirm: true, off_session: true` (Stripe idempotency key
	 * = the payment id, so a replay is the same charge). A decline (Stripe answers 402 card_error with the
	 * intent) or any refusal is the outcome `failed` with Stripe's decline code; Stripe unreachable throws 503,
	 * and the payment stays pending until a replay learns the outcome.
	 */
	async chargeSavedMethod(payment: ProviderPayment, saved: SavedMethodRef): Promise<ChargeOutcome> {
		const amount = toStripeAmount(payment.amount, payment.currency);
		if (amount === undefined) {
			return { status: "failed", failure: { code: "amount_not_supported", message: `Stripe can't charge fractions of the main unit of ${payment.currency}` } };
		}
		try {
			const intent = await this.client.paymentIntents.create(
				{
					amount,
					currency: payment.currency.toLowerCase(),
					customer: saved.customerId,
					payment_method: saved.methodId,
					confirm: true,
					off_session: true,
					metadata: paymentMetadata({ paymentId: payment.id, payable: payment.payable, orderId: payment.payable.type === "order" ? payment.payable.id : undefined }),
					...(payment.description ? { description: payment.description } : {}),
				},
				{ idempotencyKey: payment.id },
			);
			if (intent.status === "succeeded") return { status: "succeeded", providerReference: intent.id };
			if (intent.status === "processing") return { status: "pending", providerReference: intent.id };
			const error = intent.last_payment_error;
			// requires_action: the bank wants the payer (3-D Secure), who isn't there.
			const code = error?.code ?? (intent.status === "requires_action" ? "authentication_required" : "payment_failed");
			return { status: "failed", providerReference: intent.id, failure: { code, declineCode: error?.decline_code, message: error?.message ?? `The charge needs the payer (${intent.status})` } };
		} catch (err) {
			if (err instanceof Stripe.errors.StripeCardError || err instanceof Stripe.errors.StripeInvalidRequestError) {
				return {
					status: "failed",
					providerReference: err.payment_intent?.id,
					failure: { code: err.code ?? err.type, declineCode: err.decline_code, message: err.message },
				};
			}
			throw mapStripeError(err);
		}
	}

	verifyWebhook(rawBody: string, signatureHeader: string | undefined): Stripe.Event {
		if (!this.webhookSecret) {
			throw new BadRequestError("Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)", "INVALID_STRIPE_SIGNATURE");
		}
		if (!signatureHeader) {
			throw new BadRequestError("Missing Stripe-Signature header", "INVALID_STRIPE_SIGNATURE");
		}
		try {
			return this.client.webhooks.constructEvent(rawBody, signatureHeader, this.webhookSecret, WEBHOOK_TOLERANCE_SECONDS);
		} catch (err) {
			const message = err instanceof Error ? err.message : String(err);
			throw new BadRequestError(`Invalid Stripe signature: ${message}`, "INVALID_STRIPE_SIGNATURE");
		}
	}
}

/** Stripe SDK errors → the platform's typed errors; anything already typed passes through. */
export function mapStripeError(err: unknown): Error {
	if (err instanceof Stripe.errors.StripeError) {
		if (
			err instanceof Stripe.errors.StripeCardError ||
			err instanceof Stripe.errors.StripeInvalidRequestError ||
			// the same idempotency key with different parameters: a caller's mistake, not an outage
			err instanceof Stripe.errors.StripeIdempotencyError
		) {
			return new UnprocessableEntityError(err.message, "PAYMENT_PROVIDER_REJECTED", {
				provider: "stripe",
				code: err.code,
				declineCode: err.decline_code,
				requestId: err.requestId,
			});
		}
		return new ServiceUnavailableError(`Stripe is unavailable: ${err.message}`, "PAYMENT_PROVIDER_UNAVAILABLE", {
			provider: "stripe",
			stripeType: err.type,
			requestId: err.requestId,
		});
	}
	if (err instanceof Error && "code" in err && typeof (err as { code: unknown }).code === "number") return err;
	return new ServiceUnavailableError(
		`Stripe is unavailable: ${err instanceof Error ? err.message : String(err)}`,
		"PAYMENT_PROVIDER_UNAVAILABLE",
		{ provider: "stripe" },
	);
}
