/**
 * Card payments through Stripe, with the official `stripe` SDK. The payments service depends only on
 * `CardPaymentProvider`, so another card processor can be plugged in (as Medusa's payment providers are).
 *
 * Stripe's answers become the platform's typed errors: a request Stripe refuses (card declined, invalid
 * request, amount too small) is 422 PAYMENT_PROVIDER_REJECTED with Stripe's message; Stripe unreachable or
 * failing is 503 PAYMENT_PROVIDER_UNAVAILABLE; a webhook whose signature does not verify is 400
 * INVALID_STRIPE_SIGNATURE.
 */
import Stripe from "stripe";
import { BadRequestError, ServiceUnavailableError, UnprocessableEntityError } from "../../lib/errors";
import { minorUnitDigits } from "../../lib/currency";

export interface CreatePaymentIntentInput {
	/** In the currency's minor unit by ISO 4217 (cents; yen; fils): the platform's amounts. Converted for Stripe. */
	amount: number;
	/** ISO 4217 code, any case; sent to Stripe lower-cased. */
	currency: string;
	paymentId: string;
	orderId: string;
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

/** What the payments service needs from a card processor. */
export interface CardPaymentProvider {
	readonly name: string;
	createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatedPaymentIntent>;
	refund(input: RefundInput): Promise<CreatedRefund>;
	/** Cancels a PaymentIntent that hasn't taken money yet (its order was cancelled); Stripe refuses one that has. */
	cancelPaymentIntent?(paymentIntentId: string): Promise<void>;
	/** Verifies a webhook's signature over the raw body and returns the parsed event; 400 when it fails. */
	verifyWebhook(rawBody: string, signatureHeader: string | undefined): Stripe.Event;
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

/** Webhooks older than this (seconds) are refused, so a captured one can't be replayed later. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export class StripeCardProvider implements CardPaymentProvider {
	readonly name = "stripe";
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
					metadata: { paymentId: input.paymentId, orderId: input.orderId },
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
