import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Stripe from "stripe";
import { StripeCardProvider, toStripeAmount } from "../../services/commerce/stripe-provider";
import { startStripeApiFixture, type StripeApiFixture } from "../fixtures/stripe-api";
import { freePort } from "../helpers/net";

const SECRET_KEY = "sk_test_lattice_fixture";
const WEBHOOK_SECRET = "whsec_lattice_fixture_secret";

async function rejection(promise: Promise<unknown>): Promise<{ code: number; type: string; message: string }> {
	try {
		await promise;
	} catch (err) {
		return err as { code: number; type: string; message: string };
	}
	throw new Error("expected a rejection");
}

function thrown(fn: () => unknown): { code: number; type: string; message: string } {
	try {
		fn();
	} catch (err) {
		return err as { code: number; type: string; message: string };
	}
	throw new Error("expected an error");
}

describe("StripeCardProvider against a Stripe-compatible API", () => {
	let api: StripeApiFixture;
	let provider: StripeCardProvider;

	beforeAll(async () => {
		api = await startStripeApiFixture({ secretKey: SECRET_KEY });
		provider = new StripeCardProvider({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, apiBase: api.url });
	});
	afterAll(async () => {
		await api?.close();
	});

	it("creates a payment intent with metadata, a lower-cased currency and a client secret", async () => {
		const created = await provider.createPaymentIntent({
			amount: 1999,
			currency: "EUR",
			paymentId: "pay-1",
			orderId: "ord-1",
			idempotencyKey: "pay-1",
		});
		expect(created.id).toMatch(/^pi_/);
		expect(created.clientSecret).toMatch(new RegExp(`^${created.id}_secret_`));
		expect(created.status).toBe("requires_payment_method");

		const stored = api.intents.get(created.id);
		expect(stored).toMatchObject({
			amount: 1999,
			currency: "eur",
			metadata: { paymentId: "pay-1", orderId: "ord-1" },
			automatic_payment_methods: { enabled: true },
		});
		expect(api.requests.at(-1)).toMatchObject({ method: "POST", path: "/v1/payment_intents", idempotencyKey: "pay-1" });
	});

	it("finding 9: amounts go to Stripe in Stripe's minor units: JPY and KWD as they are, ISK ×100, MGA ÷100 (fractions refused)", async () => {
		expect([toStripeAmount(500, "JPY"), toStripeAmount(5000, "kwd"), toStripeAmount(1999, "EUR")]).toEqual([500, 5000, 1999]);
		expect([toStripeAmount(1500, "ISK"), toStripeAmount(2500, "MGA"), toStripeAmount(2550, "MGA")]).toEqual([150_000, 25, undefined]);
		const isk = await provider.createPaymentIntent({ amount: 1500, currency: "ISK", paymentId: "pay-isk", orderId: "ord-isk", idempotencyKey: "pay-isk" });
		expect(api.intents.get(isk.id)).toMatchObject({ amount: 150_000, currency: "isk" });
		const refused = await rejection(provider.createPaymentIntent({ amount: 2550, currency: "MGA", paymentId: "pay-mga", orderId: "ord-mga", idempotencyKey: "pay-mga" }));
		expect(refused).toMatchObject({ code: 422, type: "PAYMENT_PROVIDER_REJECTED" });
	});

	it("answers the same intent for the same idempotency key", async () => {
		const input = { amount: 2500, currency: "usd", paymentId: "pay-2", orderId: "ord-2", idempotencyKey: "pay-2" };
		const before = api.intents.size;
		const first = await provider.createPaymentIntent(input);
		const second = await provider.createPaymentIntent(input);
		expect(second).toEqual(first);
		expect(api.intents.size).toBe(before + 1);

		const other = await provider.createPaymentIntent({ ...input, paymentId: "pay-3", idempotencyKey: "pay-3" });
		expect(other.id).not.toBe(first.id);
	});

	it("turns Stripe's refusal into 422 PAYMENT_PROVIDER_REJECTED with Stripe's message", async () => {
		const err = await rejection(
			provider.createPaymentIntent({ amount: 10, currency: "usd", paymentId: "pay-small", orderId: "ord-small", idempotencyKey: "pay-small" }),
		);
		expect(err.code).toBe(422);
		expect(err.type).toBe("PAYMENT_PROVIDER_REJECTED");
		expect(err.message).toMatch(/at least \$0\.50/);
	});

	it("answers 503 PAYMENT_PROVIDER_UNAVAILABLE when Stripe can't be reached", async () => {
		const port = await freePort();
		const down = new StripeCardProvider({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, apiBase: `http://127.0.0.1:${port}` });
		const err = await rejection(
			down.createPaymentIntent({ amount: 1000, currency: "usd", paymentId: "pay-down", orderId: "ord-down", idempotencyKey: "pay-down" }),
		);
		expect(err.code).toBe(503);
		expect(err.type).toBe("PAYMENT_PROVIDER_UNAVAILABLE");
	});

	it("refunds a payment intent, in part or in full", async () => {
		const intent = await provider.createPaymentIntent({ amount: 5000, currency: "usd", paymentId: "pay-r", orderId: "ord-r", idempotencyKey: "pay-r" });
		const partial = await provider.refund({ paymentIntentId: intent.id, amount: 2000, idempotencyKey: "refund-r-1" });
		expect(partial.id).toMatch(/^re_/);
		expect(partial.status).toBe("succeeded");
		expect(api.refunds.get(partial.id)).toMatchObject({ payment_intent: intent.id, amount: 2000 });

		const again = await provider.refund({ paymentIntentId: intent.id, amount: 2000, idempotencyKey: "refund-r-1" });
		expect(again.id).toBe(partial.id);

		const rest = await provider.refund({ paymentIntentId: intent.id, idempotencyKey: "refund-r-2" });
		expect(api.refunds.get(rest.id)).toMatchObject({ amount: 3000 });

		const unknown = await rejection(provider.refund({ paymentIntentId: "pi_missing", idempotencyKey: "refund-x" }));
		expect(unknown.code).toBe(422);
		expect(unknown.type).toBe("PAYMENT_PROVIDER_REJECTED");
	});

	describe("webhook verification", () => {
		const event = {
			id: "evt_1",
			object: "event",
			type: "payment_intent.succeeded",
			data: { object: { id: "pi_123", object: "payment_intent", metadata: { paymentId: "pay-1" } } },
		};
		const payload = JSON.stringify(event);

		it("accepts a correctly signed payload and returns the event", () => {
			const parsed = provider.verifyWebhook(payload, api.signEvent(payload, WEBHOOK_SECRET));
			expect(parsed).toMatchObject({ id: "evt_1", type: "payment_intent.succeeded" });
		});

		it("signs exactly as the Stripe SDK does", () => {
			const timestamp = Math.floor(Date.now() / 1000);
			const sdk = new Stripe(SECRET_KEY).webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET, timestamp });
			expect(api.signEvent(payload, WEBHOOK_SECRET, timestamp)).toBe(sdk);
		});

		it.each([
			["a tampered body", () => provider.verifyWebhook(payload.replace("pi_123", "pi_999"), api.signEvent(payload, WEBHOOK_SECRET))],
			["a wrong secret", () => provider.verifyWebhook(payload, api.signEvent(payload, "whsec_someone_else"))],
			["an old timestamp", () => provider.verifyWebhook(payload, api.signEvent(payload, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301))],
			["a missing header", () => provider.verifyWebhook(payload, undefined)],
			["a garbled header", () => provider.verifyWebhook(payload, "nonsense")],
		])("rejects %s with 400 INVALID_STRIPE_SIGNATURE", (_name, verify) => {
			const err = thrown(verify);
			expect(err.code).toBe(400);
			expect(err.type).toBe("INVALID_STRIPE_SIGNATURE");
		});
	});
});
