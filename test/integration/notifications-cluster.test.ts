/**
 * Issue 5's end to end on a real cluster: four OS processes on NATS (two gateways; platform + identity +
 * notifications; commerce), a real SMTP server and a local webhook receiver. A tenant owner registers a
 * webhook endpoint, opens a WebSocket on one gateway, orders and pays through the other; the payment saga
 * pays the order and:
 * - the receiver gets a Standard Webhooks `order.paid` delivery, answers 500, and gets it again (same
 *   webhook-id, fresh signature) after the retry delay, each correctly signed;
 * - the socket, held by the other gateway node, receives the in-app notification;
 * - the receipt reaches the SMTP server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import http from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { waitForOrderStatus } from "../helpers/commerce";
import { connectRealtime, type RealtimeClient } from "../helpers/realtime";
import { startSmtpServer, type SmtpFixture } from "../fixtures/smtp-server";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const testEnv = inject("testEnv");
const processes: NodeProcess[] = [];
const tag = `nc${Date.now().toString(36)}`;

interface ReceivedDelivery {
	headers: http.IncomingHttpHeaders;
	body: string;
	answered: number;
}

let smtp: SmtpFixture;
let receiver: http.Server;
let receiverUrl: string;
const deliveries: ReceivedDelivery[] = [];
let gatewayA: ApiClient;
let gatewayBUrl: string;

function dump(): string {
	return processes.map((node, index) => `--- process ${index} ---\n${node.output().slice(-2500)}`).join("\n");
}

/** Standard Webhooks verification, written from the spec rather than taken from the code under test. */
function verifySignature(secret: string, delivery: ReceivedDelivery): boolean {
	const id = String(delivery.headers["webhook-id"]);
	const timestamp = String(delivery.headers["webhook-timestamp"]);
	const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
	const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${delivery.body}`).digest();
	return String(delivery.headers["webhook-signature"])
		.split(" ")
		.some((item) => {
			const [version, signature] = item.split(",");
			const given = Buffer.from(signature ?? "", "base64");
			return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
		});
}

async function waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
	const started = Date.now();
	for (;;) {
		const value = probe();
		if (value !== undefined) return value;
		if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}\n${dump()}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

beforeAll(async () => {
	smtp = await startSmtpServer();
	// The receiver refuses the first order.paid delivery, so the retry is part of the test.
	let refusedOnce = false;
	receiver = http.createServer((req, res) => {
		let body = "";
		req.on("data", (chunk: Buffer) => (body += chunk.toString()));
		req.on("end", () => {
			const type = (JSON.parse(body) as { type?: string }).type;
			const answered = type === "order.paid" && !refusedOnce ? 500 : 200;
			if (type === "order.paid") refusedOnce = true;
			deliveries.push({ headers: req.headers, body, answered });
			res.writeHead(answered, { "Content-Type": "text/plain" });
			res.end(answered === 200 ? "ok" : "try again");
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
	receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

	const [portA, portB, opsCore, opsCommerce] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
	const env = { TRANSPORTER: testEnv.natsUrl, CACHER: testEnv.redisUrl, NAMESPACE: `${testEnv.namespace}-nc`, LOG_LEVEL: "warn", TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000" };
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "gateway", NODE_ID: `gwa-${tag}`, PORT: String(portA) })));
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "gateway", NODE_ID: `gwb-${tag}`, PORT: String(portB) })));
	processes.push(
		spawnNode(
			baseEnv({
				...env,
				SERVICES: "platform,identity,notifications",
				NODE_ID: `core-${tag}`,
				OPS_PORT: String(opsCore),
				BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
				BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
				SMTP_URL: smtp.url,
				OUTBOUND_ALLOW_HOSTS: "127.0.0.1",
				WEBHOOK_RETRY_SCHEDULE: "1s,2s",
			}),
		),
	);
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "platform,commerce", NODE_ID: `commerce-${tag}`, OPS_PORT: String(opsCommerce) })));
	const urlA = `http://127.0.0.1:${portA}`;
	gatewayBUrl = `http://127.0.0.1:${portB}`;
	try {
		await Promise.all([opsCore, opsCommerce].map((ops) => waitForHttp(`http://127.0.0.1:${ops}/readyz`, 200, 60_000)));
		for (const url of [urlA, gatewayBUrl]) {
			await waitForHttp(`${url}/api/v1/products`, 200, 60_000);
			await waitForHttp(`${url}/api/v1/auth/jwks`, 200, 30_000);
		}
	} catch (err) {
		throw new Error(`${(err as Error).message}\n${dump()}`, { cause: err });
	}
	gatewayA = apiClient(urlA);
}, 120_000);

