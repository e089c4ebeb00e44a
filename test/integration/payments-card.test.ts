/**
 * Card payments through Stripe, end to end: the real `stripe` SDK talks to a local server that answers like
 * Stripe's API; webhooks are signed exactly as Stripe signs them. A user pays by credit_card (a
 * PaymentIntent, its client secret answered), Stripe's `payment_intent.succeeded` webhook settles the
 * payment and the durable saga pays the order; duplicates and bad signatures change nothing; a super
 * admin's refund refunds at Stripe and refunds the order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { waitForOrderStatus } from "../helpers/commerce";
import { sql } from "../helpers/db";
import { startStripeApiFixture, type StripeApiFixture } from "../fixtures/stripe-api";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const SECRET_KEY = "sk_test_lattice_card_payments";
const WEBHOOK_SECRET = "whsec_lattice_card_payments";

interface Payment {
	id: string;
	orderId: string;
	amount: number;
	currency: string;
	method: string;
	status: string;
	providerReference: string | null;
	instructions: Record<string, unknown>;
	code?: string;
}

interface Order {
	id: string;
	status: string;
	paymentStatus: string;
	paymentId: string | null;
}

interface User {
	id: string;
	token: string;
}

let fixture: StripeApiFixture;
let node: RunningNode;
let api: ApiClient;
let adminToken: string;
let carol: User;
let product: { id: string; priceAmount: number };
const tag = `c${Date.now().toString(36)}`;

async function placeOrder(user: User, quantity = 1): Promise<Order> {
	const response = await api.post<Order>("/orders", { items: [{ productId: product.id, quantity }] }, { token: user.token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

function orderBecomes(user: User, orderId: string, status: string, timeoutMs = 10_000): Promise<Order> {
	return waitForOrderStatus<Order>(api, user.token, orderId, status, timeoutMs);
}

function intentEvent(type: string, intentId: string, extra: Record<string, unknown> = {}) {
	const intent = fixture.intents.get(intentId)!;
	return JSON.stringify({
		id: `evt_${tag}_${Math.random().toString(36).slice(2)}`,
		object: "event",
		type,
		api_version: "2024-06-20",
		created: Math.floor(Date.now() / 1000),
		livemode: false,
		data: { object: { ...intent, status: type === "payment_intent.succeeded" ? "succeeded" : "requires_payment_method", ...extra } },
	});
}

function sendWebhook(payload: string, signature = fixture.signEvent(payload, WEBHOOK_SECRET)) {
	return fetch(`${node.url}/api/v1/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": signature }, body: payload });
}

async function payByCard(user: User, orderId: string): Promise<Payment> {
	const created = await api.post<Payment>("/payments", { orderId, method: "credit_card" }, { token: user.token });
	expect(created.status, JSON.stringify(created.body)).toBe(201);
	return created.body;
}

beforeAll(async () => {
	fixture = await startStripeApiFixture({ secretKey: SECRET_KEY });
	node = await startNode({
		TRUST_PROXY: "true",
		BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
		BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
		RATE_LIMIT_MAX: "100000",
		STRIPE_SECRET_KEY: SECRET_KEY,
		STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
		STRIPE_API_BASE: fixture.url,
	});
	await node.broker.waitForServices(["orders", "payments"]);
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
	expect(adminToken).toBeTruthy();
	const registered = await api.post<{ accessToken: string; user: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail("carol"), password: "correct horse battery", fullName: "Carol Card" },
		{ ip: uniqueIp() },
	);
	expect(registered.status, JSON.stringify(registered.body)).toBe(201);
	carol = { id: registered.body.user.id, token: registered.body.accessToken };
	const created = await api.post<{ id: string; priceAmount: number }>(
		"/products",
		{ name: "Card Tool", category: `${tag}-apps`, currency: "USD", status: "active", priceAmount: 2500 },
		{ token: adminToken },
	);
	expect(created.status, JSON.stringify(created.body)).toBe(201);
	product = created.body;
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await fixture?.close();
});

describe("paying by card through Stripe", () => {
	it("PaymentIntent with client secret; signed webhook settles and pays the order; duplicates and bad signatures change nothing; refund at Stripe", async () => {
		const order = await placeOrder(carol, 2);
		const payment = await payByCard(carol, order.id);
		expect(payment).toMatchObject({ orderId: order.id, amount: 5000, currency: "USD", method: "credit_card", status: "pending" });
		const intentId = payment.providerReference!;
		expect(intentId).toMatch(/^pi_/);
		const intent = fixture.intents.get(intentId)!;
		expect(intent).toMatchObject({ amount: 5000, currency: "usd", metadata: { paymentId: payment.id, orderId: order.id } });
		expect(payment.instructions).toMatchObject({ type: "credit_card", provider: "stripe", paymentIntentId: intentId, clientSecret: intent.client_secret });
		expect(fixture.requests.find((r) => r.path === "/v1/payment_intents" && r.idempotencyKey === payment.id)).toBeTruthy();
		// The client secret is answered once, never stored.
		const stored = await api.get<Payment>(`/payments/${payment.id}`, { token: carol.token });
		expect(stored.body.instructions.clientSecret).toBeUndefined();

		// A bad signature: 400, nothing changes.
		const succeeded = intentEvent("payment_intent.succeeded", intentId);
		const forged = await sendWebhook(succeeded, fixture.signEvent(succeeded, "whsec_someone_else"));
		expect(forged.status).toBe(400);
		expect(((await forged.json()) as { code: string }).code).toBe("INVALID_STRIPE_SIGNATURE");
		const unsigned = await fetch(`${node.url}/api/v1/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json" }, body: succeeded });
		expect(unsigned.status).toBe(400);
		expect((await api.get<Payment>(`/payments/${payment.id}`, { token: carol.token })).body.status).toBe("pending");

		const delivered = await sendWebhook(succeeded);
		expect(delivered.status).toBe(200);
		expect(await delivered.json()).toMatchObject({ received: true, paymentId: payment.id, status: "succeeded" });
		const paid = await orderBecomes(carol, order.id, "paid");
		expect(paid).toMatchObject({ paymentStatus: "paid", paymentId: payment.id });

		// Stripe delivers the same event again: acknowledged, nothing changes.
		const again = await sendWebhook(succeeded);
		expect(again.status).toBe(200);
		expect(await again.json()).toEqual({ received: true, duplicate: true });
		const [outbox] = await sql<{ n: number }>("SELECT count(*)::int AS n FROM payments.outbox WHERE payload->>'paymentId' = $1", [payment.id]);
		expect(outbox.n).toBe(1);

		// Only super admins refund; the refund happens at Stripe with a stable idempotency key.
		expect((await api.post(`/payments/${payment.id}/refund`, {}, { token: carol.token })).status).toBe(403);
		const refunded = await api.post<Payment>(`/payments/${payment.id}/refund`, {}, { token: adminToken });
		expect(refunded.status, JSON.stringify(refunded.body)).toBe(200);
		expect(refunded.body.status).toBe("refunded");
		const refunds = [...fixture.refunds.values()].filter((r) => r.payment_intent === intentId);
		expect(refunds).toHaveLength(1);
		expect(refunds[0].amount).toBe(5000);
		expect(fixture.requests.find((r) => r.path === "/v1/refunds")?.idempotencyKey).toBe(`refund-${payment.id}`);
		expect(await orderBecomes(carol, order.id, "refunded")).toMatchObject({ paymentStatus: "refunded" });
	}, 30_000);

	it("payment_failed fails the payment so the order can be paid again; unknown types and intents are acknowledged", async () => {
		const order = await placeOrder(carol);
		const payment = await payByCard(carol, order.id);
		const failed = await sendWebhook(intentEvent("payment_intent.payment_failed", payment.providerReference!));
		expect(failed.status).toBe(200);
		expect(await failed.json()).toMatchObject({ paymentId: payment.id, status: "failed" });
		expect((await api.get<Payment>(`/payments/${payment.id}`, { token: carol.token })).body.status).toBe("failed");
		const retry = await payByCard(carol, order.id);
		expect(retry.id).not.toBe(payment.id);

		const other = await sendWebhook(intentEvent("payment_intent.created", retry.providerReference!));
		expect(await other.json()).toMatchObject({ received: true, ignored: "event type payment_intent.created" });
		const unknown = await sendWebhook(intentEvent("payment_intent.succeeded", retry.providerReference!, { id: "pi_unknown", metadata: {} }));
		expect(unknown.status).toBe(200);
		expect(await unknown.json()).toMatchObject({ received: true, ignored: "unknown payment intent" });
		expect((await api.get<Payment>(`/payments/${retry.id}`, { token: carol.token })).body.status).toBe("pending");
	}, 30_000);

	it("Stripe refusing the intent fails the payment and answers 422, so the order can be paid otherwise", async () => {
		const cheap = await api.post<{ id: string }>("/products", { name: "Cheap", category: `${tag}-apps`, currency: "USD", status: "active", priceAmount: 10 }, { token: adminToken });
		expect(cheap.status).toBe(201);
		const ordered = await api.post<Order>("/orders", { items: [{ productId: cheap.body.id, quantity: 1 }] }, { token: carol.token });
		const refused = await api.post<Payment>("/payments", { orderId: ordered.body.id, method: "credit_card" }, { token: carol.token });
		expect(refused.status).toBe(422);
		expect(refused.body.code).toBe("PAYMENT_PROVIDER_REJECTED");
		const [row] = await sql<{ status: string }>("SELECT status FROM payments.payments WHERE order_id = $1", [ordered.body.id]);
		expect(row.status).toBe("failed");
		expect((await api.post("/payments", { orderId: ordered.body.id, method: "bank_transfer" }, { token: carol.token })).status).toBe(201);
	}, 30_000);
});
