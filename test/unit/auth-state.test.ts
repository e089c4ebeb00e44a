/** Issue 12: the gateway's cache of resolved callers (lib/gateway/caller-cache.ts) on its own. */
import { describe, expect, it } from "vitest";
import { CallerCache, credentialHash } from "../../lib/gateway/caller-cache";
import type { CallerMeta } from "../../lib/caller";

function caller(userId: string, extra: Partial<CallerMeta> = {}): CallerMeta {
	return { user: { id: userId, persona: "end_user" }, persona: "end_user", ...extra };
}

describe("finding 12: resolved callers on a gateway node", () => {
	it("finding 12: a credential is resolved once, until a change that names its caller", async () => {
		const cache = new CallerCache(60_000);
		let resolutions = 0;
		const resolve = async () => {
			resolutions += 1;
			return caller("u1", { sessionId: "s1", tenantId: "t1", role: "admin" });
		};
		const key = credentialHash("token", "a.b.c");
		await Promise.all([cache.get(key, resolve), cache.get(key, resolve)]);
		await cache.get(key, resolve);
		expect(resolutions).toBe(1);

		expect(cache.invalidate({ userId: "u2", reason: "other user" })).toBe(0);
		expect(cache.invalidate({ userId: "u1", tenantId: "t2", reason: "other tenant" })).toBe(0);
		expect(cache.invalidate({ userId: "u1", tenantId: "t1", reason: "member_removed" })).toBe(1);
		await cache.get(key, resolve);
		expect(resolutions).toBe(2);
		expect(cache.invalidate({ sessionId: "s1", reason: "logout" })).toBe(1);
		await cache.get(key, resolve);
		expect(cache.invalidate({ reason: "everything" })).toBe(1);
		expect(cache.size).toBe(0);
	});

	it("finding 12: an answer read before a change arrived is not kept", async () => {
		const cache = new CallerCache(60_000);
		let release!: () => void;
		const slow = () => new Promise<CallerMeta>((resolve) => (release = () => resolve(caller("u1"))));
		const key = credentialHash("key", "lat_x_y");
		const first = cache.get(key, slow);
		cache.invalidate({ userId: "u1", reason: "suspended" });
		release();
		await first;
		expect(cache.size).toBe(0);
	});

	it("finding 12: nothing is kept past the TTL or the token's expiry, and failures are not kept", async () => {
		const cache = new CallerCache(50);
		let resolutions = 0;
		const resolve = async () => {
			resolutions += 1;
			return caller("u1");
		};
		await cache.get("k", resolve);
		await new Promise((wait) => setTimeout(wait, 80));
		await cache.get("k", resolve);
		expect(resolutions).toBe(2);
		await cache.get("expired", resolve, () => Date.now() - 1);
		expect(cache.size).toBe(1);
		await expect(cache.get("bad", () => Promise.reject(new Error("invalid")))).rejects.toThrow("invalid");
		expect(cache.size).toBe(1);
	});

	it("issue 12: peek answers a remembered caller synchronously, and nothing once a change, the TTL or the token's expiry has dropped it", async () => {
		const cache = new CallerCache(50);
		const key = credentialHash("token", "p.e.k");
		expect(cache.peek(key)).toBeUndefined();
		const resolved = await cache.get(key, async () => caller("u1", { sessionId: "s1" }));
		expect(cache.peek(key)).toBe(resolved);
		cache.invalidate({ sessionId: "s1", reason: "logout" });
		expect(cache.peek(key)).toBeUndefined();
		await cache.get(key, async () => caller("u1"));
		expect(cache.peek(key)).toBeDefined();
		await new Promise((wait) => setTimeout(wait, 80));
		expect(cache.peek(key)).toBeUndefined();
		expect(cache.size).toBe(0);
		await cache.get("expiring", async () => caller("u2"), () => Date.now() + 30);
		expect(cache.peek("expiring")).toBeDefined();
		await new Promise((wait) => setTimeout(wait, 40));
		expect(cache.peek("expiring")).toBeUndefined();
	});
});
