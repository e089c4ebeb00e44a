/**
 * Issue 11, findings 7, 8 and 9 (identity): login throttling that an attacker can't turn against the owner,
 * the last super admin, and readiness that waits for the bootstrap super admin.
 *
 * The nodes here share a database of their own (created and dropped by this file): "the only super admin"
 * means the bootstrap admin of this database, and the bootstrap must find it empty.
 */
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { baseEnv, freePort, spawnNode, startNode, type NodeProcess, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, type ApiClient } from "../helpers/api";

const ADMIN = { email: "root@hardening.test", password: "bootstrap-secret-1" };
const PASSWORD = "correct horse battery";
const databaseUrl = new URL(inject("testEnv").databaseUrl);
const database = `${databaseUrl.pathname.slice(1)}_identity`;
databaseUrl.pathname = `/${database}`;

let node: RunningNode | undefined;
let api: ApiClient;

async function admin<T = Record<string, unknown>>(query: string, values: unknown[] = [], url = inject("testEnv").databaseUrl): Promise<T[]> {
	const client = new Client({ connectionString: url });
	await client.connect();
	try {
		return (await client.query(query, values)).rows as T[];
	} finally {
		await client.end();
	}
}

const sql = <T = Record<string, unknown>>(query: string, values: unknown[] = []) => admin<T>(query, values, databaseUrl.toString());

