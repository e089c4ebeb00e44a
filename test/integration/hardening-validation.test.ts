/**
 * Issue 11, findings 2 and 3 (validation part), through the gateway of one node with every domain: `null` in a
 * field that doesn't declare itself nullable is a 400, database errors a caller provokes are 4xx in every
 * service, a flood of such requests never opens an action's circuit breaker, and every list bounds its pages
 * and sorts only on known fields.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Context } from "moleculer";
import { Sequelize } from "sequelize";
import { startNode, type RunningNode } from "../helpers/nodes";
import { systemCall } from "../../lib/caller";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient, type ApiResponse } from "../helpers/api";

const ADMIN = { email: "hardening-root@lattice.test", password: "bootstrap-secret-1" };
const PASSWORD = "correct horse battery";
const HOOK_HOST = "127.0.0.1:9";

interface Session {
	user: { id: string; email: string };
	tenant: { id: string };
	accessToken: string;
}

interface ProblemBody {
	code: string;
	status: number;
	errors?: Array<{ field: string; type: string; message: string }>;
}

let node: RunningNode;
let api: ApiClient;
let adminToken: string;

async function register(label: string): Promise<Session> {
	const response = await api.post<Session>("/auth/register", { email: uniqueEmail(label), password: PASSWORD, fullName: `${label} Tester` }, { ip: uniqueIp() });
	expect(response.status).toBe(201);
	return response.body;
}

/** PATCH is not in the shared client. */
async function patch<T = ProblemBody>(path: string, body: unknown, token: string): Promise<ApiResponse<T>> {
	const response = await fetch(`${node.url}/api/v1${path}`, { method: "PATCH", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
	return { status: response.status, headers: response.headers, body: (await response.json()) as T };
}

function expectProblem(response: ApiResponse<unknown>, status: number, code: string): void {
	expect(response.status, JSON.stringify(response.body)).toBe(status);
	expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
	expect((response.body as ProblemBody).code).toBe(code);
}

function expectNullRefused(response: ApiResponse<unknown>, field: string): void {
	expectProblem(response, 400, "VALIDATION_ERROR");
	expect((response.body as ProblemBody).errors).toContainEqual(expect.objectContaining({ field, type: "notNull" }));
}

beforeAll(async () => {
	node = await startNode({ TRUST_PROXY: "true", BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, RATE_LIMIT_MAX: "100000", OUTBOUND_ALLOW_HOSTS: HOOK_HOST });
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

describe("finding 2: null in a field that isn't nullable", () => {
	it("finding 2: PUT /users/{own id} with a null field answers 400 VALIDATION_ERROR, 30 times, and never opens the breaker for another user", async () => {
		const mallory = await register("mallory");
		const victim = await register("victim");
		for (let attempt = 0; attempt < 30; attempt += 1) {
			expectNullRefused(await api.put(`/users/${mallory.user.id}`, { fullName: null }, { token: mallory.accessToken }), "fullName");
		}
		expectNullRefused(await api.put(`/users/${mallory.user.id}`, { address: { city: null } }, { token: mallory.accessToken }), "address.city");
		const updated = await api.put<{ fullName: string }>(`/users/${victim.user.id}`, { fullName: "Victim Renamed" }, { token: victim.accessToken });
		expect(updated.status).toBe(200);
		expect(updated.body.fullName).toBe("Victim Renamed");
		// Fields that declare `nullable` still clear with null.
		const cleared = await api.put<{ phone: string | null }>(`/users/${mallory.user.id}`, { phone: null, address: null }, { token: mallory.accessToken });
		expect(cleared.status).toBe(200);
		expect(cleared.body.phone).toBeNull();
	});

	it("finding 2: PUT /auth/update-persona with userId null is refused, not taken as the caller", async () => {
		expectNullRefused(await api.put("/auth/update-persona", { persona: "end_user", userId: null }, { token: adminToken }), "userId");
		const me = await api.get<{ persona: string }>("/auth/me", { token: adminToken });
		expect(me.body.persona).toBe("super_admin");
	});

	it("finding 2: PATCH /webhook-endpoints/{id} with url or events null answers 400 and changes nothing", async () => {
		const owner = await register("hooks");
		const created = await api.post<{ id: string; url: string; events: string[] }>("/webhook-endpoints", { url: `http://${HOOK_HOST}/hook`, events: ["order.paid"] }, { token: owner.accessToken });
		expect(created.status).toBe(201);
		for (const field of ["url", "events", "status"]) {
			expectNullRefused(await patch(`/webhook-endpoints/${created.body.id}`, { [field]: null }, owner.accessToken), field);
			expectNullRefused(await api.put(`/webhook-endpoints/${created.body.id}`, { [field]: null }, { token: owner.accessToken }), field);
		}
		const cleared = await patch<{ description: string | null; url: string; events: string[] }>(`/webhook-endpoints/${created.body.id}`, { description: null }, owner.accessToken);
		expect(cleared.status).toBe(200);
		expect(cleared.body).toMatchObject({ description: null, url: created.body.url, events: created.body.events });
	});

	it("finding 2: PUT /products/{id} with any field null answers 400; image, which is nullable, clears", async () => {
		const created = await api.post<{ id: string }>(
			"/products",
			{ name: "Hardened", category: "tools", priceAmount: 1200, currency: "EUR", image: "https://example.com/a.png" },
			{ token: adminToken },
		);
		expect(created.status).toBe(201);
		for (const field of ["name", "description", "category", "priceAmount", "currency", "features", "status"]) {
			expectNullRefused(await api.put(`/products/${created.body.id}`, { [field]: null }, { token: adminToken }), field);
		}
		expectNullRefused(await api.post("/products", { name: "N", category: "tools", priceAmount: 1, currency: "EUR", description: null }, { token: adminToken }), "description");
		const cleared = await api.put<{ image: string | null; name: string }>(`/products/${created.body.id}`, { image: null }, { token: adminToken });
		expect(cleared.status).toBe(200);
		expect(cleared.body).toMatchObject({ image: null, name: "Hardened" });
	});

	it("finding 2: a null query or list parameter is refused too, on public and authenticated actions", async () => {
		const user = await register("lister");
		expectNullRefused(await api.post("/auth/register", { email: uniqueEmail("org"), password: PASSWORD, fullName: "Org", organization: null }, { ip: uniqueIp() }), "organization");
		expectNullRefused(await api.post("/orders", { items: [{ productId: "00000000-0000-4000-8000-000000000000", quantity: null }] }, { token: user.accessToken }), "items[0].quantity");
	});
});

describe("finding 2: database errors are the caller's 4xx in every service", () => {
	/**
	 * A service of the test's own, not built on DbMixin, that runs real statements against the run's database:
	 * what it gets back is what any service's handler would, and the node's middlewares must translate it.
	 */
	const PROBE_SCHEMA = "hardening_probe";
	let probe: Sequelize;
	let unreachable: Sequelize;

	beforeAll(async () => {
		probe = new Sequelize(inject("testEnv").databaseUrl, { logging: false });
		// Nothing listens on port 1: every query fails to connect, as with a database that went away.
		unreachable = new Sequelize("postgres://postgres@127.0.0.1:1/none", { logging: false, pool: { max: 1, acquire: 2_000 }, retry: { max: 0 } });
		await probe.query(`DROP SCHEMA IF EXISTS ${PROBE_SCHEMA} CASCADE; CREATE SCHEMA ${PROBE_SCHEMA}`);
		await probe.query(`CREATE TABLE ${PROBE_SCHEMA}.parent (id int PRIMARY KEY, name varchar(5) NOT NULL, amount int CHECK (amount >= 0))`);
		await probe.query(`CREATE TABLE ${PROBE_SCHEMA}.child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES ${PROBE_SCHEMA}.parent(id))`);
		await probe.query(`INSERT INTO ${PROBE_SCHEMA}.parent VALUES (1, 'one', 1); INSERT INTO ${PROBE_SCHEMA}.child VALUES (1, 1)`);
		const statements: Record<string, string> = {
			duplicate: `INSERT INTO ${PROBE_SCHEMA}.parent VALUES (1, 'again', 1)`,
			missingReference: `INSERT INTO ${PROBE_SCHEMA}.child VALUES (2, 999)`,
			stillReferenced: `DELETE FROM ${PROBE_SCHEMA}.parent WHERE id = 1`,
			notNull: `INSERT INTO ${PROBE_SCHEMA}.parent VALUES (2, NULL, 1)`,
			tooLong: `INSERT INTO ${PROBE_SCHEMA}.parent VALUES (3, 'far too long', 1)`,
			outOfRange: `INSERT INTO ${PROBE_SCHEMA}.parent VALUES (99999999999, 'big', 1)`,
			malformed: `SELECT * FROM ${PROBE_SCHEMA}.parent WHERE id = 'abc'`,
			check: `INSERT INTO ${PROBE_SCHEMA}.parent VALUES (4, 'neg', -1)`,
		};
		node.broker.createService({
			name: "dbprobe",
			actions: {
				fail: {
					params: { statement: { type: "enum", values: Object.keys(statements) } },
					handler: (ctx: Context<{ statement: string }>) => probe.query(statements[ctx.params.statement]),
				},
				// A programming fault that any input provokes: a 500, which must not count against the breaker.
				bug: { handler: (ctx: Context<{ value?: string }>) => (ctx.params.value as unknown as { length: number }).length },
				offline: { handler: () => unreachable.query("SELECT 1") },
			},
		});
		await node.broker.waitForServices("dbprobe");
	});

	afterAll(async () => {
		await node.broker.destroyService("dbprobe").catch(() => undefined);
		await probe?.query(`DROP SCHEMA IF EXISTS ${PROBE_SCHEMA} CASCADE`);
		await probe?.close();
		await unreachable?.close();
	});

	const failure = (statement: string) => node.broker.call("dbprobe.fail", { statement }, systemCall()).then(() => ({ code: 200, type: "OK" }), (err: { code?: number; type?: string }) => ({ code: err.code, type: err.type }));

	it("finding 2: unique, foreign-key, not-null, too-long, out-of-range, malformed and check violations are typed 4xx in a service of its own", async () => {
		expect(await failure("duplicate")).toEqual({ code: 409, type: "ALREADY_EXISTS" });
		expect(await failure("missingReference")).toEqual({ code: 422, type: "REFERENCE_NOT_FOUND" });
		expect(await failure("stillReferenced")).toEqual({ code: 409, type: "STILL_REFERENCED" });
		expect(await failure("notNull")).toEqual({ code: 400, type: "VALIDATION_ERROR" });
		expect(await failure("tooLong")).toEqual({ code: 400, type: "VALUE_TOO_LONG" });
		expect(await failure("outOfRange")).toEqual({ code: 400, type: "VALUE_OUT_OF_RANGE" });
		expect(await failure("malformed")).toEqual({ code: 400, type: "INVALID_VALUE" });
		expect(await failure("check")).toEqual({ code: 422, type: "CONSTRAINT_VIOLATION" });
		// An unreachable database is the infrastructure's fault: 503, not the caller's.
		await expect(node.broker.call("dbprobe.offline", {}, systemCall())).rejects.toMatchObject({ code: 503, type: "DATABASE_UNAVAILABLE" });
	});

	it("finding 2: 30 requests that end in a programming 500 leave the action's breaker shut; database outages open it", async () => {
		for (let attempt = 0; attempt < 30; attempt += 1) {
			await expect(node.broker.call("dbprobe.bug", {}, systemCall())).rejects.toThrow(TypeError);
		}
		await expect(node.broker.call("dbprobe.bug", { value: "fine" }, systemCall())).resolves.toBe(4);
		for (let attempt = 0; attempt < 25; attempt += 1) {
			await expect(node.broker.call("dbprobe.fail", { statement: "duplicate" }, systemCall())).rejects.toMatchObject({ code: 409 });
		}
		await expect(node.broker.call("dbprobe.fail", { statement: "malformed" }, systemCall())).rejects.toMatchObject({ code: 400 });
		// The other side: an unavailable database is what the breaker is for.
		const outcomes: string[] = [];
		for (let attempt = 0; attempt < 25; attempt += 1) {
			outcomes.push(await node.broker.call("dbprobe.offline", {}, systemCall()).then(() => "ok", (err: Error) => err.name));
		}
		expect(outcomes).toContain("ServiceNotAvailableError");
	});

	it("finding 2: a unique violation a service maps itself keeps its own code", async () => {
		const user = await register("dupe");
		const again = await api.post("/auth/register", { email: user.user.email, password: PASSWORD, fullName: "Again" }, { ip: uniqueIp() });
		expectProblem(again, 409, "EMAIL_TAKEN");
	});
});

describe("finding 3: lists validate their paging and sorting", () => {
	it("finding 3: GET /api-keys refuses an unknown sort, a huge page and a huge pageSize with 400, and ignores raw query/search", async () => {
		const owner = await register("keys");
		const issued = await api.post<{ id: string }>("/api-keys", { name: "ci" }, { token: owner.accessToken });
		expect(issued.status).toBe(201);
		for (const query of ["sort=nosuch", "sort=keyHash", "page=99999999999999999999", "page=0", "page=1e300", "pageSize=100000", "page=abc"]) {
			expectProblem(await api.get(`/api-keys?${query}`, { token: owner.accessToken }), 400, "VALIDATION_ERROR");
		}
		const sorted = await api.get<{ rows: Array<{ id: string }>; total: number }>("/api-keys?sort=-createdAt&page=1&pageSize=5", { token: owner.accessToken });
		expect(sorted.status).toBe(200);
		expect(sorted.body.rows.map((row) => row.id)).toEqual([issued.body.id]);
		// Raw moleculer-db parameters are dropped: neither a query on hidden columns nor a search reaches SQL.
		for (const query of [`query=${encodeURIComponent(JSON.stringify({ keyHash: "x" }))}`, "query=%7Boops", "search=ci&searchFields=keyHash", "populate=x&fields=keyHash"]) {
			const answer = await api.get<{ rows: Array<Record<string, unknown>>; total: number }>(`/api-keys?${query}`, { token: owner.accessToken });
			expect(answer.status, query).toBe(200);
			expect(answer.body.total).toBe(1);
			expect(answer.body.rows[0]).not.toHaveProperty("keyHash");
		}
		expect((await api.get(`/api-keys/${issued.body.id}`, { token: owner.accessToken })).status).toBe(200);
		expectProblem(await api.get("/api-keys/not-a-uuid", { token: owner.accessToken }), 404, "ENTITY_NOT_FOUND");
	});

	it("finding 3: a huge page number is 400 on every list, never 500", async () => {
		const user = await register("pages");
		const lists: Array<[string, string]> = [
			["/users", adminToken],
			["/audit-log", adminToken],
			["/mail/outbox", adminToken],
			["/products", adminToken],
			["/orders", user.accessToken],
			["/payments", user.accessToken],
			["/files", user.accessToken],
			["/notifications", user.accessToken],
			["/webhook-endpoints", user.accessToken],
			["/api-keys", user.accessToken],
		];
		for (const [path, token] of lists) {
			expectProblem(await api.get(`${path}?page=99999999999999999999`, { token }), 400, "VALIDATION_ERROR");
			expectProblem(await api.get(`${path}?page=100001`, { token }), 400, "VALIDATION_ERROR");
			expectProblem(await api.get(`${path}?pageSize=101`, { token }), 400, "VALIDATION_ERROR");
			expect((await api.get(`${path}?page=100000`, { token })).status, path).toBe(200);
		}
	});
});
