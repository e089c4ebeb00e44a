/**
 * Issue 11, commerce findings, through the gateway of one node (all domains, the real PostgreSQL, Stripe's API
 * answered by the local fixture).
 *
 * Finding 5: money must never come in on a cancelled order and stay there. Cancelling fails the pending
 * payment; a settlement that arrives anyway (verify, the bank's callback, Stripe's webhook, or a race with the
 * cancel) is refunded by the saga, with the reason on the payment and the refund on the order.
 *
 * Finding 9 (currency): every `currency` parameter takes ISO 4217 codes of currencies in use only (any case,
 * stored upper case); anything else is 400 VALIDATION_ERROR problem+json.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { waitForOrderStatus } from "../helpers/commerce";
import { startStripeApiFixture, type StripeApiFixture } from "../fixtures/stripe-api";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const SECRET_KEY = "sk_test_lattice_hardening_commerce";
const WEBHOOK_SECRET = "whsec_lattice_hardening_commerce";
const BANK_SECRET = "hardening-commerce-bank-secret";

interface Payment {
	id: string;
	orderId: string;
	amount: number;
	method: string;
	status: string;
	statusReason: string | null;
	providerReference: string | null;
	refundedAt: string | null;
}

interface Order {
	id: string;
	status: string;
	paymentStatus: string;
	paymentId: string | null;
	refundedAt: string | null;
}

interface Problem {
	type: string;
	status: number;
	code: string;
	errors?: Array<{ field: string; message: string; type: string }>;
}

interface User {
	id: string;
	token: string;
}

let fixture: StripeApiFixture;
let node: RunningNode;
let api: ApiClient;
let adminToken: string;
let buyer: User;
let product: { id: string };
const tag = `h${Date.now().toString(36)}`;

async function placeOrder(): Promise<Order> {
	const response = await api.post<Order>("/orders", { items: [{ productId: product.id, quantity: 1 }] }, { token: buyer.token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function pay(orderId: string, method: string): Promise<Payment> {
	const response = await api.post<Payment>("/payments", { orderId, method }, { token: buyer.token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function getPayment(id: string): Promise<Payment> {
	return (await api.get<Payment>(`/payments/${id}`, { token: buyer.token })).body;
}

async function getOrder(id: string): Promise<Order> {
	return (await api.get<Order>(`/orders/${id}`, { token: buyer.token })).body;
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
	const started = Date.now();
	let last = await read();
	while (!done(last)) {
		if (Date.now() - started > timeoutMs) throw new Error(`${what} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
		last = await read();
	}
	return last;
}

function paymentBecomes(id: string, status: string): Promise<Payment> {
	return eventually(() => getPayment(id), (payment) => payment.status === status, `payment ${id} did not become ${status}`);
}

/** The state the finding forbids, as a final state: money kept on a cancelled order. */
function moneyKeptOnCancelledOrder(order: Order, payment: Payment): boolean {
	return order.status === "cancelled" && payment.status === "succeeded";
}

function stripeEvent(type: string, intentId: string): string {
	const intent = fixture.intents.get(intentId)!;
	return JSON.stringify({
		id: `evt_${tag}_${Math.random().toString(36).slice(2)}`,
		object: "event",
		type,
		api_version: "2024-06-20",
		created: Math.floor(Date.now() / 1000),
		livemode: false,
		data: { object: { ...intent, status: "succeeded" } },
	});
}

function sendStripeWebhook(payload: string) {
	return fetch(`${node.url}/api/v1/webhooks/stripe`, {
		method: "POST",
		headers: { "Content-Type": "application/json", "Stripe-Signature": fixture.signEvent(payload, WEBHOOK_SECRET) },
		body: payload,
	});
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
	await node.broker.waitForServices(["orders", "payments", "catalog", "notifications"]);
	(node.broker.getLocalService("payments") as unknown as { settings: { bankCallbackSecret?: string } }).settings.bankCallbackSecret = BANK_SECRET;
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
	const registered = await api.post<{ accessToken: string; user: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail("buyer"), password: "correct horse battery", fullName: "Careful Buyer" },
		{ ip: uniqueIp() },
	);
	expect(registered.status, JSON.stringify(registered.body)).toBe(201);
	buyer = { id: registered.body.user.id, token: registered.body.accessToken };
	const created = await api.post<{ id: string }>(
		"/products",
		{ name: "Hardening Tool", category: `${tag}-apps`, currency: "USD", status: "active", priceAmount: 2500 },
		{ token: adminToken },
	);
	expect(created.status, JSON.stringify(created.body)).toBe(201);
	product = created.body;
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await fixture?.close();
});

