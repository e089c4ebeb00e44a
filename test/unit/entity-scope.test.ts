/**
 * The declared entity scope on its own: a broker with the real middleware and a service whose loader
 * method stands in for the database.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceBroker, type Context } from "moleculer";
import { EntityScopeMiddleware, entityOf } from "../../middlewares/entity-scope.middleware";
import type { CallerMeta } from "../../lib/caller";

const T1 = "00000000-0000-4000-8000-0000000000a1";
const T2 = "00000000-0000-4000-8000-0000000000a2";
const ROW_ID = "00000000-0000-4000-8000-000000000001";
const MISSING_ID = "00000000-0000-4000-8000-000000000002";
const ROW = { id: ROW_ID, tenantId: T1, userId: "u1" };

const broker = new ServiceBroker({ logger: false, middlewares: [EntityScopeMiddleware] });
broker.createService({
	name: "things",
	actions: {
		ofTenant: { scope: { entity: "$findThing", owner: "tenant", name: "Thing" }, handler: (ctx: Context) => entityOf<typeof ROW>(ctx).id },
		ofUser: { scope: { entity: "$findThing", owner: "user", name: "Thing" }, handler: (ctx: Context) => entityOf<typeof ROW>(ctx).id },
		ofBoth: { scope: { entity: "$findThing", owner: "tenant-and-user", param: "thingId", name: "Thing" }, handler: (ctx: Context) => entityOf<typeof ROW>(ctx).id },
		unscoped: { handler: (ctx: Context) => entityOf(ctx) },
	},
	methods: {
		async findThing(id: string) {
			return id === ROW_ID ? { ...ROW } : undefined;
		},
	},
});

beforeAll(() => broker.start());
afterAll(() => broker.stop());

const owner: CallerMeta = { user: { id: "u1", persona: "end_user" }, tenantId: T1, role: "member" };
const colleague: CallerMeta = { user: { id: "u2", persona: "end_user" }, tenantId: T1, role: "member" };
const stranger: CallerMeta = { user: { id: "u3", persona: "end_user" }, tenantId: T2, role: "owner" };
const apiKey: CallerMeta = { apiKeyId: "k1", tenantId: T1, role: "admin" };
const superAdmin: CallerMeta = { user: { id: "u9", persona: "super_admin" }, persona: "super_admin" };

describe("issue 13: one declared entity scope", () => {
	it("loads the row into ctx.locals for its owner, and 404s alike for malformed, missing and foreign ids", async () => {
		await expect(broker.call("things.ofTenant", { id: ROW_ID.toUpperCase() }, { meta: owner })).resolves.toBe(ROW_ID);
		for (const id of ["not-a-uuid", MISSING_ID, 42, undefined]) {
			await expect(broker.call("things.ofTenant", { id }, { meta: owner })).rejects.toMatchObject({ code: 404, type: "ENTITY_NOT_FOUND" });
		}
		await expect(broker.call("things.ofTenant", { id: ROW_ID }, { meta: stranger })).rejects.toMatchObject({ code: 404, type: "ENTITY_NOT_FOUND" });
	});

	it("scopes by user, or by both, and lets platform callers through", async () => {
		await expect(broker.call("things.ofUser", { id: ROW_ID }, { meta: owner })).resolves.toBe(ROW_ID);
		await expect(broker.call("things.ofUser", { id: ROW_ID }, { meta: colleague })).rejects.toMatchObject({ code: 404 });
		await expect(broker.call("things.ofUser", { id: ROW_ID }, { meta: apiKey })).rejects.toMatchObject({ code: 404 });
		await expect(broker.call("things.ofBoth", { thingId: ROW_ID }, { meta: owner })).resolves.toBe(ROW_ID);
		await expect(broker.call("things.ofBoth", { thingId: ROW_ID }, { meta: { ...owner, tenantId: T2 } })).rejects.toMatchObject({ code: 404 });
		for (const meta of [superAdmin, { $system: true }]) {
			await expect(broker.call("things.ofBoth", { thingId: ROW_ID }, { meta })).resolves.toBe(ROW_ID);
			await expect(broker.call("things.ofBoth", { thingId: MISSING_ID }, { meta })).rejects.toMatchObject({ code: 404 });
		}
	});

	it("asks for an active tenant before looking for a tenant's row", async () => {
		await expect(broker.call("things.ofTenant", { id: ROW_ID }, { meta: { user: { id: "u1", persona: "end_user" } } })).rejects.toMatchObject({ code: 403, type: "TENANT_REQUIRED" });
	});

	it("refuses to read an entity an action did not declare", async () => {
		await expect(broker.call("things.unscoped", {}, { meta: owner })).rejects.toThrow(/declares no scope/);
	});
});
