/**
 * Commerce on a real cluster: five OS processes on NATS (gateway; identity + platform; catalog; orders;
 * payments), driven through the gateway as clients would. A user browses, searches, orders, pays by bank
 * transfer; a super admin verifies; the payment saga crosses nodes over JetStream and the order becomes
 * paid; the admin moves it on to completed. A second order is paid by card: a PaymentIntent on a local
 * server that answers like Stripe's API, settled by a webhook signed the way Stripe signs them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { waitForOrderStatus } from "../helpers/commerce";
import { startStripeApiFixture } from "../fixtures/stripe-api";

const STRIPE = { secretKey: "sk_test_cluster_0123456789", webhookSecret: "whsec_cluster_0123456789" };
let stripe: Awaited<ReturnType<typeof startStripeApiFixture>>;

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const testEnv = inject("testEnv");
const processes: NodeProcess[] = [];
const nodeIds = {
	gateway: `gw-cc-${testEnv.runId}`,
	identity: `id-cc-${testEnv.runId}`,
	catalog: `cat-cc-${testEnv.runId}`,
	orders: `ord-cc-${testEnv.runId}`,
	payments: `pay-cc-${testEnv.runId}`,
};
const tag = `cc${Date.now().toString(36)}`;
let api: ApiClient;
let gatewayUrl: string;

interface Product {
	id: string;
	name: string;
	priceAmount: number;
}

interface Order {
	id: string;
	status: string;
	paymentStatus: string;
	paymentId: string | null;
	totalAmount: number;
	lines: Array<{ productId: string; quantity: number }>;
}

function dump(): string {
	return processes.map((node, index) => `--- process ${index} ---\n${node.output().slice(-2000)}`).join("\n");
}

beforeAll(async () => {
	const [port, ...opsPorts] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
	stripe = await startStripeApiFixture({ secretKey: STRIPE.secretKey });
	const env = { TRANSPORTER: testEnv.natsUrl, CACHER: testEnv.redisUrl, NAMESPACE: `${testEnv.namespace}-cc`, LOG_LEVEL: "warn", TRUST_PROXY: "true" };
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "gateway", NODE_ID: nodeIds.gateway, PORT: String(port), RATE_LIMIT_MAX: "100000" })));
	processes.push(
		spawnNode(
			baseEnv({ ...env, SERVICES: "identity,platform", NODE_ID: nodeIds.identity, OPS_PORT: String(opsPorts[0]), BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password }),
		),
	);
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "commerce/catalog", NODE_ID: nodeIds.catalog, OPS_PORT: String(opsPorts[1]) })));
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "commerce/orders", NODE_ID: nodeIds.orders, OPS_PORT: String(opsPorts[2]) })));
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "commerce/payments", NODE_ID: nodeIds.payments, OPS_PORT: String(opsPorts[3]), STRIPE_SECRET_KEY: STRIPE.secretKey, STRIPE_WEBHOOK_SECRET: STRIPE.webhookSecret, STRIPE_API_BASE: stripe.url })));
	gatewayUrl = `http://127.0.0.1:${port}`;
	try {
		await Promise.all(opsPorts.map((ops) => waitForHttp(`http://127.0.0.1:${ops}/readyz`, 200, 60_000)));
		await waitForHttp(`${gatewayUrl}/api/v1/products`, 200, 60_000);
		await waitForHttp(`${gatewayUrl}/api/v1/auth/jwks`, 200, 30_000);
	} catch (err) {
		throw new Error(`${(err as Error).message}\n${dump()}`, { cause: err });
	}
	api = apiClient(gatewayUrl);
}, 120_000);

afterAll(async () => {
	await Promise.all(processes.map((node) => node.stop()));
	await stripe?.close();
});

function adminLogin(): Promise<string> {
	return loginWhenReady(api, ADMIN);
}

function orderBecomes(token: string, orderId: string, status: string, timeoutMs = 30_000): Promise<Order> {
	return waitForOrderStatus<Order>(api, token, orderId, status, timeoutMs, () => `\n${dump()}`);
}

describe("commerce across five nodes", () => {
	it("lists the five nodes to a super admin", async () => {
		const adminToken = await adminLogin();
		const nodes = await api.get<Array<{ id: string; available: boolean; services: string[] }>>("/status/nodes", { token: adminToken });
		expect(nodes.status, JSON.stringify(nodes.body)).toBe(200);
		const byId = new Map(nodes.body.map((node) => [node.id, node]));
		for (const id of Object.values(nodeIds)) expect(byId.get(id)?.available, `node ${id}`).toBe(true);
		expect(byId.get(nodeIds.catalog)?.services).toContain("catalog");
		expect(byId.get(nodeIds.orders)?.services).toContain("orders");
		expect(byId.get(nodeIds.payments)?.services).toContain("payments");
		expect(byId.get(nodeIds.gateway)?.services).toContain("api");
		expect(byId.get(nodeIds.catalog)?.services).not.toContain("orders");
	});

	it("browse, search, order, pay by bank transfer, verify; the saga pays the order; admin completes it", async () => {
		const adminToken = await adminLogin();
		const category = `${tag}-apps`;
		const create = async (body: Record<string, unknown>): Promise<Product> => {
			const response = await api.post<Product>("/products", { category, currency: "USD", status: "active", ...body }, { token: adminToken });
			expect(response.status, JSON.stringify(response.body)).toBe(201);
			return response.body;
		};
		const invoicer = await create({ name: `Cluster Invoicer ${tag}`, description: "Invoices and receipts for small teams", priceAmount: 1900 });
		const tracker = await create({ name: `Cluster Timetracker ${tag}`, description: "Tracks hours across projects", priceAmount: 4900 });

		const registered = await api.post<{ accessToken: string; user: { id: string } }>(
			"/auth/register",
			{ email: uniqueEmail("cc-buyer"), password: "correct horse battery", fullName: "Cluster Buyer" },
			{ ip: uniqueIp() },
		);
		expect(registered.status, JSON.stringify(registered.body)).toBe(201);
		const token = registered.body.accessToken;

		const browse = await api.get<{ rows: Product[]; total: number }>(`/products?category=${category}`, { token });
		expect(browse.status).toBe(200);
		expect(browse.body.total).toBe(2);
		expect(browse.body.rows.map((row) => row.id).sort()).toEqual([invoicer.id, tracker.id].sort());
		const search = await api.get<{ rows: Product[]; total: number }>(`/products?category=${category}&q=invoices`, { token });
		expect(search.status).toBe(200);
		expect(search.body.rows.map((row) => row.id)).toEqual([invoicer.id]);

		const placed = await api.post<Order>(
			"/orders",
			{ items: [{ productId: invoicer.id, quantity: 2 }, { productId: tracker.id, quantity: 1 }] },
			{ token },
		);
		expect(placed.status, JSON.stringify(placed.body)).toBe(201);
		expect(placed.body).toMatchObject({ status: "pending", totalAmount: 2 * 1900 + 4900 });

		const payment = await api.post<{ id: string; status: string; amount: number; method: string }>("/payments", { orderId: placed.body.id, method: "bank_transfer" }, { token });
		expect(payment.status, JSON.stringify(payment.body)).toBe(201);
		expect(payment.body).toMatchObject({ status: "pending", amount: 2 * 1900 + 4900, method: "bank_transfer" });

		const verified = await api.post<{ status: string }>(`/payments/${payment.body.id}/verify`, {}, { token: adminToken });
		expect(verified.status, JSON.stringify(verified.body)).toBe(200);
		expect(verified.body.status).toBe("succeeded");

		const paid = await orderBecomes(token, placed.body.id, "paid");
		expect(paid).toMatchObject({ paymentStatus: "paid", paymentId: payment.body.id });

		const processing = await api.put<Order>(`/orders/${placed.body.id}/status`, { status: "processing" }, { token: adminToken });
		expect(processing.status, JSON.stringify(processing.body)).toBe(200);
		expect(processing.body.status).toBe("processing");
		const completed = await api.put<Order>(`/orders/${placed.body.id}/status`, { status: "completed" }, { token: adminToken });
		expect(completed.status, JSON.stringify(completed.body)).toBe(200);
		expect(completed.body.status).toBe("completed");

		const seen = await api.get<Order>(`/orders/${placed.body.id}`, { token });
		expect(seen.status).toBe(200);
		expect(seen.body).toMatchObject({ status: "completed", paymentStatus: "paid" });
		const mine = await api.get<{ rows: Order[] }>("/orders", { token });
		expect(mine.body.rows.find((row) => row.id === placed.body.id)?.status).toBe("completed");
		// Card: a PaymentIntent at "Stripe", settled by its signed webhook arriving at the gateway.
		const second = await api.post<Order>("/orders", { items: [{ productId: tracker.id, quantity: 1 }] }, { token });
		expect(second.status, JSON.stringify(second.body)).toBe(201);
		const card = await api.post<{ id: string; providerReference: string; instructions: { clientSecret: string } }>("/payments", { orderId: second.body.id, method: "credit_card" }, { token });
		expect(card.status, JSON.stringify(card.body)).toBe(201);
		expect(card.body.instructions.clientSecret).toMatch(/^pi_.+_secret_/);
		const intent = stripe.intents.get(card.body.providerReference);
		expect(intent).toMatchObject({ amount: 4900, currency: "usd" });
		const event = JSON.stringify({
			id: `evt_${tag}`,
			object: "event",
			type: "payment_intent.succeeded",
			api_version: "2024-06-20",
			created: Math.floor(Date.now() / 1000),
			livemode: false,
			data: { object: { ...intent, status: "succeeded" } },
		});
		const webhook = await fetch(`${gatewayUrl}/api/v1/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": stripe.signEvent(event, STRIPE.webhookSecret) }, body: event });
		expect(webhook.status, await webhook.clone().text()).toBe(200);
		expect(await orderBecomes(token, second.body.id, "paid")).toMatchObject({ paymentStatus: "paid", paymentId: card.body.id });
	}, 60_000);

	it("finding 5: across nodes over JetStream, a transfer settling after the cancel is refunded and the cancelled order shows it", async () => {
		const adminToken = await adminLogin();
		const product = await api.post<Product>("/products", { name: `Cluster Refund ${tag}`, category: `${tag}-refund`, currency: "EUR", status: "active", priceAmount: 1500 }, { token: adminToken });
		expect(product.status, JSON.stringify(product.body)).toBe(201);
		const registered = await api.post<{ accessToken: string }>("/auth/register", { email: uniqueEmail("cc-late"), password: "correct horse battery", fullName: "Late Payer" }, { ip: uniqueIp() });
		const token = registered.body.accessToken;
		const order = await api.post<Order>("/orders", { items: [{ productId: product.body.id, quantity: 1 }] }, { token });
		expect(order.status, JSON.stringify(order.body)).toBe(201);
		const payment = await api.post<{ id: string }>("/payments", { orderId: order.body.id, method: "bank_transfer" }, { token });
		expect(payment.status, JSON.stringify(payment.body)).toBe(201);

		expect((await api.post(`/orders/${order.body.id}/cancel`, {}, { token })).status).toBe(200);
		expect((await api.get<{ status: string; statusReason: string }>(`/payments/${payment.body.id}`, { token })).body).toMatchObject({ status: "failed", statusReason: "order_cancelled" });
		expect((await api.post<{ status: string }>(`/payments/${payment.body.id}/verify`, {}, { token: adminToken })).body.status).toBe("succeeded");

		const started = Date.now();
		let seen = (await api.get<Order>(`/orders/${order.body.id}`, { token })).body;
		while (seen.paymentStatus !== "refunded" && Date.now() - started < 30_000) {
			await new Promise((resolve) => setTimeout(resolve, 200));
			seen = (await api.get<Order>(`/orders/${order.body.id}`, { token })).body;
		}
		expect(seen, dump()).toMatchObject({ status: "cancelled", paymentStatus: "refunded", paymentId: payment.body.id });
		expect((await api.get<{ status: string; statusReason: string }>(`/payments/${payment.body.id}`, { token })).body).toMatchObject({ status: "refunded", statusReason: "order_cancelled" });
	}, 60_000);
});
