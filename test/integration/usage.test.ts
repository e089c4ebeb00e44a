/**
 * Usage metering through the gateway: tokens and API keys, batches up to 1,000, replays counted once,
 * all-or-nothing validation (unknown metrics, events too old or in the future, null and unknown fields),
 * GET /usage priced per charge, the aggregation of each kind, limit checks, the test clock, and storage
 * metered by the files service.
 *
 * The metric registry (`plans.metrics`) and the billing clock and period (`billing.currentPlan`, `billing.now`)
 * belong to services of this domain that this node doesn't run: small stand-ins below answer for them, with
 * a plan and a period per tenant the tests set.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceBroker } from "moleculer";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { systemCall } from "../../lib/caller";
import { BILLING_EVENTS, STORAGE_METRIC, type CurrentPlan, type MeteredCharge, type PublicMetric, type PublicPlan, type UsageLimitCheck, type UsageSummary } from "../../services/billing/contracts";

const PASSWORD = "correct horse battery";
const DAY_MS = 86_400_000;
const GRACE_SECONDS = 3600;

interface Session {
	accessToken: string;
	user: { id: string; email: string };
	tenant: { id: string };
}

interface RecordResult {
	accepted: number;
	recorded: number;
	duplicates: number;
}

interface Problem {
	code: string;
	detail?: string;
	errors?: Array<{ field: string; type: string }>;
	[key: string]: unknown;
}

const metric = (code: string, aggregation: PublicMetric["aggregation"], field: string | null = null): PublicMetric => ({
	code,
	name: code,
	description: "",
	aggregation,
	field,
	createdAt: new Date(0).toISOString(),
	updatedAt: new Date(0).toISOString(),
});

const metrics: PublicMetric[] = [
	metric("api_calls", "count"),
	metric("bytes_sent", "sum"),
	metric("seats", "max"),
	metric("active_users", "unique_count", "user"),
	metric("payload_bytes", "sum", "bytes"),
	metric(STORAGE_METRIC, "max"),
];
let metricsAsked = 0;

const CHARGES: MeteredCharge[] = [
	{ metric: "api_calls", model: "per_unit", freeUnits: 100, unitAmount: 2, hardLimit: 1_000 },
	{ metric: "bytes_sent", model: "package", freeUnits: 0, packageSize: 1_000, packageAmount: 50 },
	{
		metric: "seats",
		model: "graduated",
		freeUnits: 1,
		tiers: [
			{ upTo: 5, unitAmount: 1_000, flatAmount: 0 },
			{ upTo: null, unitAmount: 800, flatAmount: 500 },
		],
	},
	{ metric: "active_users", model: "per_unit", freeUnits: 0, unitAmount: 100 },
	{ metric: STORAGE_METRIC, model: "per_unit", freeUnits: 1_000, unitAmount: 1, hardLimit: 100_000 },
];

const PLAN: PublicPlan = {
	id: randomUUID(),
	code: "pro",
	version: 1,
	name: "Pro",
	description: "",
	interval: "month",
	amount: 4_900,
	currency: "EUR",
	trialDays: 0,
	limits: {},
	features: {},
	charges: CHARGES,
	taxRateBasisPoints: null,
	status: "active",
	createdAt: new Date(0).toISOString(),
};

/** Each tenant's billing clock offset and period, as the billing engine would hold them. */
const clocks = new Map<string, { offsetMs: number; periodStart: number; periodEnd: number }>();

function clockOf(tenantId: string) {
	let clock = clocks.get(tenantId);
	if (!clock) {
		const now = Date.now();
		clock = { offsetMs: 0, periodStart: now - 10 * DAY_MS, periodEnd: now + 20 * DAY_MS };
		clocks.set(tenantId, clock);
	}
	return clock;
}

let node: RunningNode;
let api: ApiClient;
let broker: ServiceBroker;

