/**
 * The gateway as a client sees it: one in-process node (gateway + platform) on the run's real PostgreSQL.
 */
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { OpenApiOperation } from "../../lib/openapi";
import { baseEnv, startNode, type RunningNode } from "../helpers/nodes";

let node: RunningNode;

beforeAll(async () => {
	node = await startNode({ CORS_ORIGINS: "https://app.example.com", BODY_LIMIT: "1kb" });
});

afterAll(async () => {
	await node?.stop();
});

async function problemOf(response: Response) {
	expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
	return (await response.json()) as Record<string, unknown> & { errors?: Array<{ field: string }> };
}

describe("ops endpoints", () => {
	it("answers liveness without asking dependencies", async () => {
		const response = await fetch(`${node.url}/healthz`);
		expect(response.status).toBe(200);
		expect(await response.json()).toMatchObject({ status: "ok", nodeID: node.broker.nodeID });
	});

	it("is ready when the database answers", async () => {
		const response = await fetch(`${node.url}/readyz`);
		expect(response.status).toBe(200);
		expect(await response.json()).toMatchObject({ status: "ready", checks: { database: "up", transporter: "not_configured", cacher: "not_configured" } });
	});

	it("finding 6: /metrics is not served on the API port, for anyone", async () => {
		for (const path of ["/metrics", "/metrics/", "/METRICS", "/metrics?format=text", "/api/v1/metrics"]) {
			for (const headers of [{}, { "X-Forwarded-For": "127.0.0.1" }, { Authorization: "Bearer nothing" }]) {
				const response = await fetch(`${node.url}${path}`, { headers });
				expect(response.status, path).toBe(404);
				const problem = await problemOf(response);
				expect(problem.status).toBe(404);
				expect(JSON.stringify(problem)).not.toMatch(/moleculer_|process_/);
			}
		}
		const head = await fetch(`${node.url}/metrics`, { method: "HEAD" });
		expect(head.status).toBe(404);
		const document = (await (await fetch(`${node.url}/api/openapi.json`)).json()) as { paths: Record<string, unknown> };
		expect(Object.keys(document.paths)).not.toContain("/metrics");
	});

	it("finding 6: the ops port serves Moleculer metrics in Prometheus text, without the host's identity", async () => {
		await fetch(`${node.url}/api/v1/status/ping`);
		expect(node.opsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
		expect(node.opsUrl).not.toBe(node.url);
		// Moleculer fills its process and host metrics in every few seconds: wait for the first fill.
		const text = await vi.waitFor(
			async () => {
				const response = await fetch(`${node.opsUrl}/metrics`);
				expect(response.status).toBe(200);
				expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
				const body = await response.text();
				expect(body).toMatch(/^process_memory_rss\{/m);
				return body;
			},
			{ timeout: 15_000, interval: 250 },
		);
		expect(text).toMatch(/^moleculer_request_total\{/m);
		expect(text).toContain(`nodeID="${node.broker.nodeID}"`);
		// No os_* metric (host name, addresses, MACs, user, home directory, CPU model) and no command line.
		expect(text).not.toMatch(/^(# (HELP|TYPE) )?os_/m);
		expect(text).not.toContain("process_arguments");
		const interfaces = Object.values(os.networkInterfaces()).flat().filter((item) => item !== undefined);
		const leaks = [
			os.hostname(),
			os.homedir(),
			process.argv.slice(1).join(" "),
			...interfaces.filter((item) => !item.internal).map((item) => item.address),
			...interfaces.map((item) => item.mac).filter((mac) => mac !== "00:00:00:00:00:00"),
		].filter((value) => value.length >= 4);
		for (const leak of leaks) expect(text, leak).not.toContain(leak);
		expect(text).not.toMatch(/(?:^|[^\d.])(?:10\.\d{1,3}|192\.168|172\.(?:1[6-9]|2\d|3[01]))\.\d{1,3}\.\d{1,3}(?![\d.])/);
		expect(text).not.toMatch(/username|homedir|hostname/i);
	});

	it("generates an OpenAPI 3.1 document that lists the live actions", async () => {
		const response = await fetch(`${node.url}/api/openapi.json`);
		expect(response.status).toBe(200);
		const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, OpenApiOperation>> };
		expect(document.openapi).toBe("3.1.0");
		expect(document.paths["/api/v1/status/ping"].get.operationId).toBe("status.ping");
		expect(document.paths["/api/v1/status/ping"].get.security).toEqual([]);
		expect(document.paths["/api/v1/status/nodes"].get.security).not.toEqual([]);
		expect(document.paths["/healthz"]).toBeDefined();
		const validation = await new Validator().validate(JSON.parse(JSON.stringify(document)));
		expect(validation.errors ?? []).toEqual([]);
		expect(validation.valid).toBe(true);
	});

	it("documents the bodies that aren't JSON and the WebSocket endpoint", async () => {
		const document = (await (await fetch(`${node.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, OpenApiOperation>> };
		// The upload is a form with one binary file part, within FILES_MAX_BYTES.
		const upload = document.paths["/api/v1/files"].post;
		expect(Object.keys(upload.requestBody?.content ?? {})).toEqual(["multipart/form-data"]);
		const form = upload.requestBody?.content["multipart/form-data"].schema as { properties: Record<string, Record<string, unknown>>; required: string[] };
		expect(form.properties.file).toMatchObject({ contentMediaType: "application/octet-stream", maxLength: node.config.storage.maxFileBytes });
		expect(form.required).toEqual(["file"]);
		expect(form.properties).not.toHaveProperty("$fieldname");
		expect(Object.keys(upload.responses)).toEqual(expect.arrayContaining(["201", "400", "413", "415"]));
		// Stripe's webhook is checked over the JSON bytes as sent, with the signature header.
		const stripe = document.paths["/api/v1/webhooks/stripe"].post;
		expect(stripe.requestBody).toMatchObject({ required: true, content: { "application/json": {} } });
		expect(stripe.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: "Stripe-Signature", in: "header" })]));
		// The socket is opened by a GET that upgrades, with the token in the header or the query.
		const ws = document.paths["/ws"].get;
		expect(ws.parameters).toEqual([expect.objectContaining({ name: "access_token", in: "query" })]);
		expect(Object.keys(ws.responses)).toEqual(["101", "400", "401", "429", "503"]);
		// As its description says, a GET that doesn't ask for the upgrade is no route.
		expect((await fetch(`${node.url}/ws`)).status).toBe(404);
	});

	it("documents the live actions' opt-ins: Idempotency-Key, cookies, and 413 where a JSON body goes", async () => {
		const document = (await (await fetch(`${node.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, OpenApiOperation>> };
		const operations = new Map(Object.values(document.paths).flatMap((item) => Object.values(item).map((op) => [op.operationId, op] as const)));
		const keyed = [...operations.values()].filter((op) => op.parameters?.some((item) => item.in === "header" && item.name === "Idempotency-Key"));
		expect(keyed.map((op) => op.operationId).sort()).toEqual(["orders.createOrder", "payments.createPayment", "screenshot-jobs.createScreenshotJob"]);
		for (const op of keyed) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["409", "413", "422"]));
		expect(operations.get("oauth.callback")?.parameters).toContainEqual(expect.objectContaining({ name: "lattice_oidc_state", in: "cookie" }));
		for (const op of operations.values()) if (op.requestBody?.content["application/json"]) expect(op.responses["413"], op.operationId).toBeDefined();
	});

	it("serves a docs page that renders the document from local assets", async () => {
		const page = await fetch(`${node.url}/api/docs`);
		expect(page.status).toBe(200);
		const html = await page.text();
		expect(html).toContain("/api/docs/assets/");
		const bundle = await fetch(`${node.url}/api/docs/assets/swagger-ui-bundle.js`);
		expect(bundle.status).toBe(200);
		const init = await fetch(`${node.url}/api/docs/assets/init.js`);
		expect(await init.text()).toContain("/api/openapi.json");
		const traversal = await fetch(`${node.url}/api/docs/assets/..%2F..%2Fpackage.json`);
		expect(traversal.status).toBe(404);
	});
});

describe("errors are problem+json", () => {
	it("answers an unknown route with 404 and a request id", async () => {
		const response = await fetch(`${node.url}/api/v1/does-not-exist`);
		expect(response.status).toBe(404);
		const problem = await problemOf(response);
		expect(problem).toMatchObject({ status: 404, title: "Not Found", code: "ROUTE_NOT_FOUND", type: "/problems/route-not-found" });
		expect(problem.requestId).toEqual(expect.any(String));
		expect(response.headers.get("x-request-id")).toBe(problem.requestId);
	});

	it("keeps a caller's X-Request-Id and replaces an unsafe one", async () => {
		const kept = await fetch(`${node.url}/api/v1/status/ping`, { headers: { "X-Request-Id": "client-req-42" } });
		expect(kept.headers.get("x-request-id")).toBe("client-req-42");
		const unsafe = await fetch(`${node.url}/api/v1/status/ping`, { headers: { "X-Request-Id": "x".repeat(300) } });
		expect(unsafe.headers.get("x-request-id")).not.toBe("x".repeat(300));
		expect(unsafe.headers.get("x-request-id")).toEqual(expect.any(String));
	});

	it("answers 401 for a protected action without credentials", async () => {
		const response = await fetch(`${node.url}/api/v1/status/nodes`);
		expect(response.status).toBe(401);
		expect(await problemOf(response)).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
	});

	it("answers malformed JSON with 400 and an oversized body with 413", async () => {
		const malformed = await fetch(`${node.url}/api/v1/status/ping`, { method: "GET", headers: { "Content-Type": "application/json" } });
		expect(malformed.status).toBe(200);
		// POST routes are what receive bodies; a temporary service gives the gateway one.
		node.broker.createService({
			name: "echo",
			actions: {
				shout: {
					rest: "POST /shout",
					auth: "public",
					params: { text: { type: "string", min: 1, max: 20 }, times: { type: "number", integer: true, positive: true } },
					handler: (ctx) => ({ text: String(ctx.params.text).toUpperCase() }),
				},
			},
		});
		await node.broker.waitForServices("echo");
		await new Promise((resolve) => setTimeout(resolve, 700));
		const bad = await fetch(`${node.url}/api/v1/echo/shout`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{not json" });
		expect(bad.status).toBe(400);
		expect(await problemOf(bad)).toMatchObject({ code: "INVALID_JSON" });

		const large = await fetch(`${node.url}/api/v1/echo/shout`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: "x".repeat(4096), times: 1 }) });
		expect(large.status).toBe(413);
		expect(await problemOf(large)).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });

		const invalid = await fetch(`${node.url}/api/v1/echo/shout`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: "", times: -1 }) });
		expect(invalid.status).toBe(400);
		const problem = await problemOf(invalid);
		expect(problem.code).toBe("VALIDATION_ERROR");
		expect(problem.errors?.map((item) => item.field).sort()).toEqual(["text", "times"]);

		const ok = await fetch(`${node.url}/api/v1/echo/shout`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: "hi", times: 1 }) });
		expect(await ok.json()).toEqual({ text: "HI" });
	});

	it("answers 503 fast, not 404, for a known route whose service is gone", async () => {
		const echo = node.broker.getLocalService("echo");
		expect(echo).toBeDefined();
		await node.broker.destroyService(echo!);
		await new Promise((resolve) => setTimeout(resolve, 700));
		const started = Date.now();
		const response = await fetch(`${node.url}/api/v1/echo/shout`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: "hi", times: 1 }) });
		expect(Date.now() - started).toBeLessThan(2_000);
		expect(response.status).toBe(503);
		expect(response.headers.get("retry-after")).toBeTruthy();
		expect(await problemOf(response)).toMatchObject({ status: 503, code: "SERVICE_UNAVAILABLE" });
	});
});

