/**
 * The access-control middleware with a role × result matrix, including calls that arrive from another
 * service (meta travels with the call, so an internal hop can't skip a check).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceBroker, type Context } from "moleculer";
import { AccessControlMiddleware } from "../../middlewares/access-control.middleware";
import type { CallerMeta } from "../../lib/caller";

const broker = new ServiceBroker({ logger: false, middlewares: [AccessControlMiddleware] });

broker.createService({
	name: "vault",
	actions: {
		open: { auth: "public", handler: () => "open" },
		anyUser: { handler: () => "user" },
		admins: { permissions: ["tenant:admin"], handler: () => "admin" },
		builders: { permissions: ["builder"], handler: () => "builder" },
		self: {
			permissions: ["$isSelf"],
			params: { userId: "string" },
			handler: () => "self",
		},
		secret: { visibility: "private", handler: () => "private" },
		viaPrivate: { handler(this: { actions: { secret(): Promise<string> } }) { return this.actions.secret(); } },
	},
	methods: {
		isSelf(ctx: Context<{ userId: string }, CallerMeta>) {
			return ctx.meta.user?.id === ctx.params.userId;
		},
	},
});

// A neighbour that forwards to the vault: the caller's meta goes with it.
broker.createService({
	name: "relay",
	actions: {
		toAdmins: { auth: "public", handler: (ctx: Context) => ctx.call("vault.admins") },
	},
});

beforeAll(() => broker.start());
afterAll(() => broker.stop());

const anonymous: CallerMeta = {};
const viewer: CallerMeta = { user: { id: "u1", persona: "end_user" }, persona: "end_user", tenantId: "t1", role: "viewer" };
const admin: CallerMeta = { user: { id: "u2", persona: "end_user" }, persona: "end_user", tenantId: "t1", role: "admin" };
const owner: CallerMeta = { user: { id: "u3", persona: "end_user" }, persona: "end_user", tenantId: "t1", role: "owner" };
const builder: CallerMeta = { user: { id: "u4", persona: "builder" }, persona: "builder" };
const superAdmin: CallerMeta = { user: { id: "u5", persona: "super_admin" }, persona: "super_admin" };
const system: CallerMeta = { $system: true };

type Outcome = "ok" | 401 | 403;
const matrix: Array<[string, CallerMeta, Record<string, Outcome>]> = [
	["anonymous", anonymous, { open: "ok", anyUser: 401, admins: 401, builders: 401 }],
	["viewer", viewer, { open: "ok", anyUser: "ok", admins: 403, builders: 403 }],
	["admin", admin, { open: "ok", anyUser: "ok", admins: "ok", builders: 403 }],
	["owner", owner, { open: "ok", anyUser: "ok", admins: "ok", builders: 403 }],
	["builder", builder, { open: "ok", anyUser: "ok", admins: 403, builders: "ok" }],
	["super admin", superAdmin, { open: "ok", anyUser: "ok", admins: "ok", builders: "ok" }],
	["system", system, { open: "ok", anyUser: "ok", admins: "ok", builders: "ok" }],
];

describe("declared auth and permissions", () => {
	for (const [who, meta, expectations] of matrix) {
		for (const [action, outcome] of Object.entries(expectations)) {
			it(`${who} → vault.${action}: ${outcome}`, async () => {
				const call = broker.call(`vault.${action}`, {}, { meta: { ...meta } });
				if (outcome === "ok") await expect(call).resolves.toBeDefined();
				else await expect(call).rejects.toMatchObject({ code: outcome });
			});
		}
	}

	it("checks a $method permission against the call", async () => {
		await expect(broker.call("vault.self", { userId: "u1" }, { meta: viewer })).resolves.toBe("self");
		await expect(broker.call("vault.self", { userId: "someone-else" }, { meta: viewer })).rejects.toMatchObject({ code: 403 });
	});

	it("checks internal calls with the original caller's identity", async () => {
		await expect(broker.call("relay.toAdmins", {}, { meta: viewer })).rejects.toMatchObject({ code: 403 });
		await expect(broker.call("relay.toAdmins", {}, { meta: anonymous })).rejects.toMatchObject({ code: 401 });
		await expect(broker.call("relay.toAdmins", {}, { meta: admin })).resolves.toBe("admin");
	});

	it("lets a service use its own private actions once the caller got in", async () => {
		await expect(broker.call("vault.viaPrivate", {}, { meta: viewer })).resolves.toBe("private");
	});

	it("rejects a schema with an unknown permission when the service is created", () => {
		const other = new ServiceBroker({ logger: false, middlewares: [AccessControlMiddleware] });
		expect(() => other.createService({ name: "typo", actions: { x: { permissions: ["tenant:boss"], handler: () => 1 } } })).toThrow(/unknown tenant role/);
		expect(() => other.createService({ name: "typo2", actions: { x: { permissions: ["wizard"], handler: () => 1 } } })).toThrow(/unknown permission/);
	});
});
