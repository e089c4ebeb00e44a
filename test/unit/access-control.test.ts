/**
 * The access-control middleware with a role × result matrix, including calls that arrive from another
 * service (meta travels with the call, so an internal hop can't skip a check).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceBroker, type Context } from "moleculer";
import { AccessControlMiddleware } from "../../middlewares/access-control.middleware";
import { readdirSync } from "node:fs";
import path from "node:path";
import { roleRank, type CallerMeta, type TenantRole } from "../../lib/caller";

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

/**
 * Every REST action of the registry, as declared in its service file, behind the real middleware: the
 * expected policy of each is written here, so a changed or new declaration fails until this table agrees.
 * Handlers are stubs (this tests who gets in, not what the action does); tenants.membershipOf answers from
 * the fixture below, as the "tenant:<role>@id" form asks it.
 */
type Policy =
	| "public"
	| "user"
	| "super_admin"
	| "tenant:viewer"
	| "tenant:member"
	| "tenant:admin"
	| "tenant:owner"
	| "tenant:admin|key"
	| "self"
	| "bank"
	| "path:viewer"
	| "path:admin"
	| "path:owner";

const REGISTRY_POLICIES: Record<string, Policy> = {
	"catalog.listProducts": "public",
	"catalog.getProduct": "public",
	"catalog.listCategories": "public",
	"catalog.createProduct": "super_admin",
	"catalog.updateProduct": "super_admin",
	"catalog.archiveProduct": "super_admin",
	"plans.listPlans": "public",
	"plans.getPlan": "public",
	"plans.listPlanVersions": "super_admin",
	"plans.createPlan": "super_admin",
	"plans.updatePlan": "super_admin",
	"plans.archivePlan": "super_admin",
	"plans.deletePlan": "super_admin",
	"plans.listMetrics": "super_admin",
	"plans.getMetric": "super_admin",
	"plans.createMetric": "super_admin",
	"plans.updateMetric": "super_admin",
	"plans.deleteMetric": "super_admin",
	"plans.listCoupons": "super_admin",
	"plans.getCoupon": "super_admin",
	"plans.createCoupon": "super_admin",
	"plans.archiveCoupon": "super_admin",
	"orders.createOrder": "user",
	"orders.listOrders": "user",
	"orders.getOrder": "user",
	"orders.cancelOrder": "user",
	"orders.setStatus": "super_admin",
	"payments.createPayment": "user",
	"payments.listPayments": "user",
	"payments.getPayment": "user",
	"payments.verifyPayment": "bank",
	"payments.refundPayment": "super_admin",
	"payments.stripeWebhook": "public",
	"payments.setupPaymentMethod": "tenant:admin",
	"payments.listPaymentMethods": "tenant:admin",
	"payments.deletePaymentMethod": "tenant:admin",
	"files.upload": "tenant:member",
	"files.createUploadUrl": "tenant:member",
	"files.completeUpload": "tenant:member",
	"files.listFiles": "tenant:viewer",
	"files.getFile": "tenant:viewer",
	"files.download": "tenant:viewer",
	"files.deleteFile": "tenant:member",
	"api-keys.list": "tenant:admin",
	"api-keys.get": "tenant:admin",
	"api-keys.issue": "tenant:admin",
	"api-keys.revoke": "tenant:admin",
	"audit.search": "tenant:admin",
	"auth.register": "public",
	"auth.login": "public",
	"auth.refresh": "public",
	"auth.logout": "public",
	"auth.sessions": "user",
	"auth.revokeSession": "user",
	"auth.me": "user",
	"auth.updatePersona": "user",
	"auth.switchTenant": "user",
	"auth.forgotPassword": "public",
	"auth.resetPassword": "public",
	"auth.changePassword": "user",
	"auth.verifyEmail": "public",
	"auth.resendVerification": "user",
	"auth.clearThrottle": "super_admin",
	"auth.jwks": "public",
	"auth.rotateSigningKey": "super_admin",
	"oauth.providers": "public",
	"oauth.authorize": "public",
	"oauth.callback": "public",
	"tenants.create": "user",
	"tenants.mine": "user",
	"tenants.details": "path:viewer",
	"tenants.rename": "path:admin",
	"tenants.members": "path:viewer",
	"tenants.setMemberRole": "path:admin",
	"tenants.removeMember": "path:admin",
	"tenants.invite": "path:admin",
	"tenants.invitations": "path:admin",
	"tenants.acceptInvitation": "user",
	"tenants.features": "path:viewer",
	"tenants.setFeatures": "path:owner",
	"tenants.limits": "path:viewer",
	"users.search": "super_admin",
	"users.profile": "self",
	"users.updateProfile": "self",
	"users.deleteAccount": "self",
	"users.setStatus": "super_admin",
	"users.stats": "self",
	"mail.outbox": "super_admin",
	"notification-preferences.show": "user",
	"notification-preferences.change": "user",
	"notifications.broadcast": "super_admin",
	"notifications.feed": "user",
	"notifications.unreadCount": "user",
	"notifications.markRead": "user",
	"notifications.markAllRead": "user",
	"webhooks.createEndpoint": "tenant:admin|key",
	"webhooks.listEndpoints": "tenant:admin|key",
	"webhooks.getEndpoint": "tenant:admin|key",
	"webhooks.getSecret": "tenant:admin|key",
	"webhooks.rotateSecret": "tenant:admin|key",
	"webhooks.updateEndpoint": "tenant:admin|key",
	"webhooks.deleteEndpoint": "tenant:admin|key",
	"webhooks.testEndpoint": "tenant:admin|key",
	"webhooks.listDeliveries": "tenant:admin|key",
	"webhooks.retryDelivery": "tenant:admin|key",
	"status.ping": "public",
	"status.nodes": "super_admin",
	"billing.createSubscription": "tenant:owner",
	"billing.currentSubscription": "tenant:viewer",
	"billing.listSubscriptions": "tenant:viewer",
	"billing.changePlan": "tenant:owner",
	"billing.cancelSubscription": "tenant:owner",
	"billing.resumeSubscription": "tenant:owner",
	"billing.listInvoices": "tenant:viewer",
	"billing.getInvoice": "tenant:viewer",
	"billing.getInvoicePdf": "tenant:viewer",
	"billing.payOpenInvoice": "tenant:owner",
	"billing.voidInvoice": "super_admin",
	"billing.getAccount": "tenant:viewer",
	"billing.updateAccount": "super_admin",
	// The tenant named by `tenantId` (the body), as "tenant:owner@tenantId".
	"billing.advanceTestClock": "path:owner",
	"screenshot-jobs.listScreenshotJobs": "tenant:viewer",
	"screenshot-jobs.getScreenshotJob": "tenant:viewer",
	"screenshot-jobs.createScreenshotJob": "tenant:member",
	"screenshot-jobs.cancelScreenshotJob": "tenant:member",
	"screenshot-jobs.deleteScreenshotJob": "tenant:member",
	"devices.listDevices": "public",
};

