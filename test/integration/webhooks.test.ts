/**
 * Webhooks end to end: endpoints registered through the gateway, events dispatched through the broker, and
 * a real node:http receiver on 127.0.0.1 (allow-listed by host:port). Signatures are checked with the
 * `standardwebhooks` package, an implementation independent of ours. Retries run on a 1 s schedule; an
 * endpoint is disabled as soon as a delivery runs out of attempts (WEBHOOK_DISABLE_AFTER=0s). The last test
 * stops the node while a retry is scheduled and a new node delivers it.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { systemCall } from "../../lib/caller";

interface Received {
	path: string;
	headers: http.IncomingHttpHeaders;
	body: string;
	at: number;
}

interface Endpoint {
	id: string;
	url: string;
	events: string[];
	status: string;
	secret: string;
	disabledReason: string | null;
}

interface Delivery {
	id: string;
	eventId: string;
	eventType: string;
	status: string;
	attemptCount: number;
	nextAttemptAt: string | null;
	lastStatusCode: number | null;
	attempts: Array<{ attempt: number; statusCode: number | null; succeeded: boolean; durationMs: number; error: string | null; responseBody: string | null }>;
}

const PASSWORD = "correct horse battery";
const received: Received[] = [];
/** Per path: statuses to answer in turn; when used up, `fallback` (default 200). */
const script = new Map<string, { statuses: number[]; fallback: number }>();
const notificationsSent: Array<Record<string, unknown>> = [];
let receiver: http.Server;
let receiverUrl: string;
let receiverHostPort: string;
let node: RunningNode;
let api: ApiClient;

const NODE_ENV = (hostPort: string, schedule = "1s,1s,1s") => ({
	SERVICES: "gateway,identity,notifications/webhooks",
	OUTBOUND_ALLOW_HOSTS: hostPort,
	WEBHOOK_RETRY_SCHEDULE: schedule,
	WEBHOOK_TIMEOUT: "2s",
	WEBHOOK_DISABLE_AFTER: "0s",
	TRUST_PROXY: "true",
	RATE_LIMIT_MAX: "100000",
});

function answer(path: string, statuses: number[], fallback = 200) {
	script.set(path, { statuses: [...statuses], fallback });
}