async function register(label: string): Promise<Session> {
	const response = await api.post<Session>("/auth/register", { email: uniqueEmail(label), password: PASSWORD, fullName: `${label} Tester`, organization: `${label} Inc` }, { ip: uniqueIp() });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function apiKey(token: string, scopes: string[]): Promise<string> {
	const created = await api.post<{ key: string }>("/api-keys", { name: `usage ${scopes.join(" ")}`, scopes }, { token });
	expect(created.status, JSON.stringify(created.body)).toBe(201);
	return created.body.key;
}

/** A token of `owner`'s tenant with another role: a second user joins it (as the invitation flow would) and switches into it. */
async function memberToken(owner: Session, role: "admin" | "member" | "viewer"): Promise<string> {
	const joiner = await register(`joiner-${role}`);
	await sql("INSERT INTO tenants.memberships (id, tenant_id, user_id, role, created_at, updated_at) VALUES ($1, $2, $3, $4, now(), now())", [randomUUID(), owner.tenant.id, joiner.user.id, role]);
	const switched = await api.post<{ accessToken: string }>("/auth/switch-tenant", { tenantId: owner.tenant.id }, { token: joiner.accessToken });
	expect(switched.status, JSON.stringify(switched.body)).toBe(200);
	return switched.body.accessToken;
}

function events(count: number, make: (index: number) => Record<string, unknown> = () => ({ metric: "api_calls" })): Array<Record<string, unknown>> {
	const prefix = randomUUID();
	return Array.from({ length: count }, (_, index) => ({ transactionId: `${prefix}-${index}`, ...make(index) }));
}

async function stored(tenantId: string, transactionIds?: string[]): Promise<Array<{ transaction_id: string; metric: string; value: string; occurred_at: Date; properties: Record<string, unknown> }>> {
	if (transactionIds) return sql("SELECT * FROM usage.usage_events WHERE tenant_id = $1 AND transaction_id = ANY($2)", [tenantId, transactionIds]);
	return sql("SELECT * FROM usage.usage_events WHERE tenant_id = $1", [tenantId]);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
	const started = Date.now();
	while (Date.now() - started < timeoutMs) {
		const value = await probe();
		if (value !== undefined) return value;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	throw new Error(`Timed out waiting for ${what}`);
}

beforeAll(async () => {
	node = await startNode({ SERVICES: "gateway,identity,files,billing/usage", TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000", BILLING_USAGE_GRACE_SECONDS: String(GRACE_SECONDS) });
	api = apiClient(node.url);
	broker = node.broker;
	// Stand-ins for the plans service's registry and the billing engine's clock and current plan.
	broker.createService({
		name: "plans",
		actions: {
			metrics: {
				handler() {
					metricsAsked += 1;
					return metrics;
				},
			},
		},
	});
	broker.createService({
		name: "billing",
		actions: {
			currentPlan: {
				params: { tenantId: "uuid" },
				handler(ctx): CurrentPlan {
					const clock = clockOf((ctx.params as { tenantId: string }).tenantId);
					return { plan: PLAN, periodStart: new Date(clock.periodStart).toISOString(), periodEnd: new Date(clock.periodEnd).toISOString(), now: new Date(Date.now() + clock.offsetMs).toISOString() };
				},
			},
			now: {
				params: { tenantId: "uuid" },
				handler(ctx) {
					return { now: new Date(Date.now() + clockOf((ctx.params as { tenantId: string }).tenantId).offsetMs).toISOString() };
				},
			},
		},
	});
	await broker.waitForServices(["plans", "billing", "usage"]);
});

afterAll(async () => {
	await node?.stop();
});

describe("recording usage events", () => {
	it("records one event with a tenant admin's token, stamped with the tenant's billing time", async () => {
		const owner = await register("meter");
		const before = Date.now();
		const response = await api.post<RecordResult>("/usage-events", { transactionId: "first", metric: "api_calls" }, { token: owner.accessToken });
		expect(response.status, JSON.stringify(response.body)).toBe(202);
		expect(response.body).toEqual({ accepted: 1, recorded: 1, duplicates: 0 });
		const [row] = await stored(owner.tenant.id);
		expect(row).toMatchObject({ transaction_id: "first", metric: "api_calls", value: "1", properties: {} });
		expect(row.occurred_at.getTime()).toBeGreaterThanOrEqual(before - 5);
		expect(row.occurred_at.getTime()).toBeLessThanOrEqual(Date.now() + 5);

		// Given fields are kept as sent.
		const at = new Date(Date.now() - 3_600_000).toISOString();
		const full = await api.post<RecordResult>("/usage-events", { transactionId: "second", metric: "bytes_sent", value: 512, timestamp: at, properties: { region: "eu", nested: { a: [1, 2] } } }, { token: owner.accessToken });
		expect(full.status).toBe(202);
		const [second] = await stored(owner.tenant.id, ["second"]);
		expect(second).toMatchObject({ metric: "bytes_sent", value: "512", properties: { region: "eu", nested: { a: [1, 2] } } });
		expect(second.occurred_at.toISOString()).toBe(at);
	});

	it("takes a batch of 1,000 from an API key with usage:write; a replay is accepted and not counted twice", async () => {
		const owner = await register("batch");
		const key = await apiKey(owner.accessToken, ["usage:write"]);
		const batch = events(1_000, (index) => ({ metric: index % 2 === 0 ? "api_calls" : "bytes_sent", value: index, properties: { n: index } }));
		const first = await api.post<RecordResult>("/usage-events", { events: batch }, { apiKey: key });
		expect(first.status, JSON.stringify(first.body)).toBe(202);
		expect(first.body).toEqual({ accepted: 1_000, recorded: 1_000, duplicates: 0 });
		expect(await stored(owner.tenant.id)).toHaveLength(1_000);

		const replay = await api.post<RecordResult>("/usage-events", { events: batch }, { apiKey: key });
		expect(replay.status).toBe(202);
		expect(replay.body).toEqual({ accepted: 1_000, recorded: 0, duplicates: 1_000 });

		// Half replays, half new, and a repeat inside the batch: each transaction counts once.
		const fresh = events(3);
		const mixed = await api.post<RecordResult>("/usage-events", { events: [...batch.slice(0, 2), ...fresh, fresh[0], { ...fresh[1], metric: "bytes_sent", value: 99 }] }, { apiKey: key });
		expect(mixed.body).toEqual({ accepted: 7, recorded: 3, duplicates: 4 });
		expect(await stored(owner.tenant.id)).toHaveLength(1_003);
		// The first of a repeated transaction wins.
		expect((await stored(owner.tenant.id, [String(fresh[1].transactionId)]))[0]).toMatchObject({ metric: "api_calls", value: "1" });

		const tooMany = await api.post<Problem>("/usage-events", { events: events(1_001) }, { apiKey: key });
		expect(tooMany.status).toBe(400);
		expect(await stored(owner.tenant.id)).toHaveLength(1_003);
	});

	it("admits tenant admins and owners, and API keys holding the scope; nobody else", async () => {
		const owner = await register("gate");
		const admin = await memberToken(owner, "admin");
		const member = await memberToken(owner, "member");
		const viewer = await memberToken(owner, "viewer");
		const send = (options: { token?: string; apiKey?: string }) => api.post<Problem>("/usage-events", { transactionId: randomUUID(), metric: "api_calls" }, options);

		expect((await send({ token: admin })).status).toBe(202);
		expect((await send({ token: member })).status).toBe(403);
		expect((await send({ token: viewer })).status).toBe(403);
		expect((await send({})).status).toBe(401);
		expect((await send({ apiKey: await apiKey(owner.accessToken, ["*"]) })).status).toBe(202);
		expect((await send({ apiKey: await apiKey(owner.accessToken, ["usage:*"]) })).status).toBe(202);
		const readOnly = await send({ apiKey: await apiKey(owner.accessToken, ["usage:read"]) });
		expect(readOnly.status).toBe(403);
		expect(readOnly.body.code).toBe("SCOPE_REQUIRED");
		expect(await stored(owner.tenant.id)).toHaveLength(3);

		// Viewers (and keys with usage:read) read the usage; keys without it don't.
		expect((await api.get("/usage", { token: viewer })).status).toBe(200);
		expect((await api.get("/usage", { apiKey: await apiKey(owner.accessToken, ["usage:read"]) })).status).toBe(200);
		expect((await api.get("/usage", { apiKey: await apiKey(owner.accessToken, ["usage:write"]) })).status).toBe(403);
		expect((await api.get("/usage", {})).status).toBe(401);
	});

	it("refuses a whole batch that names an unknown metric, listing the unknown codes, and stores nothing", async () => {
		const owner = await register("unknown");
		const batch = [...events(3), { transactionId: "x1", metric: "no_such_metric" }, { transactionId: "x2", metric: "nor_this" }, { transactionId: "x3", metric: "no_such_metric" }];
		const refused = await api.post<Problem>("/usage-events", { events: batch }, { token: owner.accessToken });
		expect(refused.status).toBe(422);
		expect(refused.body).toMatchObject({ code: "UNKNOWN_METRIC", metrics: ["no_such_metric", "nor_this"] });
		expect(await stored(owner.tenant.id)).toHaveLength(0);
		const single = await api.post<Problem>("/usage-events", { transactionId: "y", metric: "Api_Calls" }, { token: owner.accessToken });
		expect(single.status).toBe(422);
		expect(single.body.code).toBe("UNKNOWN_METRIC");
		expect(await stored(owner.tenant.id)).toHaveLength(0);
	});

	it("refuses events older than the period's start minus the grace period, or more than 5 minutes ahead", async () => {
		const owner = await register("window");
		const clock = clockOf(owner.tenant.id);
		const iso = (ms: number) => new Date(ms).toISOString();
		const early = iso(clock.periodStart - GRACE_SECONDS * 1000 - 1_000);
		const tooOld = await api.post<Problem>("/usage-events", { events: [...events(2), { transactionId: "old", metric: "api_calls", timestamp: early }] }, { token: owner.accessToken });
		expect(tooOld.status).toBe(422);
		expect(tooOld.body).toMatchObject({ code: "USAGE_TOO_OLD", index: 2, transactionId: "old", earliest: iso(clock.periodStart - GRACE_SECONDS * 1000) });
		const ahead = await api.post<Problem>("/usage-events", { events: [...events(2), { transactionId: "ahead", metric: "api_calls", timestamp: iso(Date.now() + 6 * 60_000) }] }, { token: owner.accessToken });
		expect(ahead.status).toBe(422);
		expect(ahead.body).toMatchObject({ code: "USAGE_IN_FUTURE", transactionId: "ahead" });
		expect(await stored(owner.tenant.id)).toHaveLength(0);

		// Within the grace period (late events of the previous period) and within the clock skew: taken.
		const accepted = await api.post<RecordResult>(
			"/usage-events",
			{
				events: [
					{ transactionId: "late", metric: "api_calls", timestamp: iso(clock.periodStart - GRACE_SECONDS * 1000 + 60_000) },
					{ transactionId: "soon", metric: "api_calls", timestamp: iso(Date.now() + 4 * 60_000) },
					{ transactionId: "offset", metric: "api_calls", timestamp: "2026-01-01T12:00:00.123456+05:30".replace("2026-01-01", iso(Date.now() - DAY_MS).slice(0, 10)) },
				],
			},
			{ token: owner.accessToken },
		);
		expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
		expect(accepted.body.recorded).toBe(3);
	});

	it("refuses null in optional fields, unknown fields and malformed values, storing nothing", async () => {
		const owner = await register("strict");
		const base = { transactionId: "t", metric: "api_calls" };
		const refusals: Array<[unknown, string]> = [
			[{ ...base, value: null }, "value"],
			[{ ...base, timestamp: null }, "timestamp"],
			[{ ...base, properties: null }, "properties"],
			[{ events: [{ ...base, properties: null }] }, "events[0].properties"],
			[{ events: null }, "events"],
			[{ ...base, transactionId: null }, "transactionId"],
			[{ ...base, valeu: 3 }, ""],
			[{ ...base, value: -1 }, "value"],
			[{ ...base, value: 1.5 }, "value"],
			[{ ...base, value: "3" }, "value"],
			[{ ...base, value: 2 ** 60 }, "value"],
			[{ ...base, timestamp: "yesterday" }, "timestamp"],
			[{ ...base, timestamp: "2026-01-01T00:00:00" }, "timestamp"],
			[{ ...base, properties: [1, 2] }, "properties"],
			[{ ...base, transactionId: "" }, "transactionId"],
			[{ ...base, transactionId: "x".repeat(201) }, "transactionId"],
			[{ events: [] }, "events"],
			[{ events: [base], ...base }, ""],
			[{}, ""],
		];
		for (const [body, field] of refusals) {
			const response = await api.post<Problem>("/usage-events", body, { token: owner.accessToken });
			expect(response.status, `${JSON.stringify(body)} → ${JSON.stringify(response.body)}`).toBe(400);
			if (field) expect(response.body.errors?.map((error) => error.field), JSON.stringify(body)).toContain(field);
		}
		// Values only PostgreSQL can judge: a NUL character, a day February doesn't have.
		for (const event of [{ ...base, transactionId: "nul\u0000" }, { ...base, properties: { a: "\u0000" } }, { ...base, timestamp: `${new Date().getUTCFullYear()}-02-30T00:00:00Z` }]) {
			const response = await api.post<Problem>("/usage-events", { events: [...events(2), event] }, { token: owner.accessToken });
			expect(response.status, `${JSON.stringify(event)} → ${JSON.stringify(response.body)}`).toBe(400);
		}
		expect(await stored(owner.tenant.id)).toHaveLength(0);
	});

	it("reads a metric's value from the property it names, and refuses events without it", async () => {
		const owner = await register("field");
		const missing = await api.post<Problem>("/usage-events", { events: [{ transactionId: "p1", metric: "payload_bytes", properties: { bytes: 10 } }, { transactionId: "p2", metric: "payload_bytes", properties: { bytes: "10" } }] }, { token: owner.accessToken });
		expect(missing.status).toBe(422);
		expect(missing.body).toMatchObject({ code: "INVALID_USAGE_VALUE", index: 1, field: "bytes" });
		expect(await stored(owner.tenant.id)).toHaveLength(0);
		const taken = await api.post<RecordResult>("/usage-events", { events: [{ transactionId: "p1", metric: "payload_bytes", value: 1, properties: { bytes: 10 } }, { transactionId: "p2", metric: "payload_bytes", properties: { bytes: 32 } }] }, { token: owner.accessToken });
		expect(taken.status).toBe(202);
		expect((await stored(owner.tenant.id)).map((row) => row.value).sort()).toEqual(["10", "32"]);
	});

	it("finds a metric created after the registry was cached once the plans service announces the change", async () => {
		const owner = await register("registry");
		expect((await api.post<Problem>("/usage-events", { transactionId: "n1", metric: "screenshots" }, { token: owner.accessToken })).status).toBe(422);
		metrics.push(metric("screenshots", "count"));
		try {
			// What the plans service's DbMixin broadcasts on every change.
			await broker.broadcast("cache.clean.plans");
			const asked = metricsAsked;
			await waitFor("the new metric", async () => {
				const response = await api.post<RecordResult>("/usage-events", { transactionId: "n1", metric: "screenshots" }, { token: owner.accessToken });
				return response.status === 202 ? response : undefined;
			});
			expect(metricsAsked).toBeGreaterThan(asked);
			// Cached again: further events ask the registry nothing.
			const settled = metricsAsked;
			for (let index = 0; index < 5; index += 1) await api.post("/usage-events", { transactionId: `n${index + 2}`, metric: "screenshots" }, { token: owner.accessToken });
			expect(metricsAsked).toBe(settled);
		} finally {
			metrics.pop();
			await broker.broadcast("cache.clean.plans");
		}
	});

	it("records for services through usage.record, within the caller's own tenant unless it is platform work", async () => {
		const owner = await register("internal");
		const other = await register("other");
		const result = await broker.call("usage.record", { tenantId: owner.tenant.id, events: events(3) }, systemCall());
		expect(result).toEqual({ accepted: 3, recorded: 3, duplicates: 0 });
		await expect(broker.call("usage.record", { tenantId: owner.tenant.id, events: events(1) }, { meta: { tenantId: other.tenant.id, role: "owner", user: { id: other.user.id, persona: "end_user" } } })).rejects.toMatchObject({
			code: 403,
			type: "TENANT_MISMATCH",
		});
		await expect(broker.call("usage.record", { tenantId: owner.tenant.id, events: [{ transactionId: "u", metric: "nope" }] }, systemCall())).rejects.toMatchObject({ code: 422, type: "UNKNOWN_METRIC" });
		expect(await stored(owner.tenant.id)).toHaveLength(3);
	});
});

describe("aggregation and GET /usage", () => {
	it("aggregates each kind over [from, to): count, sum, max (from the level the period began at) and unique_count", async () => {
		const owner = await register("aggregate");
		const tenantId = owner.tenant.id;
		const clock = clockOf(tenantId);
		const at = (offsetMs: number) => new Date(clock.periodStart + offsetMs).toISOString();
		const before = (offsetMs: number) => new Date(clock.periodStart - offsetMs).toISOString();
		const batch = [
			// Before the period (within the grace period): counted in the previous one; the last seats level carries over.
			{ transactionId: "b1", metric: "api_calls", timestamp: before(60_000) },
			{ transactionId: "b2", metric: "seats", value: 9, timestamp: before(120_000) },
			{ transactionId: "b3", metric: "seats", value: 4, timestamp: before(60_000) },
			// The period starts inclusive.
			{ transactionId: "c1", metric: "api_calls", timestamp: at(0) },
			{ transactionId: "c2", metric: "api_calls", timestamp: at(1_000) },
			{ transactionId: "c3", metric: "api_calls", timestamp: at(2_000) },
			{ transactionId: "s1", metric: "bytes_sent", value: 700, timestamp: at(0) },
			{ transactionId: "s2", metric: "bytes_sent", value: 800, timestamp: at(1_000) },
			{ transactionId: "m1", metric: "seats", value: 3, timestamp: at(1_000) },
			{ transactionId: "u1", metric: "active_users", properties: { user: "ann" }, timestamp: at(0) },
			{ transactionId: "u2", metric: "active_users", properties: { user: "bob" }, timestamp: at(1_000) },
			{ transactionId: "u3", metric: "active_users", properties: { user: "ann" }, timestamp: at(2_000) },
			{ transactionId: "u4", metric: "active_users", properties: { other: "cy" }, timestamp: at(2_000) },
		];
		expect((await api.post("/usage-events", { events: batch }, { token: owner.accessToken })).status).toBe(202);

		const from = new Date(clock.periodStart).toISOString();
		const to = new Date(clock.periodStart + 2_000).toISOString();
		const quantities = await broker.call("usage.aggregate", { tenantId, from, to }, systemCall());
		// `to` is exclusive: events at +2 s are not in it. Seats: the level was 4 when the period began, 3 within it.
		expect(quantities).toEqual({ api_calls: 2, bytes_sent: 1_500, seats: 4, active_users: 2, payload_bytes: 0, [STORAGE_METRIC]: 0 });
		const later = await broker.call("usage.aggregate", { tenantId, from, to: new Date(clock.periodStart + 3_000).toISOString(), metrics: ["api_calls", "active_users"] }, systemCall());
		expect(later).toEqual({ api_calls: 3, active_users: 2 });
		const previous = await broker.call("usage.aggregate", { tenantId, from: before(DAY_MS), to: from, metrics: ["api_calls", "seats"] }, systemCall());
		expect(previous).toEqual({ api_calls: 1, seats: 9 });

		await expect(broker.call("usage.aggregate", { tenantId, from, to, metrics: ["nope"] }, systemCall())).rejects.toMatchObject({ code: 422, type: "UNKNOWN_METRIC" });
		await expect(broker.call("usage.aggregate", { tenantId, from: to, to: from }, systemCall())).rejects.toMatchObject({ code: 400 });
		// Another tenant's events are never counted.
		const stranger = await register("stranger");
		expect(await broker.call("usage.aggregate", { tenantId: stranger.tenant.id, from, to, metrics: ["api_calls"] }, systemCall())).toEqual({ api_calls: 0 });
	});

	it("answers the current period's quantities priced by the plan's charges", async () => {
		const owner = await register("summary");
		const tenantId = owner.tenant.id;
		const clock = clockOf(tenantId);
		const key = await apiKey(owner.accessToken, ["usage:write"]);
		const batch = [
			...events(250, () => ({ metric: "api_calls" })),
			...events(3, (index) => ({ metric: "bytes_sent", value: [1_000, 1_000, 1][index] })),
			{ transactionId: "seat-1", metric: "seats", value: 7 },
			{ transactionId: "seat-2", metric: "seats", value: 2 },
			...events(30, (index) => ({ metric: "active_users", properties: { user: `u${index % 12}` } })),
			// Before the period: not in this one.
			{ transactionId: "old-call", metric: "api_calls", timestamp: new Date(clock.periodStart - 1_000).toISOString() },
		];
		expect((await api.post("/usage-events", { events: batch }, { apiKey: key })).status).toBe(202);

		const usage = await api.get<UsageSummary>("/usage", { token: owner.accessToken });
		expect(usage.status, JSON.stringify(usage.body)).toBe(200);
		expect(usage.body).toMatchObject({ tenantId, periodStart: new Date(clock.periodStart).toISOString(), periodEnd: new Date(clock.periodEnd).toISOString(), currency: "EUR" });
		const byMetric = Object.fromEntries(usage.body.metrics.map((item) => [item.metric, item]));
		expect(byMetric).toEqual({
			// 250 calls, 100 free, 2 each.
			api_calls: { metric: "api_calls", aggregation: "count", quantity: 250, included: 100, billable: 150, estimatedAmount: 300, hardLimit: 1_000 },
			// 2,001 bytes: three started packages of 1,000 at 50.
			bytes_sent: { metric: "bytes_sent", aggregation: "sum", quantity: 2_001, included: 0, billable: 2_001, estimatedAmount: 150, hardLimit: null },
			// The most seats at once: 7, one free; 5 at 10.00 (the first tier ends at 5), 1 at 8.00 plus the tier's 5.00.
			seats: { metric: "seats", aggregation: "max", quantity: 7, included: 1, billable: 6, estimatedAmount: 5 * 1_000 + 800 + 500, hardLimit: null },
			active_users: { metric: "active_users", aggregation: "unique_count", quantity: 12, included: 0, billable: 12, estimatedAmount: 1_200, hardLimit: null },
			[STORAGE_METRIC]: { metric: STORAGE_METRIC, aggregation: "max", quantity: 0, included: 1_000, billable: 0, estimatedAmount: 0, hardLimit: 100_000 },
		});
	});

	it("checks hard limits: the period's quantity plus the increment, and a max metric's current level", async () => {
		const owner = await register("limits");
		const tenantId = owner.tenant.id;
		await broker.call("usage.record", { tenantId, events: events(995) }, systemCall());
		const check = (metricCode: string, increment: number) => broker.call<UsageLimitCheck, object>("usage.checkLimit", { tenantId, metric: metricCode, increment }, systemCall());
		expect(await check("api_calls", 5)).toEqual({ allowed: true, metric: "api_calls", quantity: 995, hardLimit: 1_000 });
		expect(await check("api_calls", 6)).toEqual({ allowed: false, metric: "api_calls", quantity: 995, hardLimit: 1_000 });
		expect(await check("bytes_sent", 1e9)).toEqual({ allowed: true, metric: "bytes_sent", quantity: 0, hardLimit: null });

		// Storage is a level: what counts is what is stored now, not the period's peak.
		const now = Date.now();
		await broker.call("usage.record", { tenantId, events: [
			{ transactionId: "st1", metric: STORAGE_METRIC, value: 90_000, timestamp: new Date(now - 2_000).toISOString() },
			{ transactionId: "st2", metric: STORAGE_METRIC, value: 20_000, timestamp: new Date(now - 1_000).toISOString() },
		] }, systemCall());
		expect(await check(STORAGE_METRIC, 80_000)).toEqual({ allowed: true, metric: STORAGE_METRIC, quantity: 20_000, hardLimit: 100_000 });
		expect(await check(STORAGE_METRIC, 80_001)).toMatchObject({ allowed: false, quantity: 20_000 });
		await expect(check("nope", 1)).rejects.toMatchObject({ code: 422, type: "UNKNOWN_METRIC" });
	});
});

describe("billing time", () => {
	it("follows the tenant's test clock once billing announces the jump", async () => {
		const owner = await register("clock");
		const tenantId = owner.tenant.id;
		const clock = clockOf(tenantId);
		expect((await api.post("/usage-events", { transactionId: "before-jump", metric: "api_calls" }, { token: owner.accessToken })).status).toBe(202);
		const oldPeriodEvent = new Date(Date.now() - 60_000).toISOString();

		// The billing engine advances the clock 31 days and renews the period, then announces it.
		clock.offsetMs = 31 * DAY_MS;
		clock.periodStart = clock.periodEnd;
		clock.periodEnd = clock.periodStart + 30 * DAY_MS;
		await broker.broadcast(BILLING_EVENTS.periodChanged, { tenantId });

		expect((await api.post("/usage-events", { transactionId: "after-jump", metric: "api_calls" }, { token: owner.accessToken })).status).toBe(202);
		const [row] = await stored(tenantId, ["after-jump"]);
		expect(Math.abs(row.occurred_at.getTime() - (Date.now() + clock.offsetMs))).toBeLessThan(5_000);
		// An event of the period before, past the grace period, is now too old.
		const late = await api.post<Problem>("/usage-events", { transactionId: "late", metric: "api_calls", timestamp: oldPeriodEvent }, { token: owner.accessToken });
		expect(late.status).toBe(422);
		expect(late.body.code).toBe("USAGE_TOO_OLD");
		const usage = await api.get<UsageSummary>("/usage", { token: owner.accessToken });
		expect(usage.body.periodStart).toBe(new Date(clock.periodStart).toISOString());
		expect(usage.body.metrics.find((item) => item.metric === "api_calls")?.quantity).toBe(1);
	});
});

describe("storage", () => {
	it("meters the tenant's stored bytes as storage_bytes after each upload and deletion", async () => {
		const owner = await register("storage");
		const tenantId = owner.tenant.id;
		const upload = async (bytes: Buffer, name: string) => {
			const form = new FormData();
			form.append("file", new Blob([bytes], { type: "text/plain" }), name);
			const response = await fetch(`${node.url}/api/v1/files`, { method: "POST", headers: { Authorization: `Bearer ${owner.accessToken}`, "X-Forwarded-For": uniqueIp() }, body: form });
			expect(response.status).toBe(201);
			return (await response.json()) as { id: string; size: number };
		};
		const level = (transactionId: string) => waitFor(transactionId, async () => (await stored(tenantId, [transactionId]))[0]);

		const first = await upload(Buffer.from("a".repeat(1_500)), "a.txt");
		expect((await level(`storage:${first.id}:ready`)).value).toBe("1500");
		const second = await upload(Buffer.from("b".repeat(700)), "b.txt");
		expect((await level(`storage:${second.id}:ready`)).value).toBe("2200");
		expect((await api.delete(`/files/${first.id}`, { token: owner.accessToken })).status).toBe(204);
		const deleted = await level(`storage:${first.id}:deleted`);
		expect(deleted).toMatchObject({ metric: STORAGE_METRIC, value: "700" });

		const usage = await api.get<UsageSummary>("/usage", { token: owner.accessToken });
		expect(usage.body.metrics.find((item) => item.metric === STORAGE_METRIC)).toEqual({ metric: STORAGE_METRIC, aggregation: "max", quantity: 2_200, included: 1_000, billable: 1_200, estimatedAmount: 1_200, hardLimit: 100_000 });
		expect(await broker.call("usage.checkLimit", { tenantId, metric: STORAGE_METRIC, increment: 0 }, systemCall())).toMatchObject({ quantity: 700 });
	});
});
