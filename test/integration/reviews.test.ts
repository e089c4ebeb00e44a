/**
 * The reviews domain as a client drives it through the gateway, on one in-process node running the domain
 * with identity (sign-up, tokens, tenants), notifications (sign-up's verification email), the gateway and
 * platform, against the run's PostgreSQL: a review's whole life, tenancy (another tenant's ids are
 * 404, exactly like missing ones), and bad input (4xx problem+json, nothing changed). Every answer is also
 * checked against the OpenAPI document (the contract test, test/helpers/api.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "moleculer";
import { startNode, type RunningNode } from "../helpers/nodes";
import { sql } from "../helpers/db";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient, type ApiResponse } from "../helpers/api";
import { REVIEW_EVENTS, type PublicReview, type ReviewEvent } from "../../services/reviews/contracts";

const PASSWORD = "correct horse battery";

interface Session {
	token: string;
	tenantId: string;
}

interface Page {
	rows: PublicReview[];
	total: number;
}

let node: RunningNode;
let api: ApiClient;
const events: Array<{ name: string; payload: ReviewEvent }> = [];

beforeAll(async () => {
	node = await startNode({ SERVICES: "gateway,identity,platform,notifications,reviews", TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000" });
	api = apiClient(node.url);
	// A neighbour that listens, as another domain would: by the names contracts.ts exports.
	node.broker.createService({
		name: "reviews-test-listener",
		events: Object.fromEntries(
			Object.values(REVIEW_EVENTS).map((name) => [name, (ctx: Context<ReviewEvent>) => void events.push({ name, payload: ctx.params })]),
		),
	});
	await node.broker.waitForServices("reviews-test-listener");
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

async function signUp(label: string): Promise<Session> {
	const response = await api.post<{ accessToken: string; tenant: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: PASSWORD, fullName: `${label} Tester`, organization: `${label} Inc` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id };
}

async function createReview(session: Session, body: Record<string, unknown>): Promise<PublicReview> {
	const response = await api.post<PublicReview>("/reviews", body, { token: session.token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

/** The tenant's rows as stored: the domain's own schema, read directly. */
async function storedRows(tenantId: string): Promise<Array<{ id: string; name: string; status: string }>> {
	return sql(`SELECT id, name, status FROM "reviews".reviews WHERE tenant_id = $1 ORDER BY created_at`, [tenantId]);
}

function expectProblem(response: ApiResponse, status: number, code: string): void {
	expect(response.status, JSON.stringify(response.body)).toBe(status);
	expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
	expect(response.body).toMatchObject({ status, code });
}

async function waitForEvent(name: string, id: string): Promise<ReviewEvent> {
	for (let attempt = 0; attempt < 100; attempt += 1) {
		const found = events.find((event) => event.name === name && event.payload.review.id === id);
		if (found) return found.payload;
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
	throw new Error(`No ${name} event for ${id}`);
}

describe("reviews: a review's life through the gateway", () => {
	it("creates (201 + Location), lists, gets, updates and deletes a review, announcing each change", async () => {
		const alice = await signUp("alice");

		const created = await api.post<PublicReview>("/reviews", { name: "First", description: "The first one", tenantId: "ignored" }, { token: alice.token });
		expect(created.status, JSON.stringify(created.body)).toBe(201);
		expect(created.headers.get("location")).toBe(`/api/v1/reviews/${created.body.id}`);
		expect(created.body).toMatchObject({ name: "First", description: "The first one", status: "active", tenantId: alice.tenantId });
		expect((await waitForEvent(REVIEW_EVENTS.created, created.body.id)).review).toEqual(created.body);
		const second = await createReview(alice, { name: "Another" });

		const newestFirst = await api.get<Page>("/reviews", { token: alice.token });
		expect(newestFirst.status).toBe(200);
		expect(newestFirst.body.total).toBe(2);
		expect(newestFirst.body.rows.map((row) => row.id)).toEqual([second.id, created.body.id]);
		const byName = await api.get<Page>("/reviews?sort=name&pageSize=1&page=2", { token: alice.token });
		expect(byName.status).toBe(200);
		expect(byName.body.rows.map((row) => row.name)).toEqual(["First"]);

		const fetched = await api.get<PublicReview>(`/reviews/${created.body.id}`, { token: alice.token });
		expect(fetched.status).toBe(200);
		expect(fetched.body).toEqual(created.body);

		const updated = await api.put<PublicReview>(`/reviews/${created.body.id}`, { name: "Renamed", status: "archived" }, { token: alice.token });
		expect(updated.status, JSON.stringify(updated.body)).toBe(200);
		expect(updated.body).toMatchObject({ id: created.body.id, name: "Renamed", description: "The first one", status: "archived" });
		expect((await waitForEvent(REVIEW_EVENTS.updated, created.body.id)).changed?.sort()).toEqual(["name", "status"]);
		const archived = await api.get<Page>("/reviews?status=archived", { token: alice.token });
		expect(archived.body.rows.map((row) => row.id)).toEqual([created.body.id]);

		const deleted = await api.delete(`/reviews/${created.body.id}`, { token: alice.token });
		expect(deleted.status).toBe(204);
		await waitForEvent(REVIEW_EVENTS.deleted, created.body.id);
		expectProblem(await api.get(`/reviews/${created.body.id}`, { token: alice.token }), 404, "ENTITY_NOT_FOUND");
		expect((await storedRows(alice.tenantId)).map((row) => row.id)).toEqual([second.id]);
	});

	it("answers another tenant's review, a malformed id and a missing one with the same 404, and changes nothing", async () => {
		const alice = await signUp("owner");
		const mallory = await signUp("other");
		const own = await createReview(alice, { name: "Private" });

		for (const id of [own.id, "not-a-uuid", "00000000-0000-4000-8000-000000000000"]) {
			expectProblem(await api.get(`/reviews/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.put(`/reviews/${id}`, { name: "Taken over" }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.delete(`/reviews/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
		}
		const theirs = await api.get<Page>("/reviews", { token: mallory.token });
		expect(theirs.status).toBe(200);
		expect(theirs.body).toMatchObject({ rows: [], total: 0 });
		// The same name is free in another tenant.
		await createReview(mallory, { name: "Private" });

		expect(await storedRows(alice.tenantId)).toEqual([{ id: own.id, name: "Private", status: "active" }]);
		expectProblem(await api.get("/reviews"), 401, "UNAUTHORIZED");
	});

	it("refuses bad input with 4xx problem+json and changes nothing", async () => {
		const alice = await signUp("careful");
		const kept = await createReview(alice, { name: "Kept" });
		const before = await storedRows(alice.tenantId);

		expectProblem(await api.post("/reviews", {}, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/reviews", { name: "   " }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/reviews", { name: "x".repeat(201) }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/reviews", { name: "Odd", status: "gone" }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/reviews", { name: "Kept" }, { token: alice.token }), 409, "ALREADY_EXISTS");
		expectProblem(await api.put(`/reviews/${kept.id}`, { name: null }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.put(`/reviews/${kept.id}`, { description: "d".repeat(2001) }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.get("/reviews?sort=nosuch", { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.get("/reviews?pageSize=1000", { token: alice.token }), 400, "VALIDATION_ERROR");

		expect(await storedRows(alice.tenantId)).toEqual(before);
		const unchanged = await api.get<PublicReview>(`/reviews/${kept.id}`, { token: alice.token });
		expect(unchanged.body).toEqual(kept);
	});
});
