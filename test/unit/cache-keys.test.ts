/**
 * lib/cache-keys.ts makes exactly the keys Moleculer's defaultKeygen makes (stored entries and clean patterns
 * depend on it), only faster: compared here over every kind of value and key the platform declares and more.
 */
import { describe, expect, it } from "vitest";
import { Cachers, ServiceBroker, type Context } from "moleculer";
import { cacheKeygen } from "../../lib/cache-keys";

const broker = new ServiceBroker({ logger: false, metrics: false });

function cacherWith(maxParamsLength?: number) {
	const cacher = new Cachers.Memory({ maxParamsLength });
	cacher.init(broker);
	return cacher as unknown as ThisParameterType<typeof cacheKeygen>;
}

const action = { name: "catalog.listProducts" };
const listKeys = ["page", "pageSize", "q", "category", "currency", "minPrice", "maxPrice", "status", "sort", "#persona"];

const contexts: Array<{ params?: unknown; meta?: unknown; headers?: unknown }> = [
	{ params: { page: 1, pageSize: 20 }, meta: { persona: "end_user" } },
	{ params: { page: 1, pageSize: 20, q: "lamp | desk", category: "tools", minPrice: 0, maxPrice: 10.5, status: "active", sort: "-price" }, meta: {} },
	{ params: { page: 2, pageSize: 20 }, meta: null },
	{ params: { page: 2, pageSize: 20, "#persona": "smuggled" }, meta: null },
	{ params: null, meta: { persona: "super_admin" } },
	{ params: { page: true, pageSize: null, q: { nested: { deep: [1, "two", null] } }, category: ["a", "b"], currency: new Date(0) }, meta: { persona: undefined } },
	{ params: { page: 10n, pageSize: "x".repeat(300) }, meta: { persona: "builder" } },
	{ params: { page: new String("boxed") }, meta: { persona: "end_user" } },
	{ params: { id: "42", user: { id: "u1" } }, meta: { user: { id: "u1" }, tenantId: "t1" }, headers: { tenant: "t9", deep: { x: 1 } } },
	{ params: undefined, meta: undefined, headers: undefined },
];

const keyLists: Array<string[] | undefined> = [
	listKeys,
	["id", "#persona"],
	["userId"],
	[],
	undefined,
	["user.id", "#user.id", "#tenantId", "@tenant", "@deep.x", "@missing"],
	["id", "#user", "params"],
];

describe("cache keys", () => {
	it("issue 12: the fast key generator makes Moleculer's keys, byte for byte, whatever the keys and values", () => {
		for (const maxParamsLength of [undefined, 44, 60, 200]) {
			const cacher = cacherWith(maxParamsLength);
			for (const keys of keyLists) {
				for (const ctx of contexts) {
					const opts = keys === undefined ? undefined : { keys };
					const expected = cacher.defaultKeygen(action as never, opts, ctx as Context);
					expect(cacheKeygen.call(cacher, action as never, opts, ctx as Context), `${maxParamsLength} ${keys?.join(",")} ${JSON.stringify(ctx, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))}`).toBe(expected);
				}
			}
			expect(cacheKeygen.call(cacher, undefined, { keys: listKeys }, contexts[0] as Context)).toBe(cacher.defaultKeygen(undefined as never, { keys: listKeys }, contexts[0] as Context));
			expect(cacheKeygen.call(cacher, action as never, { keys: listKeys }, undefined)).toBe(cacher.defaultKeygen(action as never, { keys: listKeys }, undefined));
		}
	});

	it("is the cacher's key generator on every node, so a cached list is found under the key Moleculer would use", async () => {
		const { createBrokerOptions } = await import("../../moleculer.config");
		const { loadConfig } = await import("../../lib/config");
		const options = createBrokerOptions(loadConfig({ ...process.env, CACHER: "" } as NodeJS.ProcessEnv));
		expect((options.cacher as { options: { keygen?: unknown } }).options.keygen).toBe(cacheKeygen);
	});
});
