/**
 * The payment saga survives a killed node: a full node on NATS (JetStream channels) is SIGKILLed right
 * after a payment is verified, and a payment whose outbox row was committed but never published (the
 * window between commit and relay, reproduced deterministically by writing the rows directly) waits in
 * PostgreSQL. A fresh node relays and consumes both: every settled payment ends up with a paid order.
 * Then the orders service alone is killed (its own node) while a payment settles on the payments node: the
 * message waits in JetStream and the next orders node pays the order.
 */
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { waitForOrderStatus } from "../helpers/commerce";
import { sql } from "../helpers/db";
import { removeStreams } from "../helpers/jetstream";

const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-saga`;
const splitNamespace = `${testEnv.namespace}-saga2`;
const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const processes: NodeProcess[] = [];

interface Order {
	id: string;
	status: string;
	paymentStatus: string;
	paymentId: string | null;
	totalAmount: number;
}

async function startFullNode(overrides: Record<string, string> = {}): Promise<{ process: NodeProcess; api: ApiClient }> {
	const port = await freePort();
	const child = spawnNode(
		baseEnv({
			TRANSPORTER: testEnv.natsUrl,
			NAMESPACE: namespace,
			...overrides,
			PORT: String(port),
			TRUST_PROXY: "true",
			RATE_LIMIT_MAX: "100000",
			BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
			BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
		}),
	);
	processes.push(child);
	const url = `http://127.0.0.1:${port}`;
	await waitForHttp(`${url}/readyz`, 200, 60_000).catch((err: Error) => {
		throw new Error(`${err.message}\n${child.output().slice(-4000)}`);
	});
	return { process: child, api: apiClient(url) };
}

function orderBecomes(api: ApiClient, token: string, orderId: string, status: string, timeoutMs = 40_000): Promise<Order> {
	return waitForOrderStatus<Order>(api, token, orderId, status, timeoutMs);
}

afterAll(async () => {
	await Promise.all(processes.map((child) => child.stop("SIGKILL")));
	await removeStreams(namespace, splitNamespace);
});