let addressCounter = 0;
/** A fresh address of a documentation range per call, for callers that must not share one. */
function address(): string {
	addressCounter += 1;
	return `203.0.${113 + Math.floor(addressCounter / 250)}.${addressCounter % 250}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Session {
	user: { id: string; email: string; persona: string };
	accessToken: string;
}

function login(email: string, password: string, ip: string) {
	return api.post<Session & { code?: string; title?: string; detail?: string }>("/auth/login", { email, password }, { ip });
}

async function register(label: string, ip = address()): Promise<{ email: string; id: string; token: string }> {
	const email = uniqueEmail(label);
	const response = await api.post<Session>("/auth/register", { email, password: PASSWORD, fullName: `${label} Tester` }, { ip });
	expect(response.status).toBe(201);
	return { email, id: response.body.user.id, token: response.body.accessToken };
}

async function activeSuperAdmins(): Promise<number> {
	const rows = await sql<{ count: string }>("SELECT count(*) FROM users.users WHERE persona = 'super_admin' AND status = 'active'");
	return Number(rows[0].count);
}

beforeAll(async () => {
	await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
	await admin(`CREATE DATABASE ${database}`);
});

afterAll(async () => {
	await node?.stop();
	await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
});

describe("finding 9: readiness waits for the bootstrap super admin", () => {
	let server: NodeProcess | undefined;

	afterAll(async () => {
		await server?.stop();
	});

	it("finding 9: a client that waits for /readyz on a fresh node signs in as the bootstrap admin at once", async () => {
		const port = await freePort();
		server = spawnNode(
			baseEnv({ SERVICES: "gateway,identity,platform", DATABASE_URL: databaseUrl.toString(), PORT: String(port), BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password }),
		);
		const base = `http://127.0.0.1:${port}`;
		const started = Date.now();
		let ready = false;
		while (!ready) {
			if (Date.now() - started > 60_000) throw new Error(`/readyz never answered 200. Output:\n${server.output().slice(-4000)}`);
			ready = await fetch(`${base}/readyz`).then(
				(response) => response.status === 200,
				() => false,
			);
			if (!ready) await sleep(10);
		}
		const signedIn = await fetch(`${base}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(ADMIN) });
		expect(signedIn.status).toBe(200);
		const report = await (await fetch(`${base}/readyz`)).json();
		expect(report).toMatchObject({ status: "ready", checks: { bootstrapAdmin: "up" } });
	}, 90_000);
});

describe("findings 7 and 8 on one node", () => {
	/** Where the bootstrap admin signs in from: a known address from the first sign-in on. */
	const adminHome = address();
	let adminToken: string;

	beforeAll(async () => {
		node = await startNode({ SERVICES: "gateway,identity,platform", DATABASE_URL: databaseUrl.toString(), TRUST_PROXY: "true", BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, RATE_LIMIT_MAX: "100000" });
		api = apiClient(node.url);
		await loginWhenReady(api, ADMIN);
		const signedIn = await login(ADMIN.email, ADMIN.password, adminHome);
		expect(signedIn.status).toBe(200);
		adminToken = signedIn.body.accessToken;
	}, 90_000);

	it("finding 7: wrong passwords from one address can't keep the owner out, from an address they used before or from a new one", async () => {
		const owner = await register("owner");
		const home = address();
		expect((await login(owner.email, PASSWORD, home)).status).toBe(200);
		const attacker = address();
		const statuses: number[] = [];
		for (let attempt = 0; attempt < 12; attempt += 1) statuses.push((await login(owner.email, "wrong password", attacker)).status);
		expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
		expect(statuses.slice(5)).toContain(429);
		expect((await login(owner.email, PASSWORD, home)).status).toBe(200);
		expect((await login(owner.email, PASSWORD, address())).status).toBe(200);
		// The attacker's address itself still waits.
		expect((await login(owner.email, PASSWORD, attacker)).status).toBe(429);
	});

	it("finding 7: guesses from many addresses make new addresses wait briefly, never the owner's known one", async () => {
		const owner = await register("spread");
		const home = address();
		expect((await login(owner.email, PASSWORD, home)).status).toBe(200);
		for (let attempt = 0; attempt < 20; attempt += 1) expect((await login(owner.email, "wrong password", address())).status).toBe(401);
		const fresh = address();
		const waiting = await login(owner.email, PASSWORD, fresh);
		expect(waiting.status).toBe(429);
		const retryAfter = Number(waiting.headers.get("retry-after"));
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(2);
		expect((await login(owner.email, PASSWORD, home)).status).toBe(200);
		await sleep(retryAfter * 1000 + 100);
		expect((await login(owner.email, PASSWORD, fresh)).status).toBe(200);
	});

	it("finding 7: an owner's own typos, once they sign in, don't pile up against the account", async () => {
		const owner = await register("typist");
		// 16 typos over four new addresses, each followed by the right password: without these being given back,
		// four more failures would reach the account's ceiling (20) and make new addresses wait.
		for (let place = 0; place < 4; place += 1) {
			const ip = address();
			for (let typo = 0; typo < 4; typo += 1) expect((await login(owner.email, "wrong password", ip)).status).toBe(401);
			expect((await login(owner.email, PASSWORD, ip)).status).toBe(200);
		}
		for (let typo = 0; typo < 4; typo += 1) expect((await login(owner.email, "wrong password", address())).status).toBe(401);
		expect((await login(owner.email, PASSWORD, address())).status).toBe(200);
	});

	it("finding 7: the wait grows with each failure, attempts during a wait don't lengthen it, and it reads the same for an unknown account", async () => {
		const victim = await register("victim");
		const ip = address();
		const ghostIp = address();
		const ghost = uniqueEmail("ghost");
		for (let attempt = 0; attempt < 5; attempt += 1) {
			expect((await login(victim.email, "wrong password", ip)).status).toBe(401);
			expect((await login(ghost, "wrong password", ghostIp)).status).toBe(401);
		}
		const first = await login(victim.email, "wrong password", ip);
		const ghostFirst = await login(ghost, "wrong password", ghostIp);
		for (const response of [first, ghostFirst]) {
			expect(response.status).toBe(429);
			expect(response.headers.get("content-type")).toContain("application/problem+json");
			// The first wait is 2 s (a loaded machine may take a while between the failure and this attempt).
			expect(["1", "2"]).toContain(response.headers.get("retry-after"));
		}
		// The same answer whether the account exists or not: only the request's own fields differ.
		const comparable = (body: object) => Object.fromEntries(Object.entries(body).filter(([key]) => !["requestId", "instance", "retryAfter"].includes(key)));
		const victimBody = comparable(first.body);
		expect(victimBody).toEqual(comparable(ghostFirst.body));
		expect(victimBody).toMatchObject({ status: 429, code: "LOGIN_THROTTLED" });
		// Hammering during the wait neither lengthens it nor counts.
		for (let attempt = 0; attempt < 5; attempt += 1) expect(Number((await login(victim.email, "wrong password", ip)).headers.get("retry-after"))).toBeLessThanOrEqual(2);
		await sleep(2_100);
		expect((await login(victim.email, "wrong password", ip)).status).toBe(401);
		const second = await login(victim.email, PASSWORD, ip);
		expect(second.status).toBe(429);
		expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(2);
		expect(Number(second.headers.get("retry-after"))).toBeLessThanOrEqual(4);
	});

	it("finding 7: concurrent guesses from one address can't slip past the count", async () => {
		const victim = await register("burst");
		const ip = address();
		const statuses = await Promise.all(Array.from({ length: 20 }, () => login(victim.email, "wrong password", ip).then((response) => response.status)));
		expect(statuses.filter((status) => status === 401)).toHaveLength(5);
		expect(statuses.filter((status) => status === 429)).toHaveLength(15);
	});

	it("finding 7: rotating through one IPv6 /64 counts as one address", async () => {
		const victim = await register("six");
		for (let host = 1; host <= 5; host += 1) expect((await login(victim.email, "wrong password", `2001:db8:7:9::${host}`)).status).toBe(401);
		expect((await login(victim.email, "wrong password", "2001:db8:7:9:ffff::42")).status).toBe(429);
		expect((await login(victim.email, PASSWORD, "2001:db8:7:a::1")).status).toBe(200);
	});

	it("finding 7: many accounts behind one address aren't held back by failures from it; past its much higher ceiling, known addresses still pass", async () => {
		const office = address();
		const regular = await register("regular");
		expect((await login(regular.email, PASSWORD, office)).status).toBe(200);
		const colleagues = await Promise.all([register("colleague1"), register("colleague2"), register("colleague3")]);
		const signedUpHere = await register("local", office);
		// 30 failures over 30 accounts from the office address: 6 times what used to lock every account behind it.
		for (let attempt = 0; attempt < 30; attempt += 1) expect((await login(uniqueEmail("sprayed"), "wrong password", office)).status).toBe(401);
		for (const colleague of colleagues.slice(0, 2)) expect((await login(colleague.email, PASSWORD, office)).status).toBe(200);
		// A spray past the address's ceiling (100): new (account, address) pairs wait, known ones don't.
		for (let batch = 0; batch < 8; batch += 1) {
			await Promise.all(Array.from({ length: 10 }, () => login(uniqueEmail("sprayed"), "wrong password", office)));
		}
		const newcomer = await login(colleagues[2].email, PASSWORD, office);
		expect(newcomer.status).toBe(429);
		expect(newcomer.body).toMatchObject({ code: "LOGIN_THROTTLED" });
		expect((await login(regular.email, PASSWORD, office)).status).toBe(200);
		expect((await login(colleagues[0].email, PASSWORD, office)).status).toBe(200);
		// An account created from the address counts as having signed in from it.
		expect((await login(signedUpHere.email, PASSWORD, office)).status).toBe(200);
	}, 60_000);

	it("finding 7: the super admin is no exception: an attacker's wrong passwords don't keep them out", async () => {
		const attacker = address();
		for (let attempt = 0; attempt < 15; attempt += 1) await login(ADMIN.email, "wrong password", attacker);
		expect((await login(ADMIN.email, "wrong password", attacker)).status).toBe(429);
		expect((await login(ADMIN.email, ADMIN.password, adminHome)).status).toBe(200);
		expect((await login(ADMIN.email, ADMIN.password, address())).status).toBe(200);
		// And a super admin can still lift a pair's wait.
		expect((await api.delete(`/auth/throttles?ip=${attacker}`, { token: adminToken })).status).toBe(200);
		expect((await login(ADMIN.email, ADMIN.password, attacker)).status).toBe(200);
	});

	it("finding 8: userId null is refused (400), not taken as the caller", async () => {
		const user = await register("nullish");
		for (const [token, persona] of [
			[adminToken, "end_user"],
			[user.token, "builder"],
		]) {
			const response = await api.put("/auth/update-persona", { persona, userId: null }, { token });
			expect(response.status).toBe(400);
			expect(response.headers.get("content-type")).toContain("application/problem+json");
			expect(response.body).toMatchObject({ code: "VALIDATION_ERROR" });
		}
		expect((await api.get<{ persona: string }>("/auth/me", { token: adminToken })).body.persona).toBe("super_admin");
		expect((await api.get<{ persona: string }>("/auth/me", { token: user.token })).body.persona).toBe("end_user");
	});

	it("finding 8: the only super admin can't be demoted, suspended or deleted (409 LAST_SUPER_ADMIN)", async () => {
		expect(await activeSuperAdmins()).toBe(1);
		const me = await api.get<{ user: { id: string } }>("/auth/me", { token: adminToken });
		const adminId = me.body.user.id;
		const attempts = [
			await api.put("/auth/update-persona", { persona: "end_user" }, { token: adminToken }),
			await api.put("/auth/update-persona", { persona: "builder", userId: adminId }, { token: adminToken }),
			await api.put(`/users/${adminId}/status`, { status: "suspended" }, { token: adminToken }),
			await api.delete(`/users/${adminId}`, { token: adminToken }),
		];
		for (const response of attempts) {
			expect(response.status).toBe(409);
			expect(response.headers.get("content-type")).toContain("application/problem+json");
			expect(response.body).toMatchObject({ code: "LAST_SUPER_ADMIN" });
		}
		expect(await activeSuperAdmins()).toBe(1);
		expect((await api.get<{ persona: string }>("/auth/me", { token: adminToken })).body.persona).toBe("super_admin");
	});

	it("finding 8: two super admins removing each other (or themselves) at once leave one", async () => {
		const me = await api.get<{ user: { id: string } }>("/auth/me", { token: adminToken });
		const adminId = me.body.user.id;
		for (let round = 0; round < 3; round += 1) {
			const other = await register(`second${round}`);
			expect((await api.put("/auth/update-persona", { persona: "super_admin", userId: other.id }, { token: adminToken })).status).toBe(200);
			expect(await activeSuperAdmins()).toBe(2);
			const race =
				round === 0
					? [api.put("/auth/update-persona", { persona: "end_user", userId: other.id }, { token: adminToken }), api.put("/auth/update-persona", { persona: "end_user", userId: adminId }, { token: other.token })]
					: round === 1
						? [api.put("/auth/update-persona", { persona: "end_user" }, { token: adminToken }), api.put("/auth/update-persona", { persona: "end_user" }, { token: other.token })]
						: [api.put(`/users/${other.id}/status`, { status: "suspended" }, { token: adminToken }), api.delete(`/users/${adminId}`, { token: other.token })];
			const statuses = (await Promise.all(race)).map((response) => response.status);
			expect(statuses.filter((status) => status === 200 || status === 204)).toHaveLength(1);
			expect(statuses.every((status) => [200, 204, 403, 409].includes(status))).toBe(true);
			expect(await activeSuperAdmins()).toBe(1);
			// Carry on with the first admin (the last round may have deleted it: nothing comes after).
			const left = await sql<{ id: string }>("SELECT id FROM users.users WHERE persona = 'super_admin' AND status = 'active'");
			if (round < 2 && left[0].id !== adminId) {
				expect((await api.put("/auth/update-persona", { persona: "super_admin", userId: adminId }, { token: other.token })).status).toBe(200);
				expect((await api.put("/auth/update-persona", { persona: "end_user" }, { token: other.token })).status).toBe(200);
			}
			expect(await activeSuperAdmins()).toBe(1);
		}
	}, 60_000);
});
