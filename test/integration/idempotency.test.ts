/**
 * Idempotency keys end to end: a gateway + platform node on the run's real PostgreSQL and a test service
 * whose `POST /widgets` opts in with `idempotent: true` through IdempotencyMixin.
 */
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "moleculer";
import { startNode, type RunningNode } from "../helpers/nodes";
import { IdempotencyMixin, type IdempotencyMeta } from "../../mixins/idempotency.mixin";
import { BadRequestError } from "../../lib/errors";
import { IDEMPOTENCY_KEY_PATTERN, canonicalJson, requestHash } from "../../lib/idempotency";

let node: RunningNode;
const state = { runs: 0, failNext: false, slow: false };

beforeAll(async () => {
	node = await startNode({ SERVICES: "gateway,platform", TRUST_PROXY: "true" });
	node.broker.createService({
		name: "widgets",
		mixins: [IdempotencyMixin()],
		actions: {
			create: {
				rest: "POST /",
				auth: "public",
				idempotent: true,
				params: { name: { type: "string", min: 1, max: 50 }, size: { type: "number", optional: true } },
				async handler(ctx: Context<{ name: string; size?: number }, IdempotencyMeta>) {
					state.runs += 1;
					if (state.slow) await new Promise((resolve) => setTimeout(resolve, 500));
					if (state.failNext) {
						state.failNext = false;
						throw new BadRequestError("The widget factory said no", "WIDGET_REFUSED");
					}
					const id = crypto.randomUUID();
					ctx.meta.$statusCode = 201;
					ctx.meta.$location = `/api/v1/widgets/${id}`;
					return { id, name: ctx.params.name, size: ctx.params.size ?? null, run: state.runs };
				},
			},
		},
	});
	await node.broker.waitForServices("widgets");
	await new Promise((resolve) => setTimeout(resolve, 700));
});

afterAll(async () => {
	await node?.stop();
});