const T1 = "00000000-0000-4000-8000-0000000000a1";
const OTHER_USER = "00000000-0000-4000-8000-0000000000ff";
const MEMBERS: Record<string, TenantRole> = { u1: "viewer", u6: "member", u2: "admin", u3: "owner" };
const member = (id: string, role: TenantRole): CallerMeta => ({ user: { id, persona: "end_user" }, persona: "end_user", tenantId: T1, role });
const REGISTRY_CALLERS: Array<[string, CallerMeta]> = [
	["anonymous", {}],
	["viewer", member("u1", "viewer")],
	["member", member("u6", "member")],
	["admin", member("u2", "admin")],
	["owner", member("u3", "owner")],
	["builder (no tenant)", { user: { id: "u4", persona: "builder" }, persona: "builder" }],
	["admin API key", { apiKeyId: "k1", tenantId: T1, role: "admin", scopes: ["*"] }],
	["super admin", superAdmin],
	["system", system],
];

type RegistryOutcome = "ok" | 401 | 403 | 404;

function expectedOutcome(policy: Policy, meta: CallerMeta): RegistryOutcome {
	if (policy === "public" || meta.$system || meta.persona === "super_admin") return "ok";
	if (!meta.user && !meta.apiKeyId) return policy === "bank" ? 403 : 401;
	const atLeast = (role: TenantRole | undefined, minimum: TenantRole) => (role !== undefined && roleRank(role) <= roleRank(minimum) ? "ok" : 403);
	switch (policy) {
		case "user":
			return "ok";
		case "tenant:viewer":
		case "tenant:member":
		case "tenant:admin":
		case "tenant:owner":
			return atLeast(meta.role, policy.slice("tenant:".length) as TenantRole);
		case "tenant:admin|key":
			return meta.apiKeyId ? "ok" : atLeast(meta.role, "admin");
		case "path:viewer":
		case "path:admin":
		case "path:owner": {
			const role = meta.user ? MEMBERS[meta.user.id] : meta.tenantId === T1 ? meta.role : undefined;
			return role ? atLeast(role, policy.slice("path:".length) as TenantRole) : 404;
		}
		default:
			// super_admin, someone else's profile, a bank callback without its secret
			return 403;
	}
}

