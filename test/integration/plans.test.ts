/**
 * Billing's plans service through the gateway (issue 14): super admins manage billable metrics, plans (a price
 * change makes a new version, running subscriptions keep theirs), archive and delete them (refused while a
 * subscription uses one: asked of `billing.plansInUse`, a stub here, and refused when nobody can say), and
 * coupons (redemptions counted atomically, limits and expiry kept). The public reads current active versions.
 * Also billing as the source of tenants' limits: the free plan's when no billing service is deployed, and
 * `billing.limits`' answer (a stub) cached per node until billing says the tenant's limits changed.
 * One node, every domain, real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "moleculer";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { systemCall } from "../../lib/caller";
import {
	BILLING_EVENTS,
	FREE_PLAN_LIMITS,
	PLANS_EVENTS,
	type PlanChangedEvent,
	type PublicCoupon,
	type PublicMetric,
	type PublicPlan,
	type TenantLimits,
} from "../../services/billing/contracts";

const ADMIN = { email: "plans-root@lattice.test", password: "bootstrap-secret-1" };

interface Page<T> {
	rows: T[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

interface Problem {
	code: string;
	errors?: Array<{ field: string; message: string }>;
	[key: string]: unknown;
}

interface Session {
	accessToken: string;
	user: { id: string };
	tenant: { id: string };
}

let node: RunningNode;
let api: ApiClient;
let adminToken: string;
let user: Session;
/** A per-run prefix, so this file's plans, metrics and coupons don't meet anything else in the database. */
const tag = `t${Date.now().toString(36)}`;
const metricCode = (name: string) => `${tag}_${name}`;
const planCode = (name: string) => `${tag}-${name}`;
const couponCode = (name: string) => `${tag}-${name}`.toUpperCase();
/** plan.changed events this node saw. */
const planEvents: PlanChangedEvent[] = [];