function post(body: unknown, headers: Record<string, string> = {}) {
	return fetch(`${node.url}/api/v1/widgets`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
}

function newKey() {
	return `key-${crypto.randomUUID()}`;
}

describe("canonical request hash", () => {
	it("ignores key order and undefined members", () => {
		expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe('{"a":{"d":[1,{"x":1,"y":2}]},"b":1}');
		expect(requestHash({ a: 1, b: 2 })).toBe(requestHash({ b: 2, a: 1 }));
		expect(requestHash({ a: 1 })).not.toBe(requestHash({ a: "1" }));
	});
});

describe("Idempotency-Key", () => {
	it("replays the first response for the same key and body; the handler runs once", async () => {
		const key = newKey();
		const before = state.runs;
		const first = await post({ name: "gear", size: 3 }, { "Idempotency-Key": key });
		expect(first.status).toBe(201);
		const firstBody = (await first.json()) as { id: string };
		expect(first.headers.get("location")).toBe(`/api/v1/widgets/${firstBody.id}`);

		// Same body in another key order: the same request.
		const second = await post({ size: 3, name: "gear" }, { "Idempotency-Key": key });
		expect(second.status).toBe(201);
		expect(second.headers.get("location")).toBe(first.headers.get("location"));
		expect(await second.json()).toEqual(firstBody);
		expect(state.runs).toBe(before + 1);
	});

	it("answers 422 when the key is reused with a different body", async () => {
		const key = newKey();
		expect((await post({ name: "one" }, { "Idempotency-Key": key })).status).toBe(201);
		const reused = await post({ name: "two" }, { "Idempotency-Key": key });
		expect(reused.status).toBe(422);
		expect(reused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
		expect(await reused.json()).toMatchObject({ status: 422, code: "IDEMPOTENCY_KEY_REUSED" });
	});

	it("answers 409 to a duplicate while the first request still runs", async () => {
		const key = newKey();
		const before = state.runs;
		state.slow = true;
		try {
			const first = post({ name: "slow" }, { "Idempotency-Key": key });
			await new Promise((resolve) => setTimeout(resolve, 150));
			const duplicate = await post({ name: "slow" }, { "Idempotency-Key": key });
			expect(duplicate.status).toBe(409);
			expect(await duplicate.json()).toMatchObject({ status: 409, code: "IDEMPOTENCY_REQUEST_IN_PROGRESS" });
			const done = await first;
			expect(done.status).toBe(201);
			const body = await done.json();
			// Once the first has finished, the duplicate gets its stored answer.
			const later = await post({ name: "slow" }, { "Idempotency-Key": key });
			expect(later.status).toBe(201);
			expect(await later.json()).toEqual(body);
			expect(state.runs).toBe(before + 1);
		} finally {
			state.slow = false;
		}
	});

	it("lets a client retry with the same key after the first attempt failed", async () => {
		const key = newKey();
		const before = state.runs;
		state.failNext = true;
		const failed = await post({ name: "retry" }, { "Idempotency-Key": key });
		expect(failed.status).toBe(400);
		expect(await failed.json()).toMatchObject({ code: "WIDGET_REFUSED" });
		const retried = await post({ name: "retry" }, { "Idempotency-Key": key });
		expect(retried.status).toBe(201);
		expect(state.runs).toBe(before + 2);
	});

	it("runs every time without a key", async () => {
		const before = state.runs;
		const first = (await (await post({ name: "plain" })).json()) as { id: string };
		const second = (await (await post({ name: "plain" })).json()) as { id: string };
		expect(first.id).not.toBe(second.id);
		expect(state.runs).toBe(before + 2);
	});

	it("refuses a malformed key with 400 before running anything", async () => {
		const before = state.runs;
		const tooLong = await post({ name: "bad" }, { "Idempotency-Key": "k".repeat(256) });
		expect(tooLong.status).toBe(400);
		expect(await tooLong.json()).toMatchObject({ status: 400, code: "INVALID_IDEMPOTENCY_KEY" });
		const empty = await post({ name: "bad" }, { "Idempotency-Key": "" });
		expect(empty.status).toBe(400);
		expect(state.runs).toBe(before);
		expect((await post({ name: "ok" }, { "Idempotency-Key": "k".repeat(255) })).status).toBe(201);
	});

	it("keeps the keys of different callers apart", async () => {
		const key = newKey();
		const before = state.runs;
		const alice = await post({ name: "shared" }, { "Idempotency-Key": key, "X-Forwarded-For": "203.0.113.1" });
		const bob = await post({ name: "shared" }, { "Idempotency-Key": key, "X-Forwarded-For": "203.0.113.2" });
		expect(alice.status).toBe(201);
		expect(bob.status).toBe(201);
		const aliceBody = (await alice.json()) as { id: string };
		const bobBody = (await bob.json()) as { id: string };
		expect(aliceBody.id).not.toBe(bobBody.id);
		// A different body under the same key is only a reuse for the same caller.
		const carol = await post({ name: "other" }, { "Idempotency-Key": key, "X-Forwarded-For": "203.0.113.3" });
		expect(carol.status).toBe(201);
		expect(state.runs).toBe(before + 3);
		const aliceAgain = await post({ name: "shared" }, { "Idempotency-Key": key, "X-Forwarded-For": "203.0.113.1" });
		expect(await aliceAgain.json()).toEqual(aliceBody);
	});

	it("scopes keys by tenant and user, never shared between tenants", async () => {
		const { idempotencyScope } = await import("../../mixins/idempotency.mixin");
		const a = idempotencyScope({ tenantId: "t1", user: { id: "u1", persona: "end_user" } }, "orders.create");
		const b = idempotencyScope({ tenantId: "t2", user: { id: "u1", persona: "end_user" } }, "orders.create");
		expect(a).not.toBe(b);
		expect(idempotencyScope({ tenantId: "t1", apiKeyId: "k1" }, "orders.create")).toBe("tenant:t1|apikey:k1|action:orders.create");
		expect(idempotencyScope({ ip: "203.0.113.9" }, "widgets.create")).toBe("ip:203.0.113.9|action:widgets.create");
	});

	it("is documented where it is honoured, with the pattern the gateway checks and the answers above", async () => {
		type Operation = { parameters?: Array<{ name: string; in: string; schema: { pattern?: string } }>; responses: Record<string, unknown> };
		const document = (await (await fetch(`${node.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, Operation>> };
		const create = document.paths["/api/v1/widgets"].post;
		expect(create.parameters).toEqual([expect.objectContaining({ name: "Idempotency-Key", in: "header", schema: expect.objectContaining({ pattern: IDEMPOTENCY_KEY_PATTERN.source }) })]);
		expect(create.responses).toMatchObject({ "400": {}, "409": {}, "413": {}, "422": {} });
		expect(document.paths["/api/v1/status/ping"].get.parameters ?? []).not.toContainEqual(expect.objectContaining({ name: "Idempotency-Key" }));
	});

	it("ignores the header on actions that don't opt in", async () => {
		const response = await fetch(`${node.url}/api/v1/status/ping`, { headers: { "Idempotency-Key": "x".repeat(400) } });
		expect(response.status).toBe(200);
	});
});