describe("finding 5: money in on a cancelled order", () => {
	it("finding 5: order → bank transfer (pending) → cancel → verify: the payment is refunded (order_cancelled), the order shows it, the buyer is told", async () => {
		const order = await placeOrder();
		const payment = await pay(order.id, "bank_transfer");
		expect(payment.status).toBe("pending");

		const cancelled = await api.post<Order>(`/orders/${order.id}/cancel`, {}, { token: buyer.token });
		expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
		expect(cancelled.body.status).toBe("cancelled");
		// The pending payment failed with the order, in the same request.
		expect(await getPayment(payment.id)).toMatchObject({ status: "failed", statusReason: "order_cancelled" });
		// And the order can't be paid again.
		expect((await api.post<Problem>("/payments", { orderId: order.id, method: "e_wallet" }, { token: buyer.token })).body.code).toBe("ORDER_NOT_PAYABLE");

		// The transfer settles anyway: the money was received, so it is recorded, then given back.
		const verified = await api.post<Payment>(`/payments/${payment.id}/verify`, {}, { token: adminToken });
		expect(verified.status, JSON.stringify(verified.body)).toBe(200);
		expect(verified.body.status).toBe("succeeded");

		const refunded = await paymentBecomes(payment.id, "refunded");
		expect(refunded).toMatchObject({ statusReason: "order_cancelled", refundedAt: expect.any(String) });
		const shown = await eventually(() => getOrder(order.id), (o) => o.paymentStatus === "refunded", "the order did not show the refund");
		expect(shown).toMatchObject({ status: "cancelled", paymentStatus: "refunded", paymentId: payment.id, refundedAt: expect.any(String) });

		// The buyer is told through the notifications wiring (in-app feed).
		const feed = await eventually(
			() => api.get<{ rows: Array<{ type: string; data?: { paymentId?: string } }> }>("/notifications?type=payment.refunded", { token: buyer.token }),
			(response) => response.body.rows?.some((n) => n.data?.paymentId === payment.id) ?? false,
			"the buyer was not told of the refund",
		);
		expect(feed.status).toBe(200);

		// Settling again changes nothing: still refunded, once.
		expect((await api.post<Problem>(`/payments/${payment.id}/verify`, {}, { token: adminToken })).body.code).toBe("INVALID_TRANSITION");
		expect(await getPayment(payment.id)).toMatchObject({ status: "refunded", statusReason: "order_cancelled" });
	}, 30_000);

	it("finding 5: the bank's callback settling a virtual-account or e-wallet payment after the cancel is refunded too", async () => {
		for (const method of ["virtual_account", "e_wallet"]) {
			const order = await placeOrder();
			const payment = await pay(order.id, method);
			expect((await api.post(`/orders/${order.id}/cancel`, {}, { token: buyer.token })).status).toBe(200);
			const callback = await api.post<Payment>(`/payments/${payment.id}/verify`, { callbackSecret: BANK_SECRET });
			expect(callback.status, JSON.stringify(callback.body)).toBe(200);
			expect(await paymentBecomes(payment.id, "refunded")).toMatchObject({ method, statusReason: "order_cancelled" });
			expect(await eventually(() => getOrder(order.id), (o) => o.paymentStatus === "refunded", `${method}: the order did not show the refund`)).toMatchObject({
				status: "cancelled",
				paymentId: payment.id,
			});
		}
	}, 30_000);

	it("finding 5: cancel and verify at the same moment, many rounds: the order is paid, or cancelled with the money refunded, never cancelled with the money kept", async () => {
		const rounds = await Promise.all(
			Array.from({ length: 10 }, async (_, round) => {
				const order = await placeOrder();
				const payment = await pay(order.id, "bank_transfer");
				// Staggered, so that some rounds the cancel lands first and others the verify (and the saga's markPaid).
				const [cancel, verify] = await Promise.all([
					new Promise((resolve) => setTimeout(resolve, (round % 5) * 100)).then(() => api.post<Problem>(`/orders/${order.id}/cancel`, {}, { token: buyer.token })),
					api.post<Payment>(`/payments/${payment.id}/verify`, {}, { token: adminToken }),
				]);
				expect([200, 409]).toContain(cancel.status);
				if (cancel.status === 409) expect(cancel.body.code).toBe("INVALID_TRANSITION");
				expect(verify.status, JSON.stringify(verify.body)).toBe(200);
				return { order, payment, cancelled: cancel.status === 200 };
			}),
		);
		for (const { order, payment, cancelled } of rounds) {
			if (cancelled) {
				const settled = await paymentBecomes(payment.id, "refunded");
				expect(settled.statusReason).toBe("order_cancelled");
				const final = await eventually(() => getOrder(order.id), (o) => o.paymentStatus === "refunded", `order ${order.id} did not show the refund`);
				expect(final.status).toBe("cancelled");
			} else {
				expect(await waitForOrderStatus<Order>(api, buyer.token, order.id, "paid", 15_000)).toMatchObject({ paymentId: payment.id });
			}
			const [finalOrder, finalPayment] = [await getOrder(order.id), await getPayment(payment.id)];
			expect(moneyKeptOnCancelledOrder(finalOrder, finalPayment), JSON.stringify({ finalOrder, finalPayment })).toBe(false);
		}
	}, 60_000);

	it("finding 5: a payment created while its order is being cancelled never stays pending on the cancelled order", async () => {
		for (let round = 0; round < 6; round += 1) {
			const order = await placeOrder();
			const [created, cancel] = await Promise.all([
				api.post<Payment & Problem>("/payments", { orderId: order.id, method: "bank_transfer" }, { token: buyer.token }),
				api.post(`/orders/${order.id}/cancel`, {}, { token: buyer.token }),
			]);
			expect(cancel.status).toBe(200);
			expect([201, 409]).toContain(created.status);
			const payments = await api.get<{ rows: Payment[] }>(`/payments?orderId=${order.id}`, { token: buyer.token });
			const pending = await eventually(
				async () => (await api.get<{ rows: Payment[] }>(`/payments?orderId=${order.id}`, { token: buyer.token })).body.rows.filter((p) => p.status === "pending"),
				(rows) => rows.length === 0,
				`a pending payment stayed on cancelled order ${order.id} (${JSON.stringify(payments.body)})`,
				5_000,
			);
			expect(pending).toEqual([]);
		}
	}, 60_000);

	it("finding 5: card: cancelling cancels the PaymentIntent at Stripe; a success Stripe reports anyway is refunded at Stripe", async () => {
		// The buyer cancels before paying: the intent is cancelled at Stripe, so it can't take money any more.
		const first = await placeOrder();
		const unpaid = await pay(first.id, "credit_card");
		expect((await api.post(`/orders/${first.id}/cancel`, {}, { token: buyer.token })).status).toBe(200);
		expect(await getPayment(unpaid.id)).toMatchObject({ status: "failed", statusReason: "order_cancelled" });
		expect(fixture.intents.get(unpaid.providerReference!)?.status).toBe("canceled");

		// The buyer confirmed the card in the browser just before cancelling: Stripe took the money (the
		// intent can't be cancelled any more) and its webhook arrives after the cancel.
		const second = await placeOrder();
		const taken = await pay(second.id, "credit_card");
		fixture.intents.get(taken.providerReference!)!.status = "succeeded";
		expect((await api.post(`/orders/${second.id}/cancel`, {}, { token: buyer.token })).status).toBe(200);
		expect(await getPayment(taken.id)).toMatchObject({ status: "failed", statusReason: "order_cancelled" });
		const delivered = await sendStripeWebhook(stripeEvent("payment_intent.succeeded", taken.providerReference!));
		expect(delivered.status).toBe(200);

		expect(await paymentBecomes(taken.id, "refunded")).toMatchObject({ statusReason: "order_cancelled" });
		const refunds = [...fixture.refunds.values()].filter((r) => r.payment_intent === taken.providerReference);
		expect(refunds).toHaveLength(1);
		expect(refunds[0].amount).toBe(2500);
		expect(fixture.requests.filter((r) => r.path === "/v1/refunds" && r.idempotencyKey === `refund-${taken.id}`).length).toBeGreaterThanOrEqual(1);
		expect(await eventually(() => getOrder(second.id), (o) => o.paymentStatus === "refunded", "the order did not show the card refund")).toMatchObject({
			status: "cancelled",
			paymentId: taken.id,
		});
	}, 30_000);
});