describe("request extras are opt-in per action", () => {
	it("hands the exact body bytes only to actions that declare rawBody", async () => {
		node.broker.createService({
			name: "hooks",
			actions: {
				signed: { rest: "POST /signed", auth: "public", rawBody: true, params: { $$strict: false }, handler: (ctx) => ({ raw: (ctx.meta as { rawBody?: string }).rawBody ?? null }) },
				plain: { rest: "POST /plain", auth: "public", params: { $$strict: false }, handler: (ctx) => ({ raw: (ctx.meta as { rawBody?: string }).rawBody ?? null }) },
			},
		});
		await node.broker.waitForServices("hooks");
		await new Promise((resolve) => setTimeout(resolve, 700));
		const body = '{ "b": 1,  "a": [2, 3] }';
		const signed = await fetch(`${node.url}/api/v1/hooks/signed`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
		expect(await signed.json()).toEqual({ raw: body });
		const plain = await fetch(`${node.url}/api/v1/hooks/plain`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
		expect(await plain.json()).toEqual({ raw: null });
	});

	it("hands only the declared request headers to actions that declare headers", async () => {
		node.broker.createService({
			name: "hdrs",
			actions: {
				signed: { rest: "POST /signed", auth: "public", headers: ["x-signature"], params: { $$strict: false }, handler: (ctx) => ({ headers: (ctx.meta as { headers?: Record<string, string> }).headers ?? null }) },
				plain: { rest: "POST /plain", auth: "public", params: { $$strict: false }, handler: (ctx) => ({ headers: (ctx.meta as { headers?: Record<string, string> }).headers ?? null }) },
			},
		});
		await node.broker.waitForServices("hdrs");
		await new Promise((resolve) => setTimeout(resolve, 700));
		const headers = { "Content-Type": "application/json", "X-Signature": "t=1,v1=abc", "X-Other": "secret" };
		const signed = await fetch(`${node.url}/api/v1/hdrs/signed`, { method: "POST", headers, body: "{}" });
		expect(await signed.json()).toEqual({ headers: { "x-signature": "t=1,v1=abc" } });
		const plain = await fetch(`${node.url}/api/v1/hdrs/plain`, { method: "POST", headers, body: "{}" });
		expect(await plain.json()).toEqual({ headers: null });
	});
});

describe("HTTP hygiene", () => {
	it("sets security headers on every response, 404s included", async () => {
		for (const path of ["/api/v1/status/ping", "/api/v1/nope", "/healthz"]) {
			const response = await fetch(`${node.url}${path}`);
			expect(response.headers.get("x-content-type-options")).toBe("nosniff");
			expect(response.headers.get("strict-transport-security")).toContain("max-age=");
			expect(response.headers.get("content-security-policy")).toBe("default-src 'none';frame-ancestors 'none'");
			expect(response.headers.get("x-frame-options")).toBe("DENY");
			expect(response.headers.get("x-powered-by")).toBeNull();
		}
	});

	it("gives the docs page a policy that lets it load its own scripts and nothing else", async () => {
		const page = await fetch(`${node.url}/api/docs`);
		const policy = page.headers.get("content-security-policy") ?? "";
		expect(policy).toContain("script-src 'self'");
		expect(policy).not.toContain("unsafe-eval");
		expect(policy).toContain("frame-ancestors 'none'");
		expect(page.headers.get("cross-origin-opener-policy")).toBe("same-origin");
		expect(page.headers.get("referrer-policy")).toBe("no-referrer");
		expect(page.headers.get("x-content-type-options")).toBe("nosniff");
	});

	it("answers CORS preflights for configured origins only", async () => {
		const allowed = await fetch(`${node.url}/api/v1/status/ping`, {
			method: "OPTIONS",
			headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "GET" },
		});
		expect(allowed.status).toBe(204);
		expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
		const other = await fetch(`${node.url}/api/v1/status/ping`, { headers: { Origin: "https://evil.example.com" } });
		expect(other.headers.get("access-control-allow-origin")).toBeNull();
	});

	it("reports the rate limit on every answer", async () => {
		const response = await fetch(`${node.url}/api/v1/status/ping`);
		expect(Number(response.headers.get("x-ratelimit-limit"))).toBeGreaterThan(0);
		expect(response.headers.get("x-ratelimit-remaining")).toMatch(/^\d+$/);
		expect(Number(response.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000 - 1);
	});
});

describe("readiness follows its dependencies", () => {
	it("is 503 problem+json when Redis can't be reached", async () => {
		const broken = await startNode({ CACHER: "redis://127.0.0.1:1", SERVICES: "gateway" });
		try {
			const response = await fetch(`${broken.url}/readyz`);
			expect(response.status).toBe(503);
			const problem = await problemOf(response);
			expect(problem).toMatchObject({ code: "NOT_READY", checks: { cacher: "down", database: "up" } });
			const live = await fetch(`${broken.url}/healthz`);
			expect(live.status).toBe(200);
		} finally {
			await broken.stop();
		}
	});

	it("env helper keeps tests on the run's own database", () => {
		expect(baseEnv().DATABASE_URL).toMatch(/lattice_test_/);
	});
});

describe("the fast path answers exactly as moleculer-web does", () => {
	interface Exchange {
		status: number;
		headers: Record<string, string>;
		body: string;
	}
	interface Probe {
		method: string;
		path: string;
		headers?: Record<string, string>;
		body?: string;
		/** Whether the fast path should serve it; the rest must go to moleculer-web untouched. */
		fast: boolean;
	}
	type FastPathHandle = { match(req: unknown): unknown; handle(...args: unknown[]): Promise<void> };

	// Headers whose values differ from one request to the next whoever answers.
	const VARYING_HEADERS = new Set(["date", "x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset"]);
	const JSON_HEADERS = { "Content-Type": "application/json" };
	/** How often the cached action's handler ran, and an answer object its handler changes on every call. */
	let cachedRuns = 0;
	const changing = { count: 0 };

	beforeAll(async () => {
		node.broker.createService({
			name: "parity",
			actions: {
				merge: { rest: "PUT /items/:id", auth: "public", params: { $$strict: false }, handler: (ctx) => ctx.params },
				create: {
					rest: "POST /items",
					auth: "public",
					params: { name: { type: "string", min: 1 } },
					handler(ctx) {
						Object.assign(ctx.meta, { $statusCode: 201, $location: "/api/v1/parity/items/7" });
						return { id: 7, name: ctx.params.name };
					},
				},
				export: {
					rest: "GET /export",
					auth: "public",
					params: {},
					handler(ctx) {
						Object.assign(ctx.meta, { $responseType: "text/csv", $responseHeaders: { "X-Export": "yes", "Content-Disposition": 'attachment; filename="a.csv"' } });
						return "a,b\n1,2\n";
					},
				},
				bytes: { rest: "GET /bytes", auth: "public", params: {}, handler: () => Buffer.from("raw bytes") },
				count: { rest: "GET /count", auth: "public", params: {}, handler: () => 42 },
				cached: {
					rest: "GET /cached",
					auth: "public",
					cache: { keys: [] },
					params: {},
					handler: () => ({ label: "café ☕ – naïve", runs: (cachedRuns += 1) }),
				},
				changing: {
					rest: "GET /changing",
					auth: "public",
					params: {},
					handler: () => {
						changing.count += 1;
						return changing;
					},
				},
				frozen: { rest: "GET /frozen", auth: "public", params: {}, handler: () => Object.freeze({ runs: (cachedRuns += 1) }) },
				remove: { rest: "DELETE /items/:id", auth: "public", params: { id: "string" }, handler: () => null },
				noop: {
					rest: "POST /noop",
					auth: "public",
					params: {},
					handler(ctx) {
						Object.assign(ctx.meta, { $statusCode: 204 });
						return { ignored: true };
					},
				},
				fails: {
					rest: "GET /fails",
					auth: "public",
					params: {},
					handler: () => {
						throw new Error("boom");
					},
				},
			},
		});
		await node.broker.waitForServices("parity");
		await new Promise((resolve) => setTimeout(resolve, 700));
	});

	const probes: Probe[] = [
		{ method: "GET", path: "/api/v1/status/ping", fast: true },
		{ method: "GET", path: "/api/v1/status/ping?verbose=1", headers: { "X-Request-Id": "parity-42" }, fast: true },
		{ method: "GET", path: "/api/v1/status/ping/", fast: true },
		{ method: "GET", path: "/api/v1/status/nodes", fast: true },
		{ method: "GET", path: "/api/v1/status/nodes", headers: { Authorization: "Bearer not-a-token" }, fast: true },
		{ method: "PUT", path: "/api/v1/parity/items/42?x=query&id=query", headers: JSON_HEADERS, body: '{"x":"body","y":1,"id":"body"}', fast: true },
		{ method: "POST", path: "/api/v1/parity/items", headers: JSON_HEADERS, body: '{"name":"lamp"}', fast: true },
		{ method: "POST", path: "/api/v1/parity/items", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "name=desk", fast: true },
		{ method: "POST", path: "/api/v1/parity/items", headers: JSON_HEADERS, body: '{"name":""}', fast: true },
		{ method: "POST", path: "/api/v1/parity/items", headers: JSON_HEADERS, body: "{nope", fast: true },
		{ method: "POST", path: "/api/v1/parity/items", headers: JSON_HEADERS, body: JSON.stringify({ name: "x".repeat(2048) }), fast: true },
		{ method: "GET", path: "/api/v1/parity/export", fast: true },
		{ method: "GET", path: "/api/v1/parity/bytes", fast: true },
		{ method: "GET", path: "/api/v1/parity/count", fast: true },
		{ method: "GET", path: "/api/v1/parity/cached", fast: true },
		{ method: "DELETE", path: "/api/v1/parity/items/9", fast: true },
		{ method: "POST", path: "/api/v1/parity/noop", fast: true },
		{ method: "GET", path: "/api/v1/parity/fails", fast: true },
		{ method: "GET", path: "/api/v1/status/ping", headers: { "If-None-Match": "*" }, fast: true },
		{ method: "GET", path: "/api/v1/status/ping", headers: { Origin: "https://app.example.com" }, fast: true },
		{ method: "GET", path: "/api/v1/status/ping", headers: { Origin: "https://evil.example.com" }, fast: true },
		{ method: "OPTIONS", path: "/api/v1/parity/items", headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST" }, fast: false },
		{ method: "HEAD", path: "/api/v1/status/ping", fast: false },
		{ method: "GET", path: "/api/v1/parity/items/42", fast: false },
		{ method: "GET", path: "/api/v1/nowhere", fast: false },
		{ method: "GET", path: "/healthz", fast: false },
	];

	function fastPathOf(): FastPathHandle {
		return (node.broker.getLocalService("api") as unknown as { fastPath: FastPathHandle }).fastPath;
	}

	async function exchange(probe: Probe): Promise<Exchange> {
		const response = await fetch(`${node.url}${probe.path}`, { method: probe.method, headers: probe.headers, body: probe.body });
		const headers: Record<string, string> = {};
		response.headers.forEach((value, name) => {
			if (!VARYING_HEADERS.has(name)) headers[name] = value;
		});
		// Ids and clocks differ per request; everything else must be byte for byte the same.
		const body = (await response.text())
			.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>")
			.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "<time>");
		if (probe.headers?.["X-Request-Id"]) expect(response.headers.get("x-request-id")).toBe(probe.headers["X-Request-Id"]);
		else expect(response.headers.get("x-request-id")).toEqual(expect.any(String));
		return { status: response.status, headers, body };
	}

	it("gives every request the same status, headers and body on both paths", async () => {
		const fastPath = fastPathOf();
		const handle = vi.spyOn(fastPath, "handle");
		const viaFastPath: Exchange[] = [];
		const servedFast: boolean[] = [];
		for (const probe of probes) {
			const before = handle.mock.calls.length;
			viaFastPath.push(await exchange(probe));
			servedFast.push(handle.mock.calls.length > before);
		}
		handle.mockRestore();
		expect(servedFast).toEqual(probes.map((probe) => probe.fast));

		const match = vi.spyOn(fastPath, "match").mockReturnValue(undefined);
		const viaMoleculerWeb: Exchange[] = [];
		try {
			for (const probe of probes) viaMoleculerWeb.push(await exchange(probe));
		} finally {
			match.mockRestore();
		}
		for (const [index, probe] of probes.entries()) {
			expect({ probe: `${probe.method} ${probe.path}`, ...viaFastPath[index] }).toEqual({ probe: `${probe.method} ${probe.path}`, ...viaMoleculerWeb[index] });
		}
		// Spot checks that the answers are the intended ones, not merely alike.
		const byProbe = (index: number) => viaFastPath[index];
		expect(JSON.parse(byProbe(5).body)).toEqual({ x: "query", y: 1, id: "42" });
		expect(byProbe(6)).toMatchObject({ status: 201, headers: { location: "/api/v1/parity/items/7" } });
		expect(byProbe(8).status).toBe(400);
		expect(byProbe(10).status).toBe(413);
		expect(byProbe(11).headers).toMatchObject({ "content-type": "text/csv", "x-export": "yes" });
		expect(JSON.parse(byProbe(14).body)).toEqual({ label: "café ☕ – naïve", runs: 1 });
		expect(byProbe(16).status).toBe(204);
		expect(byProbe(17).status).toBe(500);
		expect(byProbe(19).headers["access-control-allow-origin"]).toBe("https://app.example.com");
		expect(byProbe(20).status).toBe(403);
	});

	it("issue 12: an answer is serialised once only for an object that can't change (a cached hit, a frozen answer); a cleaned cache or a changing object answers anew", async () => {
		const gateway = node.broker.getLocalService("api") as unknown as { encodeResponse(...args: unknown[]): string };
		const encode = vi.spyOn(gateway, "encodeResponse");
		const get = async (path: string) => {
			const response = await fetch(`${node.url}/api/v1/parity/${path}`);
			const body = await response.text();
			// The length written is the body's bytes, not its characters, remembered or not.
			expect(Number(response.headers.get("content-length"))).toBe(Buffer.byteLength(body));
			return JSON.parse(body) as Record<string, unknown>;
		};
		try {
			const runsBefore = cachedRuns;
			await node.broker.cacher!.clean("parity.**");
			const first = await get("cached");
			expect(first).toEqual({ label: "café ☕ – naïve", runs: runsBefore + 1 });
			const calls = encode.mock.calls.length;
			expect(await get("cached")).toEqual(first);
			expect(await get("cached")).toEqual(first);
			expect(encode.mock.calls.length).toBe(calls);
			// A change cleans the cache: the next answer is the handler's new one.
			await node.broker.cacher!.clean("parity.**");
			expect(await get("cached")).toEqual({ label: "café ☕ – naïve", runs: runsBefore + 2 });

			// An uncached answer is serialised every time, even when it is the same object changed in between.
			expect(await get("changing")).toEqual({ count: changing.count });
			const count = changing.count;
			expect(await get("changing")).toEqual({ count: count + 1 });
			// A frozen answer is final, and each call's new one is what is written.
			const frozen = (await get("frozen")).runs as number;
			expect(await get("frozen")).toEqual({ runs: frozen + 1 });
		} finally {
			encode.mockRestore();
		}
	});
});

