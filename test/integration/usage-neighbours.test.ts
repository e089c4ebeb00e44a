/**
 * Usage metering with its real neighbours on one node (the whole billing domain: plans, the billing engine,
 * usage): a billable metric a super admin creates is taken at once, `GET /usage` reads the engine's current
 * plan and period, a test-clock advance moves the time events are stamped with, and the storage metric the
 * plans migration seeds is what files records.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { STORAGE_METRIC, type PublicMetric, type UsageSummary } from "../../services/billing/contracts";

const ADMIN = { email: "usage-neighbours-root@lattice.test", password: "usage neighbours secret 1" };
const DAY_MS = 86_400_000;

let node: RunningNode;
let api: ApiClient;
let adminToken: string;

async function register(label: string): Promise<{ token: string; tenantId: string }> {
	const response = await api.post<{ accessToken: string; tenant: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: "correct horse battery", fullName: `${label} Tester`, organization: `${label} Inc` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id };
}

beforeAll(async () => {
	node = await startNode({ SERVICES: "gateway,identity,files,billing", TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000", BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password });
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

describe("usage with plans and the billing engine", () => {
	it("takes events of a billable metric as soon as a super admin creates it", async () => {
		const owner = await register("neighbour");
		const code = `calls_${Date.now().toString(36)}`;
		// Unknown first: the registry is cached with what plans answered.
		const refused = await api.post<{ code: string }>("/usage-events", { transactionId: "n0", metric: code }, { token: owner.token });
		expect(refused.status).toBe(422);
		expect(refused.body.code).toBe("UNKNOWN_METRIC");
		const created = await api.post<PublicMetric>("/billable-metrics", { code, name: "Calls", aggregation: "count" }, { token: adminToken });
		expect(created.status, JSON.stringify(created.body)).toBe(201);
		// plans announces metric.changed; the registry is fetched again.
		let accepted = 0;
		for (let attempt = 0; attempt < 50 && accepted === 0; attempt += 1) {
			const response = await api.post<{ recorded: number }>("/usage-events", { transactionId: "n1", metric: code }, { token: owner.token });
			if (response.status === 202) accepted = response.body.recorded;
			else await new Promise((resolve) => setTimeout(resolve, 100));
		}
		expect(accepted).toBe(1);
	});

	it("answers GET /usage from the engine's current plan and period (the free plan, the calendar month)", async () => {
		const owner = await register("freeplan");
		const usage = await api.get<UsageSummary>("/usage", { token: owner.token });
		expect(usage.status, JSON.stringify(usage.body)).toBe(200);
		const now = new Date();
		expect(usage.body).toMatchObject({
			tenantId: owner.tenantId,
			periodStart: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString(),
			periodEnd: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
			metrics: [],
		});
	});

	it("stamps events with the tenant's test clock once it has been advanced", async () => {
		const owner = await register("testclock");
		expect((await api.post("/usage-events", { transactionId: "before", metric: STORAGE_METRIC, value: 1 }, { token: owner.token })).status).toBe(202);
		const advanced = await api.post<{ now: string }>("/billing/test-clocks/advance", { tenantId: owner.tenantId, days: 40 }, { token: owner.token });
		expect(advanced.status, JSON.stringify(advanced.body)).toBe(200);
		expect((await api.post("/usage-events", { transactionId: "after", metric: STORAGE_METRIC, value: 2 }, { token: owner.token })).status).toBe(202);
		const rows = await sql<{ transaction_id: string; occurred_at: Date }>("SELECT transaction_id, occurred_at FROM usage.usage_events WHERE tenant_id = $1 ORDER BY occurred_at", [owner.tenantId]);
		expect(rows.map((row) => row.transaction_id)).toEqual(["before", "after"]);
		const jump = rows[1].occurred_at.getTime() - rows[0].occurred_at.getTime();
		expect(jump).toBeGreaterThan(40 * DAY_MS - 60_000);
		expect(Math.abs(rows[1].occurred_at.getTime() - Date.parse(advanced.body.now))).toBeLessThan(60_000);
		// An event of the month before the jump is now older than the period and the grace period allow.
		const late = await api.post<{ code: string }>("/usage-events", { transactionId: "late", metric: STORAGE_METRIC, timestamp: new Date().toISOString() }, { token: owner.token });
		expect(late.status).toBe(422);
		expect(late.body.code).toBe("USAGE_TOO_OLD");
	});

	it("meters storage through the seeded storage_bytes metric", async () => {
		const owner = await register("stored");
		const form = new FormData();
		form.append("file", new Blob([Buffer.from("x".repeat(4_321))], { type: "text/plain" }), "notes.txt");
		const uploaded = await fetch(`${node.url}/api/v1/files`, { method: "POST", headers: { Authorization: `Bearer ${owner.token}`, "X-Forwarded-For": uniqueIp() }, body: form });
		expect(uploaded.status).toBe(201);
		const { id } = (await uploaded.json()) as { id: string };
		let rows: Array<{ value: string }> = [];
		for (let attempt = 0; attempt < 100 && rows.length === 0; attempt += 1) {
			rows = await sql<{ value: string }>("SELECT value FROM usage.usage_events WHERE tenant_id = $1 AND transaction_id = $2", [owner.tenantId, `storage:${id}:ready`]);
			if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
		}
		expect(rows).toEqual([{ value: "4321" }]);
	});
});