describe("finding 9: currency is an ISO 4217 code", () => {
	it("finding 9: an unknown currency answers 400 VALIDATION_ERROR problem+json on every operation that takes one; any case is taken upper case", async () => {
		for (const currency of ["XYZ", "ABC", "QQQ", "xau", "EURO", "E U", 978]) {
			const create = await api.post<Problem>("/products", { name: "Bad money", category: `${tag}-apps`, currency, priceAmount: 100 }, { token: adminToken });
			expect(create.status, `${currency}: ${JSON.stringify(create.body)}`).toBe(400);
			expect(create.headers.get("content-type")).toContain("application/problem+json");
			expect(create.body.code).toBe("VALIDATION_ERROR");
			expect(create.body.errors?.map((e) => e.field)).toContain("currency");

			const update = await api.put<Problem>(`/products/${product.id}`, { currency }, { token: adminToken });
			expect(update.status).toBe(400);
			expect(update.body.code).toBe("VALIDATION_ERROR");

			const list = await api.get<Problem>(`/products?currency=${encodeURIComponent(String(currency))}`);
			expect(list.status).toBe(400);
			expect(list.body.code).toBe("VALIDATION_ERROR");
		}
		// Nothing changed.
		expect((await api.get<{ currency: string }>(`/products/${product.id}`)).body.currency).toBe("USD");

		// A real code in any case is normalised to upper case, as stored and answered.
		const lower = await api.post<{ id: string; currency: string }>("/products", { name: "Euro tool", category: `${tag}-eur`, currency: " eur ", priceAmount: 100, status: "active" }, { token: adminToken });
		expect(lower.status, JSON.stringify(lower.body)).toBe(201);
		expect(lower.body.currency).toBe("EUR");
		const found = await api.get<{ rows: Array<{ id: string; currency: string }> }>(`/products?currency=eur&category=${tag}-eur`);
		expect(found.status).toBe(200);
		expect(found.body.rows.map((row) => row.id)).toEqual([lower.body.id]);

		// Currencies without minor units or with three: amounts are minor units, kept exactly.
		for (const [currency, priceAmount] of [["JPY", 500], ["KWD", 12_345]] as const) {
			const made = await api.post<{ currency: string; priceAmount: number }>("/products", { name: `${currency} tool`, category: `${tag}-x`, currency, priceAmount }, { token: adminToken });
			expect(made.status).toBe(201);
			expect(made.body).toMatchObject({ currency, priceAmount });
		}
	});

	it("finding 9: every action parameter named currency uses the one ISO 4217 rule", async () => {
		const services = node.broker.registry.getServiceList({ withActions: true, onlyLocal: true }) as Array<{ actions?: Record<string, { name: string; params?: Record<string, unknown> }> }>;
		const withCurrency: string[] = [];
		const collect = (params: Record<string, unknown> | undefined, action: string): Array<unknown> => {
			if (!params || typeof params !== "object") return [];
			const found: unknown[] = [];
			for (const [key, rule] of Object.entries(params)) {
				if (key === "currency") found.push(rule);
				const nested = rule as { props?: Record<string, unknown>; items?: { props?: Record<string, unknown> } };
				if (nested && typeof nested === "object") found.push(...collect(nested.props, action), ...collect(nested.items?.props, action));
			}
			return found;
		};
		const validator = node.broker.validator as unknown as { compile(schema: Record<string, unknown>): (value: Record<string, unknown>) => true | unknown[] };
		for (const service of services) {
			for (const action of Object.values(service.actions ?? {})) {
				for (const rule of collect(action.params, action.name)) {
					withCurrency.push(action.name);
					const check = validator.compile({ currency: rule as Record<string, unknown> });
					expect(check({ currency: "XYZ" }), `${action.name} takes XYZ`).not.toBe(true);
					const lower = { currency: "eur" };
					expect(check(lower), `${action.name} refuses eur`).toBe(true);
					expect(lower.currency, `${action.name} doesn't normalise eur`).toBe("EUR");
				}
			}
		}
		expect(withCurrency).toEqual(expect.arrayContaining(["catalog.listProducts", "catalog.createProduct", "catalog.updateProduct"]));
	});
});