async function createMetric(code: string, body: Record<string, unknown> = {}): Promise<PublicMetric> {
	const response = await api.post<PublicMetric>("/billable-metrics", { code, name: code, aggregation: "count", ...body }, { token: adminToken });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function createPlan(code: string, body: Record<string, unknown> = {}): Promise<PublicPlan> {
	const response = await api.post<PublicPlan>("/plans", { code, name: `Plan ${code}`, interval: "month", amount: 1900, currency: "USD", ...body }, { token: adminToken });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function versionsOf(code: string): Promise<PublicPlan[]> {
	const response = await api.get<Page<PublicPlan>>(`/plans/${code}/versions?pageSize=100`, { token: adminToken });
	expect(response.status).toBe(200);
	return response.body.rows;
}

/** Every row of GET /plans, page by page. */
async function allPlans(query = "", token?: string): Promise<PublicPlan[]> {
	const rows: PublicPlan[] = [];
	for (let page = 1; ; page += 1) {
		const response = await api.get<Page<PublicPlan>>(`/plans?pageSize=100&page=${page}${query}`, { token });
		expect(response.status).toBe(200);
		rows.push(...response.body.rows);
		if (page >= response.body.totalPages) return rows;
	}
}

function redeem(code: string, currency = "USD", at?: string) {
	return node.broker.call<PublicCoupon, object>("plans.redeemCoupon", { code, currency, ...(at ? { at } : {}) }, systemCall());
}

beforeAll(async () => {
	node = await startNode({ BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, RATE_LIMIT_MAX: "100000" });
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
	const registered = await api.post<Session>("/auth/register", { email: uniqueEmail("plans-user"), password: "correct horse battery", fullName: "Plan Shopper" }, { ip: uniqueIp() });
	expect(registered.status).toBe(201);
	user = registered.body;
	node.broker.createService({
		name: "plans-watcher",
		events: {
			[PLANS_EVENTS.planChanged](ctx: Context<PlanChangedEvent>) {
				planEvents.push(ctx.params);
			},
		},
	});
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

describe("billable metrics", () => {
	it("lets a super admin create, read, rename and list metrics (201 + Location)", async () => {
		const created = await api.post<PublicMetric>("/billable-metrics", { code: metricCode("calls"), name: "API calls", aggregation: "count" }, { token: adminToken });
		expect(created.status).toBe(201);
		expect(created.headers.get("location")).toBe(`/api/v1/billable-metrics/${metricCode("calls")}`);
		expect(created.body).toMatchObject({ code: metricCode("calls"), name: "API calls", description: "", aggregation: "count", field: null });
		const seats = await createMetric(metricCode("seats"), { aggregation: "unique_count", field: "userId" });
		expect(seats.field).toBe("userId");
		const renamed = await api.put<PublicMetric>(`/billable-metrics/${metricCode("calls")}`, { name: "Calls", description: "Every API call" }, { token: adminToken });
		expect(renamed.status).toBe(200);
		expect(renamed.body).toMatchObject({ name: "Calls", description: "Every API call", aggregation: "count" });
		expect((await api.get<PublicMetric>(`/billable-metrics/${metricCode("calls")}`, { token: adminToken })).body.name).toBe("Calls");
		const all = await node.broker.call<PublicMetric[], object>("plans.metrics", {}, systemCall());
		expect(all.map((metric) => metric.code)).toEqual(expect.arrayContaining([metricCode("calls"), metricCode("seats")]));
		const listed = await api.get<Page<PublicMetric>>("/billable-metrics?pageSize=100", { token: adminToken });
		expect(listed.status).toBe(200);
		expect(listed.body.total).toBeGreaterThanOrEqual(2);
	});

	it("refuses a duplicate (409), a field that doesn't fit the aggregation (400) and bad codes (400)", async () => {
		const duplicate = await api.post<Problem>("/billable-metrics", { code: metricCode("calls"), name: "Again", aggregation: "count" }, { token: adminToken });
		expect(duplicate.status).toBe(409);
		expect(duplicate.body.code).toBe("ALREADY_EXISTS");
		const cases: Array<[Record<string, unknown>, string]> = [
			[{ code: metricCode("x1"), name: "x", aggregation: "count", field: "userId" }, "field"],
			[{ code: metricCode("x2"), name: "x", aggregation: "unique_count" }, "field"],
			[{ code: "Bad-Code", name: "x", aggregation: "count" }, "code"],
			[{ code: metricCode("x3"), name: "x", aggregation: "median" }, "aggregation"],
			[{ code: metricCode("x4"), name: null, aggregation: "count" }, "name"],
		];
		for (const [body, field] of cases) {
			const response = await api.post<Problem>("/billable-metrics", body, { token: adminToken });
			expect({ body, status: response.status }).toEqual({ body, status: 400 });
			expect(response.body.errors?.map((error) => error.field)).toContain(field);
		}
		expect((await api.get(`/billable-metrics/${metricCode("x1")}`, { token: adminToken })).status).toBe(404);
		expect((await api.get("/billable-metrics/NOT%20A%20CODE", { token: adminToken })).status).toBe(404);
	});

	it("deletes a metric no plan charges; one a plan charges can't be deleted nor change how it aggregates (409)", async () => {
		await createMetric(metricCode("spare"));
		await createMetric(metricCode("used"), { aggregation: "sum" });
		await createPlan(planCode("metered"), { charges: [{ metric: metricCode("used"), model: "per_unit", unitAmount: 2 }] });
		const refused = await api.delete<Problem>(`/billable-metrics/${metricCode("used")}`, { token: adminToken });
		expect(refused.status).toBe(409);
		expect(refused.body).toMatchObject({ code: "METRIC_IN_USE", plans: [planCode("metered")] });
		const changed = await api.put<Problem>(`/billable-metrics/${metricCode("used")}`, { aggregation: "max" }, { token: adminToken });
		expect(changed.status).toBe(409);
		expect((await api.put<PublicMetric>(`/billable-metrics/${metricCode("used")}`, { name: "Still used" }, { token: adminToken })).status).toBe(200);
		expect((await api.get<PublicMetric>(`/billable-metrics/${metricCode("used")}`, { token: adminToken })).body.aggregation).toBe("sum");
		expect((await api.delete(`/billable-metrics/${metricCode("spare")}`, { token: adminToken })).status).toBe(204);
		expect((await api.get(`/billable-metrics/${metricCode("spare")}`, { token: adminToken })).status).toBe(404);
		expect((await api.delete(`/billable-metrics/${metricCode("spare")}`, { token: adminToken })).status).toBe(404);
	});
});

describe("plans and their versions", () => {
	it("lets a super admin create a plan with charges of each pricing model: 201, Location, version 1, exact money", async () => {
		await createMetric(metricCode("shots"));
		await createMetric(metricCode("bytes"), { aggregation: "max" });
		const response = await api.post<PublicPlan>(
			"/plans",
			{
				code: planCode("pro"),
				name: "Pro",
				description: "For teams",
				interval: "month",
				amount: 4900,
				currency: "eur",
				trialDays: 14,
				limits: { members: 25, storageBytes: -1 },
				features: { sso: true },
				charges: [
					{ metric: metricCode("calls"), model: "per_unit", unitAmount: 3, freeUnits: 1000 },
					{ metric: metricCode("shots"), model: "package", packageSize: 100, packageAmount: 500, hardLimit: 10_000 },
					{ metric: metricCode("bytes"), model: "graduated", tiers: [{ upTo: 1000, unitAmount: 0 }, { upTo: null, unitAmount: 1, flatAmount: 200 }] },
				],
				taxRateBasisPoints: 2000,
			},
			{ token: adminToken },
		);
		expect(response.status, JSON.stringify(response.body)).toBe(201);
		expect(response.headers.get("location")).toBe(`/api/v1/plans/${planCode("pro")}`);
		expect(response.body).toMatchObject({ code: planCode("pro"), version: 1, amount: 4900, currency: "EUR", trialDays: 14, limits: { members: 25, storageBytes: -1 }, features: { sso: true }, taxRateBasisPoints: 2000, status: "active" });
		expect(response.body.charges).toEqual([
			{ metric: metricCode("calls"), model: "per_unit", unitAmount: 3, freeUnits: 1000, hardLimit: null },
			{ metric: metricCode("shots"), model: "package", packageSize: 100, packageAmount: 500, freeUnits: 0, hardLimit: 10_000 },
			{ metric: metricCode("bytes"), model: "graduated", freeUnits: 0, hardLimit: null, tiers: [{ upTo: 1000, unitAmount: 0, flatAmount: 0 }, { upTo: null, unitAmount: 1, flatAmount: 200 }] },
		]);
		expect(planEvents).toContainEqual(expect.objectContaining({ code: planCode("pro"), change: "created" }));
		const again = await api.post<Problem>("/plans", { code: planCode("pro"), name: "Again", interval: "month", amount: 1, currency: "USD" }, { token: adminToken });
		expect(again.status).toBe(409);
		expect(again.body.code).toBe("ALREADY_EXISTS");
	});

	it("makes a new version when what the plan costs changes, edits name, description and features in place, and keeps old versions as they were", async () => {
		const code = planCode("versioned");
		const first = await createPlan(code, { amount: 1000 });
		// The public read is cached; every change must show at once.
		expect((await api.get<PublicPlan>(`/plans/${code}`)).body.amount).toBe(1000);
		const priced = await api.put<PublicPlan>(`/plans/${code}`, { amount: 1500 }, { token: adminToken });
		expect(priced.status).toBe(200);
		expect(priced.body).toMatchObject({ code, version: 2, amount: 1500, name: first.name });
		expect(priced.body.id).not.toBe(first.id);
		expect((await api.get<PublicPlan>(`/plans/${code}`)).body).toMatchObject({ version: 2, amount: 1500 });
		expect(planEvents).toContainEqual(expect.objectContaining({ code, change: "versioned", plan: expect.objectContaining({ version: 2 }) }));

		const renamed = await api.put<PublicPlan>(`/plans/${code}`, { name: "Renamed", description: "Now described", features: { beta: true } }, { token: adminToken });
		expect(renamed.body).toMatchObject({ id: priced.body.id, version: 2, name: "Renamed", description: "Now described", features: { beta: true } });
		const same = await api.put<PublicPlan>(`/plans/${code}`, { amount: 1500, currency: "usd", name: "Renamed" }, { token: adminToken });
		expect(same.body).toMatchObject({ id: priced.body.id, version: 2 });
		for (const change of [{ limits: { members: 9 } }, { interval: "year" }, { trialDays: 7 }, { taxRateBasisPoints: 500 }, { taxRateBasisPoints: null }, { currency: "EUR" }, { charges: [{ metric: metricCode("calls"), model: "per_unit", unitAmount: 1 }] }]) {
			const before = (await api.get<PublicPlan>(`/plans/${code}`)).body.version;
			const changed = await api.put<PublicPlan>(`/plans/${code}`, change, { token: adminToken });
			expect({ change, status: changed.status, version: changed.body.version }).toEqual({ change, status: 200, version: before + 1 });
		}
		const versions = await versionsOf(code);
		expect(versions.map((version) => version.version)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
		expect(versions.at(-1)).toMatchObject({ id: first.id, amount: 1000, name: first.name });
		// Running subscriptions read their own version: unchanged.
		expect(await node.broker.call<PublicPlan, object>("plans.getVersion", { id: first.id }, systemCall())).toMatchObject({ version: 1, amount: 1000, currency: "USD" });
		expect(await node.broker.call<PublicPlan, object>("plans.current", { code }, systemCall())).toMatchObject({ version: 9, currency: "EUR", interval: "year", trialDays: 7, limits: { members: 9 } });
	});

	it("lets two price changes at once make two versions, never a clash", async () => {
		const code = planCode("race");
		await createPlan(code, { amount: 100 });
		const answers = await Promise.all([200, 300, 400].map((amount) => api.put<PublicPlan>(`/plans/${code}`, { amount }, { token: adminToken })));
		expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
		expect((await versionsOf(code)).map((version) => version.version)).toEqual([4, 3, 2, 1]);
		expect((await versionsOf(code)).filter((version) => version.status === "active")).toHaveLength(4);
	});

	it("shows the public the current version of active plans only; super admins may ask for archived ones", async () => {
		const shown = await createPlan(planCode("shown"), { amount: 700 });
		await api.put(`/plans/${shown.code}`, { amount: 800 }, { token: adminToken });
		const hidden = await createPlan(planCode("hidden"));
		const archived = await api.post<PublicPlan>(`/plans/${hidden.code}/archive`, {}, { token: adminToken });
		expect(archived.status).toBe(200);
		expect(archived.body.status).toBe("archived");
		expect(planEvents).toContainEqual(expect.objectContaining({ code: hidden.code, change: "archived" }));

		const publicList = await allPlans();
		const codes = publicList.map((plan) => plan.code);
		expect(new Set(codes).size).toBe(codes.length);
		expect(publicList.find((plan) => plan.code === shown.code)).toMatchObject({ version: 2, amount: 800 });
		expect(codes).not.toContain(hidden.code);
		expect(codes).toContain("free");
		expect(publicList.every((plan) => plan.status === "active")).toBe(true);
		// Cheapest first.
		expect(publicList.map((plan) => plan.amount)).toEqual([...publicList.map((plan) => plan.amount)].sort((a, b) => a - b));
		// A user's or anyone's `status` is ignored; a super admin's is honoured.
		expect((await allPlans("&status=archived", user.accessToken)).map((plan) => plan.code)).not.toContain(hidden.code);
		const adminArchived = await allPlans("&status=archived", adminToken);
		expect(adminArchived.map((plan) => plan.code)).toContain(hidden.code);
		expect(adminArchived.every((plan) => plan.status === "archived")).toBe(true);

		expect((await api.get(`/plans/${hidden.code}`)).status).toBe(404);
		expect((await api.get(`/plans/${hidden.code}`, { token: user.accessToken })).status).toBe(404);
		expect((await api.get<PublicPlan>(`/plans/${hidden.code}`, { token: adminToken })).body.status).toBe("archived");
		// Archiving again answers the plan as it is.
		expect((await api.post<PublicPlan>(`/plans/${hidden.code}/archive`, {}, { token: adminToken })).status).toBe(200);
		// Its versions stay readable for the subscriptions running on them.
		expect(await node.broker.call<PublicPlan, object>("plans.getVersion", { id: hidden.id }, systemCall())).toMatchObject({ status: "archived" });
	});

	it("keeps the free plan: never archived or deleted (409), and free it stays (422)", async () => {
		const free = await api.get<PublicPlan>("/plans/free");
		expect(free.status).toBe(200);
		expect(free.body).toMatchObject({ code: "free", amount: 0, status: "active" });
		expect(free.body.limits).toMatchObject(FREE_PLAN_LIMITS);
		expect(await node.broker.call<PublicPlan, object>("plans.freePlan", {}, systemCall())).toMatchObject({ code: "free", id: free.body.id });
		const archive = await api.post<Problem>("/plans/free/archive", {}, { token: adminToken });
		expect(archive.status).toBe(409);
		expect(archive.body.code).toBe("FREE_PLAN_PROTECTED");
		expect((await api.delete<Problem>("/plans/free", { token: adminToken })).body.code).toBe("FREE_PLAN_PROTECTED");
		for (const change of [{ amount: 100 }, { trialDays: 3 }, { charges: [{ metric: metricCode("calls"), model: "per_unit", unitAmount: 1 }] }]) {
			const refused = await api.put<Problem>("/plans/free", change, { token: adminToken });
			expect({ change, status: refused.status, code: refused.body.code }).toEqual({ change, status: 422, code: "FREE_PLAN_MUST_BE_FREE" });
		}
		expect((await api.get<PublicPlan>("/plans/free")).body).toMatchObject({ id: free.body.id, version: free.body.version, status: "active" });
	});

	it("answers 404 for unknown and malformed codes", async () => {
		for (const code of [planCode("nosuch"), "NOT-A-CODE", "a%20b", "x".repeat(64)]) {
			expect((await api.get(`/plans/${code}`)).status).toBe(404);
			expect((await api.put(`/plans/${code}`, { amount: 1 }, { token: adminToken })).status).toBe(404);
			expect((await api.post(`/plans/${code}/archive`, {}, { token: adminToken })).status).toBe(404);
			expect((await api.delete(`/plans/${code}`, { token: adminToken })).status).toBe(404);
			expect((await api.get(`/plans/${code}/versions`, { token: adminToken })).status).toBe(404);
		}
	});
});

describe("validating plans", () => {
	const base = () => ({ code: planCode(`bad${Math.random().toString(36).slice(2, 8)}`), name: "Bad", interval: "month", amount: 100, currency: "USD" });
	const charge = (extra: Record<string, unknown>) => ({ metric: metricCode("calls"), model: "per_unit", unitAmount: 1, ...extra });

	it("answers 400 naming the field for every malformed plan, and creates nothing", async () => {
		const cases: Array<[Record<string, unknown>, string]> = [
			[{ amount: 19.99 }, "amount"],
			[{ amount: -1 }, "amount"],
			[{ amount: "100" }, "amount"],
			[{ amount: 1e16 }, "amount"],
			[{ currency: "usd1" }, "currency"],
			[{ currency: null }, "currency"],
			[{ interval: "week" }, "interval"],
			[{ name: "" }, "name"],
			[{ name: null }, "name"],
			[{ name: "n".repeat(100_000) }, "name"],
			[{ code: "Has Spaces" }, "code"],
			[{ trialDays: 731 }, "trialDays"],
			[{ taxRateBasisPoints: 10_001 }, "taxRateBasisPoints"],
			[{ limits: { nosuch: 5 } }, "limits.nosuch"],
			[{ limits: { members: -2 } }, "limits.members"],
			[{ limits: { members: 1.5 } }, "limits.members"],
			[{ features: { sso: "yes" } }, "features.sso"],
			[{ features: [1] }, "features"],
			[{ charges: {} }, "charges"],
			[{ charges: [null] }, "charges"],
			[{ charges: [charge({ model: "flat" })] }, "charges[0].model"],
			[{ charges: [charge({ unitAmount: -1 })] }, "charges[0].unitAmount"],
			[{ charges: [charge({ unitAmount: 0.5 })] }, "charges[0].unitAmount"],
			[{ charges: [charge({ freeUnits: -1 })] }, "charges[0].freeUnits"],
			[{ charges: [charge({ hardLimit: -1 })] }, "charges[0].hardLimit"],
			[{ charges: [charge({ currency: "EUR" })] }, "charges[0]"],
			[{ charges: [charge({ metric: "Not A Code" })] }, "charges[0].metric"],
			[{ charges: [charge({ unitAmount: undefined })] }, "charges[0].unitAmount"],
			[{ charges: [charge({ tiers: [{ upTo: null, unitAmount: 1 }] })] }, "charges[0].tiers"],
			[{ charges: [charge({ model: "package", unitAmount: undefined, packageSize: 10 })] }, "charges[0].packageAmount"],
			[{ charges: [charge({ model: "package", unitAmount: undefined, packageSize: 0, packageAmount: 5 })] }, "charges[0].packageSize"],
			[{ charges: [charge({ model: "graduated", unitAmount: undefined })] }, "charges[0].tiers"],
			[{ charges: [charge({ model: "graduated", unitAmount: undefined, tiers: [] })] }, "charges[0].tiers"],
			[{ charges: [charge({ model: "graduated", unitAmount: undefined, tiers: [{ upTo: 10, unitAmount: 1 }] })] }, "charges[0].tiers"],
			[{ charges: [charge({ model: "graduated", unitAmount: undefined, tiers: [{ upTo: 10, unitAmount: 1 }, { upTo: 5, unitAmount: 1 }, { upTo: null, unitAmount: 1 }] })] }, "charges[0].tiers"],
			[{ charges: [charge({ model: "graduated", unitAmount: undefined, tiers: [{ upTo: null, unitAmount: 1 }, { upTo: null, unitAmount: 1 }] })] }, "charges[0].tiers"],
			[{ charges: [charge({ model: "graduated", unitAmount: undefined, tiers: [{ upTo: 0, unitAmount: 1 }, { upTo: null, unitAmount: 1 }] })] }, "charges[0].tiers[0].upTo"],
			[{ charges: [charge({ model: "graduated", unitAmount: undefined, tiers: [{ upTo: null, unitAmount: 1, flatAmount: -5 }] })] }, "charges[0].tiers[0].flatAmount"],
			[{ charges: [charge({}), charge({ unitAmount: 2 })] }, "charges[1].metric"],
			[{ charges: Array.from({ length: 51 }, () => charge({})) }, "charges"],
		];
		for (const [extra, field] of cases) {
			const body = JSON.parse(JSON.stringify({ ...base(), ...extra })) as Record<string, unknown>;
			const response = await api.post<Problem>("/plans", body, { token: adminToken });
			expect({ extra, status: response.status, code: response.body.code }).toEqual({ extra, status: 400, code: "VALIDATION_ERROR" });
			expect({ extra, fields: response.body.errors?.map((error) => error.field) }).toEqual({ extra, fields: expect.arrayContaining([field]) });
			expect((await api.get(`/plans/${body.code as string}`, { token: adminToken })).status).toBe(404);
		}
	});

	it("answers 422 UNKNOWN_METRIC naming the charge whose metric doesn't exist", async () => {
		const body = { ...base(), charges: [{ metric: metricCode("calls"), model: "per_unit", unitAmount: 1 }, { metric: metricCode("nosuch"), model: "per_unit", unitAmount: 1 }] };
		const response = await api.post<Problem>("/plans", body, { token: adminToken });
		expect(response.status).toBe(422);
		expect(response.body).toMatchObject({ code: "UNKNOWN_METRIC", fields: ["charges[1].metric"], metrics: [metricCode("nosuch")] });
		expect((await api.get(`/plans/${body.code}`, { token: adminToken })).status).toBe(404);
	});

	it("refuses a bad change without touching the plan", async () => {
		const plan = await createPlan(planCode("steady"));
		for (const change of [{ amount: -5 }, { charges: [{ metric: metricCode("nosuch"), model: "per_unit", unitAmount: 1 }] }, { limits: null }, { name: null }, { currency: "XXX1" }]) {
			const response = await api.put<Problem>(`/plans/${plan.code}`, change, { token: adminToken });
			expect(response.status).toBeGreaterThanOrEqual(400);
			expect(response.status).toBeLessThan(500);
		}
		expect(await versionsOf(plan.code)).toEqual([expect.objectContaining({ id: plan.id, version: 1, amount: plan.amount, name: plan.name })]);
	});

	it("bounds every list's pages (400) and refuses callers who aren't super admins (401/403)", async () => {
		for (const path of ["/plans", "/billable-metrics", "/coupons", `/plans/${planCode("steady")}/versions`]) {
			for (const query of ["page=0", "page=99999999999999999999", "pageSize=101", "pageSize=-1", "page=abc"]) {
				expect({ path, query, status: (await api.get(`${path}?${query}`, { token: adminToken })).status }).toEqual({ path, query, status: 400 });
			}
		}
		const body = { code: planCode("nope"), name: "Nope", interval: "month", amount: 1, currency: "USD" };
		const writes: Array<[string, string, Record<string, unknown>?]> = [
			["post", "/plans", body],
			["put", `/plans/${planCode("steady")}`, { amount: 1 }],
			["post", `/plans/${planCode("steady")}/archive`, {}],
			["delete", `/plans/${planCode("steady")}`],
			["get", `/plans/${planCode("steady")}/versions`],
			["get", "/billable-metrics"],
			["post", "/billable-metrics", { code: metricCode("nope"), name: "x", aggregation: "count" }],
			["get", `/billable-metrics/${metricCode("calls")}`],
			["put", `/billable-metrics/${metricCode("calls")}`, { name: "x" }],
			["delete", `/billable-metrics/${metricCode("calls")}`],
			["get", "/coupons"],
			["post", "/coupons", { code: couponCode("nope"), name: "x", percentOffBasisPoints: 100, duration: "once" }],
			["get", `/coupons/${couponCode("nope")}`],
			["delete", `/coupons/${couponCode("nope")}`],
		];
		for (const [method, path, payload] of writes) {
			const call = (token?: string) => (method === "get" || method === "delete" ? api[method](path, { token }) : api[method as "post" | "put"](path, payload, { token }));
			expect({ method, path, status: (await call()).status }).toEqual({ method, path, status: 401 });
			expect({ method, path, status: (await call(user.accessToken)).status }).toEqual({ method, path, status: 403 });
		}
		expect((await api.get(`/plans/${planCode("steady")}`, { token: adminToken })).body).toMatchObject({ version: 1, name: `Plan ${planCode("steady")}` });
		expect((await api.get(`/billable-metrics/${metricCode("calls")}`, { token: adminToken })).status).toBe(200);
	});
});

describe("coupons", () => {
	it("creates percent and fixed-amount coupons; codes are matched without regard to case", async () => {
		const percent = await api.post<PublicCoupon>(
			"/coupons",
			{ code: couponCode("half").toLowerCase(), name: "Half off", percentOffBasisPoints: 5000, duration: "repeating", durationPeriods: 3, maxRedemptions: 100 },
			{ token: adminToken },
		);
		expect(percent.status).toBe(201);
		expect(percent.headers.get("location")).toBe(`/api/v1/coupons/${couponCode("half")}`);
		expect(percent.body).toMatchObject({ code: couponCode("half"), percentOffBasisPoints: 5000, amountOff: null, currency: null, duration: "repeating", durationPeriods: 3, maxRedemptions: 100, timesRedeemed: 0, expiresAt: null, status: "active" });
		const fixed = await api.post<PublicCoupon>("/coupons", { code: couponCode("tenner"), name: "10 off", amountOff: 1000, currency: "eur", duration: "forever" }, { token: adminToken });
		expect(fixed.status).toBe(201);
		expect(fixed.body).toMatchObject({ amountOff: 1000, currency: "EUR", percentOffBasisPoints: null, duration: "forever", durationPeriods: null });
		expect((await api.get<PublicCoupon>(`/coupons/${couponCode("half").toLowerCase()}`, { token: adminToken })).body.id).toBe(percent.body.id);
		const duplicate = await api.post<Problem>("/coupons", { code: couponCode("HALF"), name: "Again", percentOffBasisPoints: 1, duration: "once" }, { token: adminToken });
		expect(duplicate.status).toBe(409);
		const listed = await api.get<Page<PublicCoupon>>("/coupons?status=active&pageSize=100", { token: adminToken });
		expect(listed.status).toBe(200);
		expect(listed.body.rows.every((coupon) => coupon.status === "active")).toBe(true);
	});

	it("answers 400 naming the field for a coupon that doesn't add up", async () => {
		const valid = () => ({ code: couponCode(`c${Math.random().toString(36).slice(2, 8)}`), name: "x", percentOffBasisPoints: 1000, duration: "once" });
		const cases: Array<[Record<string, unknown>, string]> = [
			[{ amountOff: 100, currency: "USD" }, "percentOffBasisPoints"],
			[{ percentOffBasisPoints: undefined }, "percentOffBasisPoints"],
			[{ percentOffBasisPoints: undefined, amountOff: 100 }, "currency"],
			[{ currency: "USD" }, "currency"],
			[{ percentOffBasisPoints: 10_001 }, "percentOffBasisPoints"],
			[{ percentOffBasisPoints: 0 }, "percentOffBasisPoints"],
			[{ percentOffBasisPoints: undefined, amountOff: 0, currency: "USD" }, "amountOff"],
			[{ duration: "repeating" }, "durationPeriods"],
			[{ durationPeriods: 2 }, "durationPeriods"],
			[{ duration: "sometimes" }, "duration"],
			[{ maxRedemptions: 0 }, "maxRedemptions"],
			[{ expiresAt: "2001-01-01T00:00:00Z" }, "expiresAt"],
			[{ expiresAt: "not a date" }, "expiresAt"],
			[{ code: "has spaces" }, "code"],
			[{ name: null }, "name"],
		];
		for (const [extra, field] of cases) {
			const body = JSON.parse(JSON.stringify({ ...valid(), ...extra })) as Record<string, unknown>;
			const response = await api.post<Problem>("/coupons", body, { token: adminToken });
			expect({ extra, status: response.status }).toEqual({ extra, status: 400 });
			expect({ extra, fields: response.body.errors?.map((error) => error.field) }).toEqual({ extra, fields: expect.arrayContaining([field]) });
		}
	});

	it("counts redemptions atomically up to the maximum, and refuses expired, archived, unknown and other-currency redemptions (422 COUPON_INVALID)", async () => {
		await api.post("/coupons", { code: couponCode("twice"), name: "Twice", percentOffBasisPoints: 1000, duration: "once", maxRedemptions: 2 }, { token: adminToken });
		const attempts = await Promise.allSettled(Array.from({ length: 6 }, () => redeem(couponCode("twice"))));
		expect(attempts.filter((attempt) => attempt.status === "fulfilled")).toHaveLength(2);
		for (const attempt of attempts.filter((item): item is PromiseRejectedResult => item.status === "rejected")) {
			expect(attempt.reason).toMatchObject({ code: 422, type: "COUPON_INVALID", data: { reason: "exhausted" } });
		}
		expect((await api.get<PublicCoupon>(`/coupons/${couponCode("twice")}`, { token: adminToken })).body.timesRedeemed).toBe(2);

		const soon = new Date(Date.now() + 3_600_000).toISOString();
		await api.post("/coupons", { code: couponCode("soon"), name: "Soon gone", amountOff: 500, currency: "USD", duration: "once", expiresAt: soon }, { token: adminToken });
		expect(await redeem(couponCode("soon").toLowerCase(), "usd")).toMatchObject({ timesRedeemed: 1 });
		await expect(redeem(couponCode("soon"), "USD", new Date(Date.now() + 7_200_000).toISOString())).rejects.toMatchObject({ code: 422, data: { reason: "expired" } });
		await expect(redeem(couponCode("soon"), "EUR")).rejects.toMatchObject({ code: 422, data: { reason: "currency_mismatch" } });
		await expect(redeem(couponCode("nosuch"))).rejects.toMatchObject({ code: 422, data: { reason: "unknown" } });
		// A percentage applies in any currency.
		expect(await redeem(couponCode("half"), "JPY")).toMatchObject({ timesRedeemed: 1 });

		expect((await api.delete(`/coupons/${couponCode("soon")}`, { token: adminToken })).status).toBe(204);
		expect((await api.delete(`/coupons/${couponCode("soon")}`, { token: adminToken })).status).toBe(204);
		expect((await api.get<PublicCoupon>(`/coupons/${couponCode("soon")}`, { token: adminToken })).body).toMatchObject({ status: "archived", timesRedeemed: 1 });
		await expect(redeem(couponCode("soon"))).rejects.toMatchObject({ code: 422, data: { reason: "archived" } });
		expect((await api.get(`/coupons/${couponCode("nosuch")}`, { token: adminToken })).status).toBe(404);
		expect((await api.delete(`/coupons/${couponCode("nosuch")}`, { token: adminToken })).status).toBe(404);
		// Not a platform call: refused.
		await expect(node.broker.call("plans.redeemCoupon", { code: couponCode("half"), currency: "USD" }, { meta: { user: { id: user.user.id, persona: "end_user" }, persona: "end_user" } })).rejects.toMatchObject({ code: 403 });
	});
});

describe("tenants' limits without a billing service", () => {
	it("are the free plan's, with the tenant's overrides on top", async () => {
		const limits = await api.get<{ plan: string; subscriptionStatus: string | null; limits: Record<string, number> }>(`/tenants/${user.tenant.id}/limits`, { token: user.accessToken });
		expect(limits.status).toBe(200);
		expect(limits.body).toEqual({ plan: "free", subscriptionStatus: null, limits: { ...FREE_PLAN_LIMITS } });
		const check = (current: number) => node.broker.call<{ allowed: boolean; maximum: number }, object>("tenants.checkLimit", { tenantId: user.tenant.id, limit: "webhookEndpoints", current }, systemCall());
		expect(await check(2)).toMatchObject({ allowed: true, maximum: FREE_PLAN_LIMITS.webhookEndpoints });
		expect(await check(3)).toMatchObject({ allowed: false });

		const overridden = await node.broker.call<{ limits: Record<string, number> }, object>("tenants.setLimitOverrides", { tenantId: user.tenant.id, limits: { webhookEndpoints: 10 } }, systemCall());
		expect(overridden.limits.webhookEndpoints).toBe(10);
		expect(await check(3)).toMatchObject({ allowed: true, maximum: 10 });
		expect((await api.get<{ limits: Record<string, number> }>(`/tenants/${user.tenant.id}/limits`, { token: user.accessToken })).body.limits).toMatchObject({ webhookEndpoints: 10, members: FREE_PLAN_LIMITS.members });
		await node.broker.call("tenants.setLimitOverrides", { tenantId: user.tenant.id, limits: {} }, systemCall());
		expect(await check(3)).toMatchObject({ allowed: false });

		await expect(node.broker.call("tenants.checkLimit", { tenantId: user.tenant.id, limit: "screenshotJobsPerMonth", current: 0 }, systemCall())).rejects.toMatchObject({ code: 422, type: "UNKNOWN_LIMIT" });
		await expect(node.broker.call("tenants.setLimitOverrides", { tenantId: user.tenant.id, limits: { nosuch: 1 } }, systemCall())).rejects.toMatchObject({ code: 422 });
		await expect(
			node.broker.call("tenants.setLimitOverrides", { tenantId: user.tenant.id, limits: { members: 100 } }, { meta: { user: { id: user.user.id, persona: "end_user" }, persona: "end_user", tenantId: user.tenant.id, role: "owner" } }),
		).rejects.toMatchObject({ code: 403 });
	});

	it("refuses to delete a plan when no billing service can say whether it is in use (409 PLAN_IN_USE_UNKNOWN)", async () => {
		const plan = await createPlan(planCode("unknowable"));
		const refused = await api.delete<Problem>(`/plans/${plan.code}`, { token: adminToken });
		expect(refused.status).toBe(409);
		expect(refused.body.code).toBe("PLAN_IN_USE_UNKNOWN");
		expect((await api.get(`/plans/${plan.code}`)).status).toBe(200);
	});
});

describe("with a billing service (a stub here)", () => {
	const inUse = new Set<string>();
	const answers = new Map<string, TenantLimits>();
	let limitCalls = 0;

	beforeAll(async () => {
		node.broker.createService({
			name: "billing",
			actions: {
				plansInUse: {
					visibility: "public",
					handler: (ctx: Context<{ planIds: string[] }>) => ({ inUse: ctx.params.planIds.filter((id) => inUse.has(id)) }),
				},
				limits: {
					visibility: "public",
					handler: (ctx: Context<{ tenantId: string }>) => {
						limitCalls += 1;
						return answers.get(ctx.params.tenantId) ?? { tenantId: ctx.params.tenantId, planCode: "free", subscriptionStatus: null, limits: { ...FREE_PLAN_LIMITS }, features: {} };
					},
				},
			},
		});
		await node.broker.waitForServices(["billing"], 10_000);
	});

	it("deletes a plan no live subscription uses, every version of it; one in use is refused (409 PLAN_IN_USE)", async () => {
		const plan = await createPlan(planCode("deletable"), { amount: 100 });
		const second = (await api.put<PublicPlan>(`/plans/${plan.code}`, { amount: 200 }, { token: adminToken })).body;
		inUse.add(plan.id);
		const refused = await api.delete<Problem>(`/plans/${plan.code}`, { token: adminToken });
		expect(refused.status).toBe(409);
		expect(refused.body).toMatchObject({ code: "PLAN_IN_USE", planIds: [plan.id] });
		expect((await versionsOf(plan.code)).map((version) => version.id)).toEqual([second.id, plan.id]);
		// Archiving is what a plan in use gets.
		expect((await api.post<PublicPlan>(`/plans/${plan.code}/archive`, {}, { token: adminToken })).body.status).toBe("archived");
		inUse.delete(plan.id);
		expect((await api.delete(`/plans/${plan.code}`, { token: adminToken })).status).toBe(204);
		expect((await api.get(`/plans/${plan.code}`, { token: adminToken })).status).toBe(404);
		await expect(node.broker.call("plans.getVersion", { id: plan.id }, systemCall())).rejects.toMatchObject({ code: 404 });
		expect(planEvents).toContainEqual({ code: plan.code, change: "deleted", plan: null });
		// The code is free again.
		await createPlan(plan.code);
	});

	it("takes a tenant's limits from billing.limits, caches them per node, and forgets them when billing says they changed", async () => {
		const tenantId = user.tenant.id;
		answers.set(tenantId, { tenantId, planCode: planCode("pro"), subscriptionStatus: "active", limits: { ...FREE_PLAN_LIMITS, members: 25, storageBytes: -1 }, features: { sso: true } });
		node.broker.broadcast(BILLING_EVENTS.limitsChanged, { tenantId });
		await new Promise((resolve) => setTimeout(resolve, 100));
		const read = () => api.get<{ plan: string; subscriptionStatus: string | null; limits: Record<string, number> }>(`/tenants/${tenantId}/limits`, { token: user.accessToken });
		const first = await read();
		expect(first.body).toMatchObject({ plan: planCode("pro"), subscriptionStatus: "active", limits: { members: 25, storageBytes: -1, webhookEndpoints: FREE_PLAN_LIMITS.webhookEndpoints } });
		const storage = await node.broker.call<{ allowed: boolean; maximum: number }, object>("tenants.checkLimit", { tenantId, limit: "storageBytes", current: 10 * 1024 ** 4, increment: 1 }, systemCall());
		expect(storage).toMatchObject({ allowed: true, maximum: -1 });

		// Cached: billing isn't asked again, and a change billing hasn't announced isn't seen yet.
		const calls = limitCalls;
		answers.set(tenantId, { tenantId, planCode: "free", subscriptionStatus: "unpaid", limits: { ...FREE_PLAN_LIMITS }, features: {} });
		expect((await read()).body.plan).toBe(planCode("pro"));
		expect(limitCalls).toBe(calls);

		node.broker.broadcast(BILLING_EVENTS.limitsChanged, { tenantId });
		await new Promise((resolve) => setTimeout(resolve, 100));
		expect((await read()).body).toMatchObject({ plan: "free", subscriptionStatus: "unpaid", limits: { storageBytes: FREE_PLAN_LIMITS.storageBytes } });
		expect(limitCalls).toBe(calls + 1);
		const refused = await node.broker.call<{ allowed: boolean }, object>("tenants.checkLimit", { tenantId, limit: "storageBytes", current: FREE_PLAN_LIMITS.storageBytes, increment: 1 }, systemCall());
		expect(refused.allowed).toBe(false);

		// Overrides still go on top of billing's answer; a plan change forgets every tenant's cached limits.
		await node.broker.call("tenants.setLimitOverrides", { tenantId, limits: { storageBytes: -1 } }, systemCall());
		expect((await read()).body.limits.storageBytes).toBe(-1);
		await node.broker.call("tenants.setLimitOverrides", { tenantId, limits: {} }, systemCall());
		answers.set(tenantId, { tenantId, planCode: planCode("pro"), subscriptionStatus: "active", limits: { members: 30 }, features: {} });
		await api.put(`/plans/${planCode("pro")}`, { description: "Changed" }, { token: adminToken });
		await new Promise((resolve) => setTimeout(resolve, 100));
		expect((await read()).body.limits).toMatchObject({ members: 30, apiKeys: FREE_PLAN_LIMITS.apiKeys });
	});
});