afterAll(async () => {
	await Promise.all(processes.map((node) => node.stop()));
	await smtp?.close();
	await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

describe("a paid order across the cluster", () => {
	it("signs and retries the order.paid webhook, pushes to the socket on the other gateway, and emails the receipt", async () => {
		const adminToken = await loginWhenReady(gatewayA, ADMIN);
		const product = await gatewayA.post<{ id: string }>("/products", { name: `Notifier ${tag}`, category: `${tag}-apps`, currency: "USD", status: "active", priceAmount: 4200 }, { token: adminToken });
		expect(product.status, JSON.stringify(product.body)).toBe(201);

		const email = uniqueEmail("owner");
		const owner = await gatewayA.post<{ accessToken: string; user: { id: string }; tenant: { id: string } }>(
			"/auth/register",
			{ email, password: "correct horse battery", fullName: "Olga Owner", organization: `Shop ${tag}` },
			{ ip: uniqueIp() },
		);
		expect(owner.status, JSON.stringify(owner.body)).toBe(201);
		const token = owner.body.accessToken;

		const endpoint = await gatewayA.post<{ id: string; secret: string }>("/webhook-endpoints", { url: receiverUrl, events: ["order.paid"], description: "shop backend" }, { token });
		expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
		expect(endpoint.body.secret).toMatch(/^whsec_/);

		let socket: RealtimeClient | undefined;
		try {
			socket = await connectRealtime(gatewayBUrl, token);
			const order = await gatewayA.post<{ id: string; totalAmount: number }>("/orders", { items: [{ productId: product.body.id, quantity: 1 }] }, { token });
			expect(order.status, JSON.stringify(order.body)).toBe(201);
			const payment = await gatewayA.post<{ id: string }>("/payments", { orderId: order.body.id, method: "bank_transfer" }, { token });
			expect(payment.status, JSON.stringify(payment.body)).toBe(201);
			expect((await gatewayA.post(`/payments/${payment.body.id}/verify`, {}, { token: adminToken })).status).toBe(200);
			await waitForOrderStatus(gatewayA, token, order.body.id, "paid", 30_000, () => `\n${dump()}`);

			// The in-app notification reaches the socket held by the other gateway node.
			const frame = await socket.waitFor((item) => item.kind === "notification" && (item.notification as { type: string }).type === "order.paid", 20_000);
			expect(frame.notification).toMatchObject({ title: "Payment received", body: `We received $42.00 for order ${order.body.id}.`, tenantId: owner.body.tenant.id });

			// The receipt reaches the SMTP server.
			const mail = await smtp.waitForMail(email, /Payment received for order/, 20_000);
			expect(mail.text).toContain("$42.00");

			// First delivery refused with 500, then retried after the configured delay; both correctly signed.
			const attempts = await waitUntil(() => {
				const paid = deliveries.filter((item) => (JSON.parse(item.body) as { type: string }).type === "order.paid");
				return paid.length >= 2 ? paid : undefined;
			}, 30_000, "two order.paid deliveries");
			expect(attempts.map((item) => item.answered)).toEqual([500, 200]);
			for (const attempt of attempts) {
				expect(verifySignature(endpoint.body.secret, attempt), JSON.stringify(attempt.headers)).toBe(true);
				expect(attempt.headers["content-type"]).toContain("application/json");
				expect(Math.abs(Number(attempt.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
			}
			expect(attempts[1].headers["webhook-id"]).toBe(attempts[0].headers["webhook-id"]);
			expect(attempts[0].body).toBe(attempts[1].body);
			const payload = JSON.parse(attempts[0].body) as { type: string; timestamp: string; data: { orderId: string; order: { id: string; status: string } } };
			expect(payload.type).toBe("order.paid");
			expect(payload.data.orderId).toBe(order.body.id);
			expect(payload.data.order).toMatchObject({ id: order.body.id, status: "paid" });
			expect(verifySignature("whsec_" + Buffer.from("someone else's secret").toString("base64"), attempts[0])).toBe(false);

			// The delivery log shows both attempts.
			const log = await gatewayA.get<{ rows: Array<Record<string, unknown>> }>(`/webhook-endpoints/${endpoint.body.id}/deliveries`, { token });
			expect(log.status, JSON.stringify(log.body)).toBe(200);
			expect(JSON.stringify(log.body)).toContain("500");
		} finally {
			await socket?.close();
		}
	});
});
