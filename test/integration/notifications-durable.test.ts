/**
 * A paid order reaches the buyer and the tenant even though no notifications node was up when it was paid:
 * two nodes on NATS (gateway, identity, commerce; and the notifications domain), a real SMTP server and a
 * local webhook receiver. The notifications node is stopped, an order is paid through the payment saga, and
 * orders' outbox publishes `commerce.order.paid` to JetStream, where it waits. When a notifications node
 * starts again, the buyer gets the receipt by email and in the feed (with the failed first payment and the
 * settled second one), and the tenant's endpoint gets one signed `order.paid`. The same way, a user who
 * registers while notifications is stopped is welcomed (users' outbox, `identity.user.created`) once it
 * starts again.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { Webhook } from "standardwebhooks";
import { startNode, type RunningNode } from "../helpers/nodes";
import { durableGroups, removeStreams } from "../helpers/jetstream";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { waitForOrderStatus } from "../helpers/commerce";
import { sql } from "../helpers/db";
import { firstAddress, startSmtpServer, type SmtpFixture } from "../fixtures/smtp-server";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-durable`;
const tag = `nd${Date.now().toString(36)}`;

interface Received {
	headers: http.IncomingHttpHeaders;
	body: string;
}

let smtp: SmtpFixture;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];
let commerce: RunningNode;
let notifications: RunningNode | undefined;
let api: ApiClient;

const cluster = { TRANSPORTER: testEnv.natsUrl, CACHER: testEnv.redisUrl, NAMESPACE: namespace };

async function startNotifications(): Promise<RunningNode> {
	// The mail service belongs to notifications: its SMTP server is configured where it runs.
	const node = await startNode({ ...cluster, SERVICES: "notifications", SMTP_URL: smtp.url, OUTBOUND_ALLOW_HOSTS: "127.0.0.1", WEBHOOK_RETRY_SCHEDULE: "1s" });
	await commerce.broker.waitForServices(["notifications", "webhooks", "notification-preferences"], 20_000);
	// The gateway maps a newly joined service's routes a moment after the broker knows it (moleculer-web
	// regenerates aliases on a short debounce): until then its routes answer 404 ROUTE_NOT_FOUND.
	await waitUntil("the gateway to route /notifications", async () => ((await api.get("/notifications")).status === 404 ? undefined : true));
	return node;
}

async function waitUntil<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
	const started = Date.now();
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

async function stopNotifications(): Promise<void> {
	await notifications?.stop();
	notifications = undefined;
}

const orderPaidDeliveries = () => received.filter((item) => (JSON.parse(item.body) as { type: string }).type === "order.paid");

beforeAll(async () => {
	smtp = await startSmtpServer();
	receiver = http.createServer((req, res) => {
		let body = "";
		req.on("data", (chunk: Buffer) => (body += chunk.toString()));
		req.on("end", () => {
			received.push({ headers: req.headers, body });
			res.writeHead(200, { "Content-Type": "text/plain" });
			res.end("ok");
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
	receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

	commerce = await startNode({
		...cluster,
		SERVICES: "gateway,platform,identity,commerce",
		BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
		BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
	});
	api = apiClient(commerce.url);
	// Once up, the notifications group has its durable JetStream consumers: what is sent later waits for it.
	notifications = await startNotifications();
}, 60_000);

afterAll(async () => {
	await notifications?.stop();
	await commerce?.stop();
	await smtp?.close();
	await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
	await removeStreams(namespace);
});

describe("an order paid while no notifications node is up", () => {
	it("is announced to the buyer and signed to the tenant's webhook once a notifications node starts", async () => {
		const adminToken = await loginWhenReady(api, ADMIN);
		const product = await api.post<{ id: string }>("/products", { name: `Durable ${tag}`, category: `${tag}-apps`, currency: "EUR", status: "active", priceAmount: 1250 }, { token: adminToken });
		expect(product.status, JSON.stringify(product.body)).toBe(201);
		const email = uniqueEmail("buyer");
		const owner = await api.post<{ accessToken: string; user: { id: string }; tenant: { id: string } }>(
			"/auth/register",
			{ email, password: "correct horse battery", fullName: "Bea Buyer", organization: `Shop ${tag}` },
			{ ip: uniqueIp() },
		);
		expect(owner.status, JSON.stringify(owner.body)).toBe(201);
		const token = owner.body.accessToken;
		const endpoint = await api.post<{ id: string; secret: string }>("/webhook-endpoints", { url: receiverUrl, events: ["order.paid"] }, { token });
		expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);

		await stopNotifications();

		const order = await api.post<{ id: string }>("/orders", { items: [{ productId: product.body.id, quantity: 1 }] }, { token });
		expect(order.status, JSON.stringify(order.body)).toBe(201);
		// A first payment fails, a second one pays the order.
		const declined = await api.post<{ id: string }>("/payments", { orderId: order.body.id, method: "bank_transfer" }, { token });
		expect(declined.status, JSON.stringify(declined.body)).toBe(201);
		expect((await api.post(`/payments/${declined.body.id}/verify`, { outcome: "failed" }, { token: adminToken })).status).toBe(200);
		const payment = await api.post<{ id: string }>("/payments", { orderId: order.body.id, method: "bank_transfer" }, { token });
		expect(payment.status, JSON.stringify(payment.body)).toBe(201);
		expect((await api.post(`/payments/${payment.body.id}/verify`, {}, { token: adminToken })).status).toBe(200);
		await waitForOrderStatus(api, token, order.body.id, "paid", 20_000);

		// Orders' outbox handed the message to JetStream; nobody has told the buyer or the tenant yet.
		await waitUntil("the order.paid outbox row to be published", async () => {
			const [row] = await sql<{ published_at: Date | null }>("SELECT published_at FROM orders.outbox WHERE payload->>'orderId' = $1", [order.body.id]);
			return row?.published_at ?? undefined;
		});
		expect(orderPaidDeliveries()).toEqual([]);
		expect(smtp.received.some((mail) => /Payment received for order/.test(mail.subject ?? ""))).toBe(false);

		notifications = await startNotifications();

		const mail = await smtp.waitForMail(email, /Payment received for order/, 20_000);
		expect(mail.text).toContain("€12.50");

		const [delivery] = await waitUntil("the order.paid webhook", () => (orderPaidDeliveries().length > 0 ? orderPaidDeliveries() : undefined));
		const verified = new Webhook(endpoint.body.secret).verify(delivery.body, {
			"webhook-id": String(delivery.headers["webhook-id"]),
			"webhook-timestamp": String(delivery.headers["webhook-timestamp"]),
			"webhook-signature": String(delivery.headers["webhook-signature"]),
		}) as { type: string; data: { orderId: string; order: { id: string; status: string; tenantId: string } } };
		expect(verified.type).toBe("order.paid");
		expect(verified.data.orderId).toBe(order.body.id);
		expect(verified.data.order).toMatchObject({ id: order.body.id, status: "paid", tenantId: owner.body.tenant.id });
		expect(delivery.headers["webhook-id"]).toBe(`order.paid:${order.body.id}`);

		// The failed and the settled payment came through payments' outbox the same way.
		const announced = ["order.paid", "payment.succeeded", "payment.failed"];
		const feed = await waitUntil("the feed", async () => {
			const response = await api.get<{ rows: Array<{ type: string; body: string }> }>("/notifications", { token });
			const types = response.body.rows.map((row) => row.type);
			return announced.every((type) => types.includes(type)) ? response.body.rows : undefined;
		});
		expect(feed.find((row) => row.type === "order.paid")?.body).toBe(`We received €12.50 for order ${order.body.id}.`);

		// Nothing was sent twice.
		await new Promise((resolve) => setTimeout(resolve, 500));
		const after = await api.get<{ rows: Array<{ type: string }> }>("/notifications", { token });
		expect(after.body.rows.filter((row) => announced.includes(row.type))).toHaveLength(3);
		expect(orderPaidDeliveries()).toHaveLength(1);
		expect(smtp.received.filter((item) => /Payment received for order/.test(item.subject ?? ""))).toHaveLength(1);
	});
});

describe("an account created while no notifications node is up", () => {
	const welcomesTo = (email: string) =>
		smtp.received.filter((mail) => firstAddress(mail.to)?.address === email && /^Welcome to Lattice$/.test(mail.subject ?? ""));

	it("is welcomed by email and in its feed, once, when a notifications node starts", async () => {
		notifications ??= await startNotifications();
		// The group subscribed when its node first started (beforeAll): JetStream keeps the channel's messages for it from then on.
		expect(await durableGroups(namespace, "identity.user.created")).toContain("notifications");
		await stopNotifications();

		const email = uniqueEmail("newcomer");
		const newcomer = await api.post<{ accessToken: string; user: { id: string } }>(
			"/auth/register",
			{ email, password: "correct horse battery", fullName: "Nia Newcomer" },
			{ ip: uniqueIp() },
		);
		expect(newcomer.status, JSON.stringify(newcomer.body)).toBe(201);
		const userId = newcomer.body.user.id;

		// Users' outbox handed the message to JetStream; nobody has welcomed the user yet.
		const [row] = await waitUntil("the user.created outbox row to be published", async () => {
			const rows = await sql<{ channel: string; published_at: Date | null; payload: { userId: string; user: { id: string; email: string } } }>(
				"SELECT channel, published_at, payload FROM users.outbox WHERE payload->>'userId' = $1",
				[userId],
			);
			return rows[0]?.published_at ? rows : undefined;
		});
		expect(row.channel).toBe("identity.user.created");
		expect(row.payload.user).toMatchObject({ id: userId, email, fullName: "Nia Newcomer", status: "active" });
		expect(welcomesTo(email)).toEqual([]);

		notifications = await startNotifications();

		const welcome = await smtp.waitForMail(email, /^Welcome to Lattice$/, 20_000);
		expect(welcome.text).toContain("Nia Newcomer");
		const token = newcomer.body.accessToken;
		await waitUntil("the welcome in the feed", async () => {
			const response = await api.get<{ rows: Array<{ type: string }> }>("/notifications", { token });
			return response.body.rows.some((item) => item.type === "account.welcome") ? true : undefined;
		});

		// Nothing was sent twice.
		await new Promise((resolve) => setTimeout(resolve, 500));
		const feed = await api.get<{ rows: Array<{ type: string }> }>("/notifications", { token });
		expect(feed.body.rows.filter((item) => item.type === "account.welcome")).toHaveLength(1);
		expect(welcomesTo(email)).toHaveLength(1);
	});
});