function requestsTo(path: string): Received[] {
	return received.filter((item) => item.path === path);
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
	const started = Date.now();
	while (Date.now() - started < timeoutMs) {
		const value = await probe();
		if (value !== undefined && value !== false) return value;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	throw new Error(`Timed out waiting for ${what}`);
}

async function register(label: string): Promise<{ token: string; tenantId: string }> {
	const response = await api.post<{ accessToken: string; tenant: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: PASSWORD, fullName: `${label} Tester`, organization: `${label} Inc` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id };
}

async function createEndpoint(token: string, path: string, events?: string[]): Promise<Endpoint> {
	const response = await api.post<Endpoint>("/webhook-endpoints", { url: `${receiverUrl}${path}`, events, description: `receiver ${path}` }, { token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function deliveries(token: string, endpointId: string): Promise<Delivery[]> {
	const response = await api.get<{ rows: Delivery[] }>(`/webhook-endpoints/${endpointId}/deliveries`, { token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body.rows;
}

function verify(secret: string, request: Received): { type: string; timestamp: string; data: Record<string, unknown> } {
	const headers = {
		"webhook-id": String(request.headers["webhook-id"]),
		"webhook-timestamp": String(request.headers["webhook-timestamp"]),
		"webhook-signature": String(request.headers["webhook-signature"]),
	};
	return new Webhook(secret).verify(request.body, headers) as { type: string; timestamp: string; data: Record<string, unknown> };
}

beforeAll(async () => {
	receiver = http.createServer((req, res) => {
		let body = "";
		req.on("data", (chunk) => (body += chunk));
		req.on("end", () => {
			const path = req.url ?? "/";
			received.push({ path, headers: req.headers, body, at: Date.now() });
			const plan = script.get(path);
			const status = plan?.statuses.shift() ?? plan?.fallback ?? 200;
			res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : `no thanks (${status})`);
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
	const port = (receiver.address() as AddressInfo).port;
	receiverHostPort = `127.0.0.1:${port}`;
	receiverUrl = `http://${receiverHostPort}`;
	node = await startNode(NODE_ENV(receiverHostPort));
	api = apiClient(node.url);
	// The notifications domain isn't on this node: a stand-in records what the webhooks service tells it.
	node.broker.createService({
		name: "notifications",
		actions: {
			send: {
				params: { $$strict: false },
				handler(ctx) {
					notificationsSent.push(ctx.params as Record<string, unknown>);
					return { sent: true };
				},
			},
		},
	});
});

afterAll(async () => {
	await node?.stop();
	// Nothing of this file is left for later files' nodes to deliver.
	await sql("DELETE FROM webhooks.endpoints WHERE url LIKE $1", [`${receiverUrl}%`]).catch(() => undefined);
	receiver?.closeAllConnections();
	await new Promise((resolve) => receiver?.close(resolve));
});

describe("webhook endpoints", () => {
	it("registers an endpoint and delivers a ping signed as Standard Webhooks", async () => {
		const owner = await register("hooks");
		const created = await api.post<Endpoint & { createdAt: string }>(
			"/webhook-endpoints",
			{ url: `${receiverUrl}/ping`, events: ["order.paid"], description: "Orders" },
			{ token: owner.token },
		);
		expect(created.status, JSON.stringify(created.body)).toBe(201);
		expect(created.headers.get("location")).toBe(`/api/v1/webhook-endpoints/${created.body.id}`);
		expect(created.body).toMatchObject({ url: `${receiverUrl}/ping`, events: ["order.paid"], description: "Orders", status: "enabled" });
		expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
		expect(Buffer.from(created.body.secret.slice(6), "base64").length).toBeGreaterThanOrEqual(24);

		// The secret is never in the plain views, only in its own admin route.
		const fetched = await api.get<Record<string, unknown>>(`/webhook-endpoints/${created.body.id}`, { token: owner.token });
		expect(fetched.status).toBe(200);
		expect(fetched.body.secret).toBeUndefined();
		expect((await api.get<{ secret: string }>(`/webhook-endpoints/${created.body.id}/secret`, { token: owner.token })).body.secret).toBe(created.body.secret);
		const listed = await api.get<{ rows: Array<Record<string, unknown>>; total: number }>("/webhook-endpoints", { token: owner.token });
		expect(listed.body.total).toBe(1);
		expect(listed.body.rows[0].secret).toBeUndefined();

		const test = await api.post<{ eventId: string; deliveryId: string }>(`/webhook-endpoints/${created.body.id}/test`, {}, { token: owner.token });
		expect(test.status, JSON.stringify(test.body)).toBe(202);
		expect(test.body.eventId).toMatch(/^msg_/);
		const [ping] = await waitFor("the ping", () => (requestsTo("/ping").length > 0 ? requestsTo("/ping") : undefined));
		expect(ping.headers["content-type"]).toBe("application/json");
		expect(ping.headers["user-agent"]).toMatch(/^Lattice-Webhooks\//);
		expect(ping.headers["webhook-id"]).toBe(test.body.eventId);
		expect(Math.abs(Number(ping.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(10);
		expect(ping.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
		const payload = verify(created.body.secret, ping);
		expect(payload).toMatchObject({ type: "ping", data: { endpointId: created.body.id } });
		expect(new Date(payload.timestamp).toISOString()).toBe(payload.timestamp);
		// A tampered body or another secret does not verify.
		expect(() => verify(created.body.secret, { ...ping, body: ping.body.replace("ping", "pong") })).toThrow();
		expect(() => new Webhook(`whsec_${Buffer.alloc(24, 1).toString("base64")}`).verify(ping.body, ping.headers as Record<string, string>)).toThrow();

		const log = await waitFor("the delivery to succeed", async () => {
			const rows = await deliveries(owner.token, created.body.id);
			return rows[0]?.status === "succeeded" ? rows : undefined;
		});
		expect(log).toHaveLength(1);
		expect(log[0]).toMatchObject({ id: test.body.deliveryId, eventId: test.body.eventId, eventType: "ping", attemptCount: 1, lastStatusCode: 200, nextAttemptAt: null });
		expect(log[0].attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, succeeded: true, error: null, responseBody: "ok" })]);
	});

	it("dispatches an event to the endpoints subscribed to it, once per event id", async () => {
		const owner = await register("dispatch");
		const paid = await createEndpoint(owner.token, "/sub-paid", ["order.paid"]);
		const failed = await createEndpoint(owner.token, "/sub-failed", ["payment.failed"]);
		const everything = await createEndpoint(owner.token, "/sub-all");
		expect(everything.events).toEqual([]);

		const data = { order: { id: "ord_1", totalAmount: 4200, currency: "USD" } };
		const result = await node.broker.call<{ eventId: string; deliveries: number }, Record<string, unknown>>(
			"webhooks.dispatch",
			{ tenantId: owner.tenantId, eventType: "order.paid", eventId: "evt_order_paid_1", data },
			systemCall(),
		);
		expect(result).toEqual({ eventId: "evt_order_paid_1", deliveries: 2 });
		await waitFor("both deliveries", () => requestsTo("/sub-paid").length === 1 && requestsTo("/sub-all").length === 1);
		const [toPaid] = requestsTo("/sub-paid");
		expect(toPaid.headers["webhook-id"]).toBe("evt_order_paid_1");
		expect(verify(paid.secret, toPaid)).toMatchObject({ type: "order.paid", data });
		expect(verify(everything.secret, requestsTo("/sub-all")[0])).toMatchObject({ type: "order.paid", data });

		// The same event again (a producer's retry) is not delivered twice.
		const again = await node.broker.call<{ deliveries: number; duplicate?: boolean }, Record<string, unknown>>(
			"webhooks.dispatch",
			{ tenantId: owner.tenantId, eventType: "order.paid", eventId: "evt_order_paid_1", data },
			systemCall(),
		);
		expect(again).toMatchObject({ deliveries: 2, duplicate: true });
		// Without an event id, one is made up.
		const generated = await node.broker.call<{ eventId: string; deliveries: number }, Record<string, unknown>>(
			"webhooks.dispatch",
			{ tenantId: owner.tenantId, eventType: "payment.failed", data: { payment: { id: "pay_1" } } },
			systemCall(),
		);
		expect(generated.eventId).toMatch(/^msg_/);
		expect(generated.deliveries).toBe(2);
		await waitFor("the payment.failed deliveries", () => requestsTo("/sub-failed").length === 1 && requestsTo("/sub-all").length === 2);
		expect(verify(failed.secret, requestsTo("/sub-failed")[0]).type).toBe("payment.failed");
		await new Promise((resolve) => setTimeout(resolve, 300));
		expect(requestsTo("/sub-paid")).toHaveLength(1);

		// Old messages nothing waits on are purged (the service does it hourly for 30-day-old ones).
		const service = node.broker.getLocalService("webhooks") as unknown as { store: { purge(ageMs: number): Promise<number> } };
		expect(await service.store.purge(0)).toBeGreaterThan(0);
		expect(await sql("SELECT id FROM webhooks.messages WHERE tenant_id = $1 AND event_id = 'evt_order_paid_1'", [owner.tenantId])).toEqual([]);

		// Producers' mistakes are 4xx and change nothing.
		const call = (params: Record<string, unknown>) => node.broker.call("webhooks.dispatch", params, systemCall()).catch((err: { code?: number }) => err.code);
		expect(await call({ tenantId: owner.tenantId, eventType: "no.such.type", data: {} })).toBe(422);
		expect(await call({ tenantId: "not-a-uuid", eventType: "order.paid", data: {} })).toBe(422);
		expect(await call({ tenantId: owner.tenantId, eventType: "order.paid", eventId: "has spaces", data: {} })).toBe(422);
		expect(await call({ tenantId: owner.tenantId, eventType: "order.paid", data: { blob: "x".repeat(300 * 1024) } })).toBe(413);
	});

	it("retries a failed delivery with the same webhook-id and a fresh timestamp and signature", async () => {
		const owner = await register("retry");
		const endpoint = await createEndpoint(owner.token, "/flaky", ["payment.succeeded"]);
		answer("/flaky", [500]);
		const { eventId } = await node.broker.call<{ eventId: string }, Record<string, unknown>>(
			"webhooks.dispatch",
			{ tenantId: owner.tenantId, eventType: "payment.succeeded", data: { payment: { id: "pay_2" } } },
			systemCall(),
		);
		const [first, second] = await waitFor("the retry", () => (requestsTo("/flaky").length >= 2 ? requestsTo("/flaky") : undefined));
		expect(first.headers["webhook-id"]).toBe(eventId);
		expect(second.headers["webhook-id"]).toBe(eventId);
		expect(second.body).toBe(first.body);
		expect(Number(second.headers["webhook-timestamp"])).toBeGreaterThan(Number(first.headers["webhook-timestamp"]));
		expect(second.headers["webhook-signature"]).not.toBe(first.headers["webhook-signature"]);
		expect(second.at - first.at).toBeGreaterThanOrEqual(900);
		verify(endpoint.secret, first);
		verify(endpoint.secret, second);

		const [delivery] = await waitFor("the delivery log", async () => {
			const rows = await deliveries(owner.token, endpoint.id);
			return rows[0]?.status === "succeeded" ? rows : undefined;
		});
		expect(delivery).toMatchObject({ eventId, status: "succeeded", attemptCount: 2, lastStatusCode: 200 });
		expect(delivery.attempts.map((attempt) => [attempt.attempt, attempt.statusCode, attempt.succeeded])).toEqual([
			[1, 500, false],
			[2, 200, true],
		]);
		expect(delivery.attempts[0]).toMatchObject({ error: "HTTP 500", responseBody: "no thanks (500)" });
		expect(delivery.attempts[0].durationMs).toBeGreaterThanOrEqual(0);
	});

	it("disables an endpoint whose delivery runs out of attempts, tells the admins, and retries by hand once re-enabled", async () => {
		const owner = await register("failing");
		const endpoint = await createEndpoint(owner.token, "/down");
		answer("/down", [], 503);
		await node.broker.call("webhooks.dispatch", { tenantId: owner.tenantId, eventType: "order.refunded", data: { order: { id: "ord_9" } } }, systemCall());
		const disabled = await waitFor("the endpoint to be disabled", async () => {
			const response = await api.get<Endpoint>(`/webhook-endpoints/${endpoint.id}`, { token: owner.token });
			return response.body.status === "disabled" ? response.body : undefined;
		});
		expect(disabled.disabledReason).toMatch(/failed 4 times/);
		// One attempt and three retries.
		expect(requestsTo("/down")).toHaveLength(4);
		const [delivery] = await deliveries(owner.token, endpoint.id);
		expect(delivery).toMatchObject({ status: "exhausted", attemptCount: 4, nextAttemptAt: null, lastStatusCode: 503 });
		expect(delivery.attempts).toHaveLength(4);

		await waitFor("the notification", () => notificationsSent.find((item) => (item.data as { endpointId?: string }).endpointId === endpoint.id));
		expect(notificationsSent.find((item) => (item.data as { endpointId?: string }).endpointId === endpoint.id)).toMatchObject({
			tenantId: owner.tenantId,
			roles: ["owner", "admin"],
			type: "webhook.endpoint_disabled",
			data: { endpointId: endpoint.id, url: endpoint.url, reason: expect.any(String) },
		});
		const audit = await sql<{ action: string; tenant_id: string }>("SELECT action, tenant_id FROM audit.audit_log WHERE target_id = $1 ORDER BY created_at", [endpoint.id]);
		expect(audit.map((row) => row.action)).toEqual(["webhook_endpoint.created", "webhook_endpoint.disabled"]);
		expect(audit[1].tenant_id).toBe(owner.tenantId);

		// A disabled endpoint gets nothing more.
		const later = await node.broker.call<{ deliveries: number }, Record<string, unknown>>(
			"webhooks.dispatch",
			{ tenantId: owner.tenantId, eventType: "order.paid", data: {} },
			systemCall(),
		);
		expect(later.deliveries).toBe(0);
		expect((await api.post(`/webhook-endpoints/${endpoint.id}/test`, {}, { token: owner.token })).status).toBe(409);
		const refused = await api.post<{ code: string }>(`/webhook-deliveries/${delivery.id}/retry`, {}, { token: owner.token });
		expect(refused.status).toBe(409);
		expect(refused.body.code).toBe("ENDPOINT_DISABLED");
		await new Promise((resolve) => setTimeout(resolve, 1500));
		expect(requestsTo("/down")).toHaveLength(4);

		// Re-enabled and fixed: a manual retry delivers the exhausted delivery with one more attempt.
		answer("/down", [], 200);
		const enabled = await api.put<Endpoint>(`/webhook-endpoints/${endpoint.id}`, { status: "enabled" }, { token: owner.token });
		expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
		expect(enabled.body).toMatchObject({ status: "enabled", disabledReason: null });
		const retried = await api.post<Delivery>(`/webhook-deliveries/${delivery.id}/retry`, {}, { token: owner.token });
		expect(retried.status, JSON.stringify(retried.body)).toBe(202);
		await waitFor("the manual retry", () => requestsTo("/down").length === 5);
		expect(requestsTo("/down")[4].headers["webhook-id"]).toBe(requestsTo("/down")[0].headers["webhook-id"]);
		const [after] = await waitFor("the retried delivery to succeed", async () => {
			const rows = await deliveries(owner.token, endpoint.id);
			return rows[0]?.status === "succeeded" ? rows : undefined;
		});
		expect(after.attemptCount).toBe(5);
		const again = await api.post<{ code: string }>(`/webhook-deliveries/${delivery.id}/retry`, {}, { token: owner.token });
		expect(again.status).toBe(409);
		expect(again.body.code).toBe("DELIVERY_NOT_RETRYABLE");

		// What operators alert on, in the node's Prometheus text.
		const metrics = await (await fetch(`${node.opsUrl}/metrics`)).text();
		// Every series also carries the node's namespace and nodeID labels.
		const value = (name: string, result?: string) => {
			const line = metrics.split("\n").find((text) => text.startsWith(`${name}{`) && (result === undefined || text.includes(`result="${result}"`)));
			return Number(line?.split(" ").pop() ?? NaN);
		};
		expect(value("lattice_webhooks_attempts_total", "failed")).toBeGreaterThanOrEqual(3);
		expect(value("lattice_webhooks_attempts_total", "exhausted")).toBeGreaterThanOrEqual(1);
		expect(value("lattice_webhooks_attempts_total", "succeeded")).toBeGreaterThanOrEqual(1);
		expect(value("lattice_webhooks_endpoints_disabled_total")).toBeGreaterThanOrEqual(1);
		expect(metrics).toMatch(/^lattice_webhooks_attempt_duration_seconds_bucket\{[^}]*result="succeeded"/m);
	});

	it("refuses private targets and bad input at registration, and enforces the plan's limit", async () => {
		const owner = await register("guard");
		const refused = async (url: string) => {
			const response = await api.post<{ code: string }>("/webhook-endpoints", { url }, { token: owner.token });
			expect(response.status, `${url}: ${JSON.stringify(response.body)}`).toBe(422);
			return response.body.code;
		};
		// The receiver's host:port is allow-listed; other ports, names and private ranges are not.
		expect(await refused("http://127.0.0.1:9/hook")).toBe("OUTBOUND_TARGET_REFUSED");
		expect(await refused(`http://localhost:${receiverHostPort.split(":")[1]}/hook`)).toBe("OUTBOUND_TARGET_REFUSED");
		expect(await refused("http://169.254.169.254/latest/meta-data/")).toBe("OUTBOUND_TARGET_REFUSED");
		expect(await refused("http://10.0.0.8/hook")).toBe("OUTBOUND_TARGET_REFUSED");
		expect(await refused("http://[::1]/hook")).toBe("OUTBOUND_TARGET_REFUSED");
		expect(await refused("http://[::ffff:192.168.0.1]/hook")).toBe("OUTBOUND_TARGET_REFUSED");
		expect(await refused("ftp://example.com/hook")).toBe("OUTBOUND_TARGET_REFUSED");
		expect(await refused("not a url")).toBe("OUTBOUND_TARGET_REFUSED");

		const bad = async (body: Record<string, unknown>) => (await api.post("/webhook-endpoints", body, { token: owner.token })).status;
		expect(await bad({})).toBe(400);
		expect(await bad({ url: `${receiverUrl}/x`, events: ["no.such.event"] })).toBe(400);
		expect(await bad({ url: `${receiverUrl}/x`, events: "order.paid" })).toBe(400);
		expect(await bad({ url: `${receiverUrl}/x`, description: "d".repeat(501) })).toBe(400);
		expect(await bad({ url: `${receiverUrl}/${"x".repeat(2100)}` })).toBe(400);
		expect((await api.get<{ total: number }>("/webhook-endpoints", { token: owner.token })).body.total).toBe(0);

		// The free plan allows 3 endpoints.
		for (const path of ["/l1", "/l2", "/l3"]) await createEndpoint(owner.token, path);
		const over = await api.post<{ code: string }>("/webhook-endpoints", { url: `${receiverUrl}/l4` }, { token: owner.token });
		expect(over.status).toBe(403);
		expect(over.body.code).toBe("PLAN_LIMIT_REACHED");
	});

	it("keeps tenants apart and lets API keys in by scope", async () => {
		const owner = await register("tenant-a");
		const stranger = await register("tenant-b");
		const endpoint = await createEndpoint(owner.token, "/tenant-a", ["order.paid"]);
		const test = await api.post<{ deliveryId: string }>(`/webhook-endpoints/${endpoint.id}/test`, {}, { token: owner.token });
		await waitFor("the ping", () => requestsTo("/tenant-a").length === 1);

		for (const [method, path] of [
			["get", `/webhook-endpoints/${endpoint.id}`],
			["get", `/webhook-endpoints/${endpoint.id}/secret`],
			["get", `/webhook-endpoints/${endpoint.id}/deliveries`],
			["post", `/webhook-endpoints/${endpoint.id}/test`],
			["post", `/webhook-endpoints/${endpoint.id}/rotate-secret`],
			["put", `/webhook-endpoints/${endpoint.id}`],
			["delete", `/webhook-endpoints/${endpoint.id}`],
			["post", `/webhook-deliveries/${test.body.deliveryId}/retry`],
			["get", "/webhook-endpoints/not-a-uuid"],
			["post", "/webhook-deliveries/not-a-uuid/retry"],
		] as const) {
			const response = method === "get" || method === "delete" ? await api[method](path, { token: stranger.token }) : await api[method](path, {}, { token: stranger.token });
			expect(response.status, `${method} ${path}`).toBe(404);
		}
		expect((await api.get<{ total: number }>("/webhook-endpoints", { token: stranger.token })).body.total).toBe(0);
		// The stranger's events don't reach the owner's endpoint.
		expect((await node.broker.call<{ deliveries: number }, Record<string, unknown>>("webhooks.dispatch", { tenantId: stranger.tenantId, eventType: "order.paid", data: {} }, systemCall())).deliveries).toBe(0);
		expect((await api.get("/webhook-endpoints")).status).toBe(401);

		const reader = await api.post<{ key: string }>("/api-keys", { name: "hooks reader", scopes: ["webhook-endpoints:read"] }, { token: owner.token });
		expect(reader.status, JSON.stringify(reader.body)).toBe(201);
		expect((await api.get<{ total: number }>("/webhook-endpoints", { apiKey: reader.body.key })).body.total).toBe(1);
		expect((await api.post("/webhook-endpoints", { url: `${receiverUrl}/by-key` }, { apiKey: reader.body.key })).status).toBe(403);
		const writer = await api.post<{ key: string }>("/api-keys", { name: "hooks admin", scopes: ["webhook-endpoints:*"] }, { token: owner.token });
		const byKey = await api.post<Endpoint>("/webhook-endpoints", { url: `${receiverUrl}/by-key` }, { apiKey: writer.body.key });
		expect(byKey.status, JSON.stringify(byKey.body)).toBe(201);
		expect((await api.delete(`/webhook-endpoints/${byKey.body.id}`, { apiKey: writer.body.key })).status).toBe(204);
		const rotated = await api.post<{ secret: string }>(`/webhook-endpoints/${endpoint.id}/rotate-secret`, {}, { apiKey: writer.body.key });
		expect(rotated.status).toBe(200);
		expect(rotated.body.secret).not.toBe(endpoint.secret);

		// For a day after a rotation, deliveries carry signatures with the new and the old secret.
		await api.post(`/webhook-endpoints/${endpoint.id}/test`, {}, { apiKey: writer.body.key });
		const [, second] = await waitFor("the second ping", () => (requestsTo("/tenant-a").length === 2 ? requestsTo("/tenant-a") : undefined));
		expect(String(second.headers["webhook-signature"]).split(" ")).toHaveLength(2);
		verify(rotated.body.secret, second);
		verify(endpoint.secret, second);

		const patched = await api.put<Endpoint>(`/webhook-endpoints/${endpoint.id}`, { events: ["payment.failed"], description: null }, { apiKey: writer.body.key });
		expect(patched.body).toMatchObject({ events: ["payment.failed"], description: null, status: "enabled" });
		const viaPatch = await fetch(`${node.url}/api/v1/webhook-endpoints/${endpoint.id}`, {
			method: "PATCH",
			headers: { "content-type": "application/json", "x-api-key": writer.body.key },
			body: JSON.stringify({ description: "patched" }),
		});
		expect(viaPatch.status).toBe(200);
		expect(await viaPatch.json()).toMatchObject({ description: "patched", events: ["payment.failed"] });
		expect((await api.delete(`/webhook-endpoints/${endpoint.id}`, { apiKey: writer.body.key })).status).toBe(204);
		expect((await api.get(`/webhook-endpoints/${endpoint.id}`, { token: owner.token })).status).toBe(404);
	});

	it("delivers a retry that was scheduled when its node stopped, from the next node", async () => {
		const owner = await register("restart");
		const endpoint = await createEndpoint(owner.token, "/restart", ["order.paid"]);
		answer("/restart", [500]);
		// This file's main node goes, so only the nodes below can deliver.
		await node.stop();
		const env = { ...NODE_ENV(receiverHostPort, "3s"), SERVICES: "notifications/webhooks" };
		const first = await startNode(env);
		let firstStopped = false;
		try {
			const { eventId } = await first.broker.call<{ eventId: string }, Record<string, unknown>>(
				"webhooks.dispatch",
				{ tenantId: owner.tenantId, eventType: "order.paid", data: { order: { id: "ord_restart" } } },
				systemCall(),
			);
			await waitFor("the first attempt to be recorded", async () => {
				const [row] = await sql<{ status: string }>("SELECT status FROM webhooks.deliveries WHERE endpoint_id = $1", [endpoint.id]);
				return row?.status === "failed" ? row : undefined;
			});
			await first.stop();
			firstStopped = true;
			expect(requestsTo("/restart")).toHaveLength(1);

			const second = await startNode(env);
			try {
				const [, retry] = await waitFor("the retry from the new node", () => (requestsTo("/restart").length >= 2 ? requestsTo("/restart") : undefined), 20_000);
				expect(retry.headers["webhook-id"]).toBe(eventId);
				verify(endpoint.secret, retry);
				await waitFor("the delivery to succeed", async () => {
					const [row] = await sql<{ status: string; attempts: number }>("SELECT status, attempts FROM webhooks.deliveries WHERE endpoint_id = $1", [endpoint.id]);
					return row?.status === "succeeded" ? row : undefined;
				});
			} finally {
				await second.stop();
			}
		} finally {
			if (!firstStopped) await first.stop();
		}
	}, 60_000);
});