describe("payment saga across a killed node", () => {
	it("every settled payment ends up with a paid order after a SIGKILL and a restart", async () => {
		const first = await startFullNode();
		let api = first.api;
		const adminToken = await loginWhenReady(api, ADMIN);
		expect(adminToken).toBeTruthy();
		const password = "correct horse battery";
		const email = uniqueEmail("saga");
		const registered = await api.post<{ accessToken: string; user: { id: string } }>("/auth/register", { email, password, fullName: "Saga Payer" }, { ip: uniqueIp() });
		expect(registered.status, JSON.stringify(registered.body)).toBe(201);
		const userId = registered.body.user.id;
		const product = await api.post<{ id: string }>(
			"/products",
			{ name: "Saga Tool", category: "saga-apps", currency: "USD", status: "active", priceAmount: 4200 },
			{ token: adminToken },
		);
		expect(product.status, JSON.stringify(product.body)).toBe(201);
		const order = async () => {
			const response = await api.post<Order>("/orders", { items: [{ productId: product.body.id, quantity: 1 }] }, { token: registered.body.accessToken });
			expect(response.status).toBe(201);
			return response.body;
		};
		const viaApi = await order();
		const viaOutbox = await order();

		// 1. Verified through the API, then the node is killed at once: the relay or the orders consumer may
		//    or may not have run. Whatever the interleaving, the outcome must be the same.
		const payment = await api.post<{ id: string }>("/payments", { orderId: viaApi.id, method: "bank_transfer" }, { token: registered.body.accessToken });
		expect(payment.status, JSON.stringify(payment.body)).toBe(201);
		const verified = await api.post<{ status: string }>(`/payments/${payment.body.id}/verify`, {}, { token: adminToken });
		expect(verified.body.status).toBe("succeeded");
		await first.process.stop("SIGKILL");

		// 2. Committed but never published: a succeeded payment and its unpublished outbox row, nothing more.
		const [direct] = await sql<{ id: string }>(
			`INSERT INTO payments.payments (id, order_id, user_id, amount, currency, method, status, payment_reference, instructions, settled_at, created_at, updated_at)
			 VALUES (gen_random_uuid(), $1, $2, $3, 'USD', 'bank_transfer', 'succeeded', $4, '{}'::jsonb, now(), now(), now()) RETURNING id`,
			[viaOutbox.id, userId, viaOutbox.totalAmount, `LAT-SAGA-${Date.now().toString(36).slice(-4).toUpperCase()}`],
		);
		await sql(
			`INSERT INTO payments.outbox (id, channel, payload, created_at, updated_at)
			 VALUES (gen_random_uuid(), 'commerce.payment.settled', $1::jsonb, now(), now())`,
			[JSON.stringify({ paymentId: direct.id, orderId: viaOutbox.id })],
		);
		const [before] = await sql<{ status: string }>("SELECT status FROM orders.orders WHERE id = $1", [viaOutbox.id]);
		expect(before.status).toBe("pending");

		// 3. A fresh node: the relay publishes what is left, the orders consumer catches up.
		const second = await startFullNode();
		api = second.api;
		const token = (await api.post<{ accessToken: string }>("/auth/login", { email, password }, { ip: uniqueIp() })).body.accessToken;
		expect(await orderBecomes(api, token, viaApi.id, "paid")).toMatchObject({ paymentStatus: "paid", paymentId: payment.body.id });
		expect(await orderBecomes(api, token, viaOutbox.id, "paid")).toMatchObject({ paymentStatus: "paid", paymentId: direct.id });

		const unpaid = await sql(
			`SELECT p.id FROM payments.payments p JOIN orders.orders o ON o.id = p.order_id
			 WHERE p.status = 'succeeded' AND o.status <> 'paid' AND p.order_id IN ($1, $2)`,
			[viaApi.id, viaOutbox.id],
		);
		expect(unpaid).toEqual([]);
		const [left] = await sql<{ n: number }>("SELECT count(*)::int AS n FROM payments.outbox WHERE published_at IS NULL AND payload->>'orderId' IN ($1, $2)", [viaApi.id, viaOutbox.id]);
		expect(left.n).toBe(0);
	}, 120_000);

	it("a payment settled while the orders node is dead waits in JetStream; the next orders node pays the order", async () => {
		const ordersNode = () => {
			const child = spawnNode(baseEnv({ TRANSPORTER: testEnv.natsUrl, NAMESPACE: splitNamespace, SERVICES: "commerce/orders", OPS_PORT: "0" }));
			processes.push(child);
			return child;
		};
		const main = await startFullNode({ NAMESPACE: splitNamespace, SERVICES: "gateway,identity,platform,commerce/catalog,commerce/payments" });
		let orders = ordersNode();
		const api = main.api;
		const adminToken = await loginWhenReady(api, ADMIN);
		const registered = await api.post<{ accessToken: string }>("/auth/register", { email: uniqueEmail("split"), password: "correct horse battery", fullName: "Split Payer" }, { ip: uniqueIp() });
		const token = registered.body.accessToken;
		const product = await api.post<{ id: string }>("/products", { name: "Split Tool", category: "saga-apps", currency: "USD", status: "active", priceAmount: 3100 }, { token: adminToken });
		let placed = await api.post<Order>("/orders", { items: [{ productId: product.body.id, quantity: 1 }] }, { token });
		for (let attempt = 0; attempt < 100 && placed.status !== 201; attempt += 1) {
			await new Promise((resolve) => setTimeout(resolve, 200));
			placed = await api.post<Order>("/orders", { items: [{ productId: product.body.id, quantity: 1 }] }, { token });
		}
		expect(placed.status, JSON.stringify(placed.body)).toBe(201);
		const payment = await api.post<{ id: string }>("/payments", { orderId: placed.body.id, method: "bank_transfer" }, { token });
		expect(payment.status, JSON.stringify(payment.body)).toBe(201);

		await orders.stop("SIGKILL");
		const verified = await api.post<{ status: string }>(`/payments/${payment.body.id}/verify`, {}, { token: adminToken });
		expect(verified.body.status).toBe("succeeded");
		await new Promise((resolve) => setTimeout(resolve, 1_500));
		const [still] = await sql<{ status: string }>("SELECT status FROM orders.orders WHERE id = $1", [placed.body.id]);
		expect(still.status).toBe("pending");

		orders = ordersNode();
		// The killed node stays in the registry until its heartbeat times out (15 s); reads routed to it
		// time out meanwhile, hence the longer wait.
		expect(await orderBecomes(api, token, placed.body.id, "paid", 80_000)).toMatchObject({ paymentStatus: "paid", paymentId: payment.body.id });
	}, 150_000);
});