type AnySchema = { name?: string; mixins?: AnySchema[]; actions?: Record<string, unknown>; methods?: Record<string, unknown>; settings?: Record<string, unknown> };

/** Actions and methods as the service ends up with them: mixins first, the schema's own last. */
function flatten(schema: AnySchema): { actions: Record<string, unknown>; methods: Record<string, unknown> } {
	const actions: Record<string, unknown> = {};
	const methods: Record<string, unknown> = {};
	for (const mixin of schema.mixins ?? []) {
		const inner = flatten(mixin);
		Object.assign(actions, inner.actions);
		Object.assign(methods, inner.methods);
	}
	Object.assign(actions, schema.actions ?? {});
	Object.assign(methods, schema.methods ?? {});
	return { actions, methods };
}

describe("issue 13: every REST action of the registry, tenants' included, behind the access-control middleware (role × expected result)", () => {
	const registry = new ServiceBroker({ logger: false, middlewares: [AccessControlMiddleware] });
	const published: string[] = [];

	beforeAll(async () => {
		const root = path.join(__dirname, "../../services");
		for (const domain of readdirSync(root)) {
			for (const file of readdirSync(path.join(root, domain)).filter((name) => name.endsWith(".service.ts"))) {
				const schema = (await import(path.join(root, domain, file))).default as AnySchema;
				const { actions, methods } = flatten(schema);
				const stubs: Record<string, unknown> = {};
				for (const [name, definition] of Object.entries(actions)) {
					if (!definition || typeof definition !== "object") continue;
					const { rest, auth, permissions, scopes, visibility } = definition as Record<string, unknown>;
					if (rest) published.push(`${schema.name}.${name}`);
					stubs[name] = { rest, auth, permissions, scopes, visibility, handler: () => "ok" };
				}
				if (schema.name === "tenants") {
					stubs.membershipOf = {
						visibility: "public",
						handler: (ctx: Context<{ tenantId: string; userId: string }>) =>
							ctx.params.tenantId === T1 && MEMBERS[ctx.params.userId] ? { tenantId: T1, userId: ctx.params.userId, role: MEMBERS[ctx.params.userId] } : null,
					};
				}
				registry.createService({ name: schema.name!, settings: { bankCallbackSecret: "bank-secret" }, actions: stubs as never, methods: methods as never });
			}
		}
		await registry.start();
	});
	afterAll(() => registry.stop());

	it("has a policy in this table for each REST action, and no row for an action that is gone", () => {
		expect([...published].sort()).toEqual(Object.keys(REGISTRY_POLICIES).sort());
	});

	for (const [action, policy] of Object.entries(REGISTRY_POLICIES)) {
		it(`${action} (${policy})`, async () => {
			for (const [who, meta] of REGISTRY_CALLERS) {
				const expected = expectedOutcome(policy, meta);
				// A tenant path names its tenant as `id` (tenants) or `tenantId` (billing's test clock).
				const tenant = policy.startsWith("path:") ? T1 : OTHER_USER;
				const params = { id: tenant, tenantId: tenant, userId: OTHER_USER };
				const outcome = await registry.call(action, params, { meta: { ...meta } }).then(
					() => "ok" as const,
					(err: { code?: number }) => err.code,
				);
				expect({ who, outcome }).toEqual({ who, outcome: expected });
			}
		});
	}

	it("lets a member leave a tenant whatever their role (tenants.removeMember naming themselves)", async () => {
		await expect(registry.call("tenants.removeMember", { id: T1, userId: "u1" }, { meta: member("u1", "viewer") })).resolves.toBe("ok");
		await expect(registry.call("tenants.removeMember", { id: T1, userId: "u4" }, { meta: { user: { id: "u4", persona: "builder" }, persona: "builder" } })).rejects.toMatchObject({ code: 404 });
	});

	it("answers a malformed tenant id on a tenant path like an unknown one (404)", async () => {
		await expect(registry.call("tenants.details", { id: "not-a-uuid" }, { meta: member("u2", "admin") })).rejects.toMatchObject({ code: 404 });
		await expect(registry.call("tenants.details", { id: OTHER_USER }, { meta: member("u2", "admin") })).rejects.toMatchObject({ code: 404 });
		await expect(registry.call("tenants.rename", { id: T1 }, { meta: member("u1", "viewer") })).rejects.toMatchObject({ code: 403, type: "ROLE_REQUIRED" });
	});

	it("checks a user's own profile as theirs", async () => {
		await expect(registry.call("users.profile", { id: "u1" }, { meta: member("u1", "viewer") })).resolves.toBe("ok");
	});
});
