/**
 * Rate limits hold across gateway nodes when Redis is configured (real Redis), and per node otherwise.
 */
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { randomUUID } from "node:crypto";
import { MemoryRateLimitStore, RateLimiter, RedisRateLimitStore } from "../../lib/rate-limit";
import { startNode, type RunningNode } from "../helpers/nodes";

const testEnv = inject("testEnv");
const nodes: RunningNode[] = [];

afterAll(async () => {
	await Promise.all(nodes.map((node) => node.stop()));
});

describe("RateLimiter", () => {
	it("counts a fixed window in memory", async () => {
		const limiter = new RateLimiter(new MemoryRateLimitStore(), 2, 60_000);
		const decisions = [await limiter.consume("k"), await limiter.consume("k"), await limiter.consume("k")];
		expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, false]);
		expect(decisions.map((decision) => decision.remaining)).toEqual([1, 0, 0]);
		expect(decisions[2].retryAfterSeconds).toBeGreaterThan(0);
		await limiter.close();
	});

	it("issue 12: counts one window whether asked synchronously (memory store) or awaited, and answers synchronously only for memory", async () => {
		const limiter = new RateLimiter(new MemoryRateLimitStore(), 3, 60_000);
		const decisions = [limiter.consumeNow("k"), await limiter.consume("k"), limiter.consumeNow("k"), await limiter.consume("k")];
		expect(decisions.map((decision) => decision?.allowed)).toEqual([true, true, true, false]);
		expect(decisions.map((decision) => decision?.remaining)).toEqual([2, 1, 0, 0]);
		await limiter.close();
		const shared = new RateLimiter(new RedisRateLimitStore(testEnv.redisUrl, `test-${testEnv.runId}:rl-now`), 3, 60_000);
		expect(shared.consumeNow("k")).toBeUndefined();
		await shared.close();
	});

	it("shares one count between limiters on the same Redis", async () => {
		const prefix = `test-${testEnv.runId}:rl`;
		const one = new RateLimiter(new RedisRateLimitStore(testEnv.redisUrl, prefix), 3, 60_000);
		const two = new RateLimiter(new RedisRateLimitStore(testEnv.redisUrl, prefix), 3, 60_000);
		await Promise.all([one.ready(), two.ready()]);
		const key = randomUUID();
		const allowed = [];
		for (const limiter of [one, two, one, two]) allowed.push((await limiter.consume(key)).allowed);
		expect(allowed).toEqual([true, true, true, false]);
		await Promise.all([one.close(), two.close()]);
	});

	it("keeps limiting on its own when Redis is down", async () => {
		const limiter = new RateLimiter(new RedisRateLimitStore("redis://127.0.0.1:1", "x"), 1, 60_000);
		expect((await limiter.consume("k")).allowed).toBe(true);
		expect((await limiter.consume("k")).allowed).toBe(false);
		await limiter.close();
	});
});

describe("gateway rate limiting across nodes", () => {
	it("answers 429 with Retry-After once the shared limit is spent on any gateway", async () => {
		const env = { SERVICES: "gateway,platform", CACHER: testEnv.redisUrl, RATE_LIMIT_MAX: "3", RATE_LIMIT_WINDOW_MS: "60000", NAMESPACE: `${testEnv.namespace}-rl${Date.now()}` };
		nodes.push(await startNode(env), await startNode(env));
		const [a, b] = nodes;
		const statuses = [];
		for (const node of [a, b, a]) statuses.push((await fetch(`${node.url}/api/v1/status/ping`)).status);
		expect(statuses).toEqual([200, 200, 200]);
		const limited = await fetch(`${b.url}/api/v1/status/ping`);
		expect(limited.status).toBe(429);
		expect(limited.headers.get("content-type")).toMatch(/^application\/problem\+json/);
		expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
		expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
		expect(await limited.json()).toMatchObject({ status: 429, code: "RATE_LIMITED" });
		// Probes are never throttled.
		expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
	});
});
