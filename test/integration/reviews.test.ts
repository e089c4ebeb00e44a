/**
 * The reviews domain's NLP foundation through the gateway, on two nodes over the run's NATS (JetStream for the
 * channels) and PostgreSQL: one runs the gateway, identity, notifications (sign-up's email) and the reviews
 * service; the other runs only the nlp service, as its own node role does. Reviews are stored through the
 * internal `reviews.store` (as collectors will), twice (stored once), edited (the earlier version kept);
 * `reviews.collected` reaches the nlp consumer, whose results show in `GET /reviews` and its filters. Members tag,
 * assign and label reviews; a tenant's classifier trained on its labels changes that tenant's topics (after
 * `POST /reviews/reanalyze`) and no other's. Another tenant's ids are 404; bad input is 4xx problem+json and
 * changes nothing. Every answer is checked against the OpenAPI document (test/helpers/api.ts).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { removeStreams } from "../helpers/jetstream";
import { sql } from "../helpers/db";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient, type ApiResponse } from "../helpers/api";
import { systemCall } from "../../lib/caller";
import {
	DEFAULT_TOPICS,
	REVIEW_CHANNELS,
	type PublicClassifier,
	type PublicReview,
	type Reanalysis,
	type ReviewDetail,
	type ReviewInput,
	type StoreResult,
} from "../../services/reviews/contracts";

const PASSWORD = "correct horse battery";
const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-reviews`;

interface Session {
	token: string;
	tenantId: string;
	userId: string;
}

interface Page {
	rows: PublicReview[];
	total: number;
}

let core: RunningNode;
let nlp: RunningNode;
let api: ApiClient;

beforeAll(async () => {
	const cluster = { TRANSPORTER: testEnv.natsUrl, CACHER: testEnv.redisUrl, NAMESPACE: namespace, TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000" };
	core = await startNode({ ...cluster, SERVICES: "gateway,identity,platform,notifications,reviews/reviews" });
	// The nlp group subscribes before anything is stored: a group's first subscription starts with what is sent after it.
	nlp = await startNode({ ...cluster, SERVICES: "reviews/nlp", NLP_BATCH_SIZE: "4" });
	api = apiClient(core.url);
	await core.broker.waitForServices(["nlp"], 20_000);
	await waitUntil("the gateway to route /classifiers", async () => ((await api.get("/classifiers")).status === 404 ? undefined : true));
}, 90_000);

afterAll(async () => {
	await nlp?.stop();
	await core?.stop();
	await removeStreams(namespace);
});

async function waitUntil<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
	const started = Date.now();
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

async function signUp(label: string): Promise<Session> {
	const response = await api.post<{ accessToken: string; user: { id: string }; tenant: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: PASSWORD, fullName: `${label} Tester`, organization: `${label} Inc` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id, userId: response.body.user.id };
}

/** What a collector does: the internal action, as platform work. */
function store(tenantId: string, sourceId: string, reviews: ReviewInput[]): Promise<StoreResult> {
	return core.broker.call<StoreResult, object>("reviews.store", { tenantId, sourceId, reviews }, systemCall());
}

/** The source's reviews once all are analysed (with `version` in their analyzer version, when given). */
async function analysed(session: Session, sourceId: string, count: number, version?: string): Promise<PublicReview[]> {
	return waitUntil(`${count} analysed reviews of ${sourceId}`, async () => {
		const page = await api.get<Page>(`/reviews?sourceId=${sourceId}&pageSize=100`, { token: session.token });
		expect(page.status).toBe(200);
		const done = page.body.rows.filter((row) => row.analysis && (!version || row.analysis.analyzerVersion.includes(version)));
		return page.body.total === count && done.length === count ? page.body.rows : undefined;
	});
}

async function listIds(session: Session, query: string): Promise<string[]> {
	const page = await api.get<Page>(`/reviews?${query.includes("pageSize=") ? query : `pageSize=100&${query}`}`, { token: session.token });
	expect(page.status, JSON.stringify(page.body)).toBe(200);
	return page.body.rows.map((row) => row.id);
}

function expectProblem(response: ApiResponse, status: number, code: string): void {
	expect(response.status, JSON.stringify(response.body)).toBe(status);
	expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
	expect(response.body).toMatchObject({ status, code });
}

async function storedRows(tenantId: string): Promise<Array<Record<string, unknown>>> {
	return sql(`SELECT id, external_id, body, tags, assignee_id, labelled_topic, edit_count FROM "reviews".reviews WHERE tenant_id = $1 ORDER BY external_id`, [tenantId]);
}

const APP_REVIEWS: ReviewInput[] = [
	{ externalId: "gp-1", rating: 1, title: "Crashes constantly", body: "Since version 5.2.1 the app crashes every time I open the camera. Useless until fixed.", author: "Dana", appVersion: "5.2.1", country: "us", publishedAt: "2026-11-02T10:00:00Z", language: "en", raw: { reviewId: "gp-1", thumbsUp: 12 } },
	{ externalId: "gp-2", rating: 5, body: "Absolutely love this app, it is the best planner I have ever used. Thank you!", author: "Lee", publishedAt: "2026-11-05T09:30:00Z", language: "en" },
	{ externalId: "gp-3", rating: 2, body: "Way too expensive. $9.99 a month for a to-do list is a rip off.", publishedAt: "2026-11-08T18:00:00Z" },
	{ externalId: "gp-4", rating: 4, body: "Great app, but please add a dark mode for night use.", publishedAt: "2026-11-10T07:15:00Z" },
	{ externalId: "gp-5", rating: 1, body: "Die App stürzt nach dem letzten Update ständig ab und ist sehr langsam. Schlecht!", publishedAt: "2026-11-12T12:00:00Z", language: "de", country: "DE" },
	{ externalId: "gp-6", rating: 5, body: "Support answered within an hour and Sarah fixed my account. Excellent customer service.", publishedAt: "2026-11-15T16:45:00Z" },
];

describe("reviews: stored once, analysed by the nlp consumer, listed with their NLP results", () => {
	it("stores a batch collected twice once, analyses it on the nlp node, and filters by its results", async () => {
		const alice = await signUp("alice");
		const sourceId = randomUUID();

		const first = await store(alice.tenantId, sourceId, APP_REVIEWS);
		expect(first).toMatchObject({ inserted: 6, edited: 0, unchanged: 0 });
		const again = await store(alice.tenantId, sourceId, APP_REVIEWS);
		expect(again).toEqual({ inserted: 0, edited: 0, unchanged: 6, ids: first.ids });
		expect(await storedRows(alice.tenantId)).toHaveLength(6);
		// One durable announcement, for the batch that stored something.
		const announced = await sql<{ payload: { reviewIds: string[] } }>(`SELECT payload FROM "reviews".outbox WHERE channel = $1 AND payload->>'sourceId' = $2`, [REVIEW_CHANNELS.collected, sourceId]);
		expect(announced.map((row) => row.payload.reviewIds.length)).toEqual([6]);

		const rows = await analysed(alice, sourceId, 6, "default");
		const byExternal = new Map(rows.map((row) => [row.externalId, row]));
		const crash = byExternal.get("gp-1")!;
		expect(crash).toMatchObject({ rating: 1, title: "Crashes constantly", country: "US", appVersion: "5.2.1", editCount: 0, tags: [], assigneeId: null });
		expect(crash.analysis).toMatchObject({ language: "en", sentiment: { label: "negative" } });
		expect(crash.analysis!.topics[0]).toBe("bugs");
		expect(crash.analysis!.entities).toEqual(expect.arrayContaining([{ type: "version", text: "version 5.2.1", value: "5.2.1" }, { type: "feature", text: "camera", value: "camera" }]));
		expect(crash.analysis!.keywords.length).toBeGreaterThan(0);
		expect(crash.analysis!.analyzerVersion).toBe("nlp-1+default");
		expect(byExternal.get("gp-2")!.analysis).toMatchObject({ sentiment: { label: "positive" }, topics: expect.arrayContaining(["praise"]) });
		expect(byExternal.get("gp-3")!.analysis!.topics[0]).toBe("pricing");
		expect(byExternal.get("gp-3")!.analysis!.entities).toContainEqual({ type: "money", text: "$9.99", value: "9.99 USD" });
		expect(byExternal.get("gp-4")!.analysis!.topics).toContain("feature_request");
		expect(byExternal.get("gp-4")!.analysis!.entities).toContainEqual({ type: "feature", text: "dark mode", value: "dark mode" });
		expect(byExternal.get("gp-5")!.analysis).toMatchObject({ language: "de", sentiment: { label: "negative" } });
		expect(byExternal.get("gp-6")!.analysis!.topics[0]).toBe("support");
		expect(byExternal.get("gp-6")!.analysis!.entities).toContainEqual({ type: "person", text: "Sarah", value: "Sarah" });

		const id = (externalId: string) => byExternal.get(externalId)!.id;
		expect((await listIds(alice, "sentiment=negative")).sort()).toEqual([id("gp-1"), id("gp-3"), id("gp-5")].sort());
		expect(await listIds(alice, "topic=pricing")).toEqual([id("gp-3")]);
		expect(await listIds(alice, "language=de")).toEqual([id("gp-5")]);
		expect((await listIds(alice, "rating=5")).sort()).toEqual([id("gp-2"), id("gp-6")].sort());
		expect(await listIds(alice, "from=2026-11-09T00:00:00Z&to=2026-11-13T00:00:00Z")).toEqual([id("gp-5"), id("gp-4")]);
		expect(await listIds(alice, `sourceId=${randomUUID()}`)).toEqual([]);
		expect(await listIds(alice, "sort=publishedAt&pageSize=2")).toEqual([id("gp-1"), id("gp-2")]);
		const bySentiment = await listIds(alice, "sort=-sentiment");
		expect(bySentiment[0]).not.toBe(id("gp-1"));
		expect(bySentiment.at(-1)).not.toBe(id("gp-2"));

		const detail = await api.get<ReviewDetail>(`/reviews/${id("gp-1")}`, { token: alice.token });
		expect(detail.status).toBe(200);
		expect(detail.body).toMatchObject({ raw: { reviewId: "gp-1", thumbsUp: 12 }, previousVersions: [] });
	}, 60_000);

	it("keeps the earlier version of an edited review and analyses the new text", async () => {
		const alice = await signUp("editor");
		const sourceId = randomUUID();
		const [stored] = (await store(alice.tenantId, sourceId, [{ externalId: "as-1", rating: 1, body: "Terrible, it crashes all the time.", publishedAt: "2026-10-01T00:00:00Z" }])).ids;
		expect((await analysed(alice, sourceId, 1))[0].analysis!.sentiment.label).toBe("negative");

		const edit = await store(alice.tenantId, sourceId, [{ externalId: "as-1", rating: 5, body: "They fixed it in a day, now it works perfectly. Love it!", publishedAt: "2026-10-03T00:00:00Z" }]);
		expect(edit).toEqual({ inserted: 0, edited: 1, unchanged: 0, ids: [stored] });
		const [review] = await waitUntil("the edit's analysis", async () => {
			const rows = await analysed(alice, sourceId, 1);
			return rows[0].analysis!.sentiment.label === "positive" ? rows : undefined;
		});
		expect(review).toMatchObject({ id: stored, rating: 5, editCount: 1, publishedAt: "2026-10-03T00:00:00.000Z" });
		const detail = await api.get<ReviewDetail>(`/reviews/${stored}`, { token: alice.token });
		expect(detail.body.previousVersions).toEqual([
			{ title: null, body: "Terrible, it crashes all the time.", rating: 1, appVersion: null, publishedAt: "2026-10-01T00:00:00.000Z", replacedAt: expect.any(String) },
		]);
	}, 60_000);

	it("tags reviews and assigns them to members, never to someone outside the tenant", async () => {
		const alice = await signUp("tagger");
		const outsider = await signUp("outsider");
		const sourceId = randomUUID();
		const [first, second] = (await store(alice.tenantId, sourceId, APP_REVIEWS.slice(0, 2))).ids;

		const tagged = await api.put<PublicReview>(`/reviews/${first}`, { tags: ["urgent", "android", "urgent"], assigneeId: alice.userId }, { token: alice.token });
		expect(tagged.status, JSON.stringify(tagged.body)).toBe(200);
		expect(tagged.body).toMatchObject({ id: first, tags: ["urgent", "android"], assigneeId: alice.userId });
		expect(await listIds(alice, "tag=urgent")).toEqual([first]);
		expect(await listIds(alice, `assigneeId=${alice.userId}`)).toEqual([first]);

		expectProblem(await api.put(`/reviews/${second}`, { assigneeId: outsider.userId }, { token: alice.token }), 422, "ASSIGNEE_NOT_MEMBER");
		const unassigned = await api.put<PublicReview>(`/reviews/${first}`, { assigneeId: null }, { token: alice.token });
		expect(unassigned.body).toMatchObject({ tags: ["urgent", "android"], assigneeId: null });
		const rows = await storedRows(alice.tenantId);
		expect(rows.map((row) => row.assignee_id)).toEqual([null, null]);
	}, 30_000);
});

const SHIPPING = [
	"My parcel arrived two weeks late and the courier left it in the rain.",
	"The package never showed up, tracking still says in transit.",
	"Shipping took forever and the box was damaged on arrival.",
	"Delivery driver left my order at the wrong address again.",
	"Ordered on Monday, the parcel was delivered the next day. Fast shipping!",
	"Courier lost my package and nobody knows where it is.",
	"Tracking number doesn't work and the shipment is a week overdue.",
	"The parcel was delivered to a neighbour without any notice.",
];

describe("per-tenant topic classifiers", () => {
	it("trains a tenant's classifier from its labels, which changes that tenant's topics and no other's", async () => {
		const alice = await signUp("shop");
		const bob = await signUp("neighbour");
		const aliceSource = randomUUID();
		const bobSource = randomUUID();
		const reviews = SHIPPING.map((body, index) => ({ externalId: `ship-${index}`, rating: 2, body }));
		const aliceIds = (await store(alice.tenantId, aliceSource, reviews)).ids;
		await store(bob.tenantId, bobSource, reviews);
		await analysed(alice, aliceSource, SHIPPING.length, "default");
		await analysed(bob, bobSource, SHIPPING.length, "default");
		expect(await listIds(alice, "topic=shipping")).toEqual([]);

		const classifier = await api.post<PublicClassifier>("/classifiers", { name: "Shop topics", topics: [...DEFAULT_TOPICS, "shipping"] }, { token: alice.token });
		expect(classifier.status, JSON.stringify(classifier.body)).toBe(201);
		expect(classifier.headers.get("location")).toBe(`/api/v1/classifiers/${classifier.body.id}`);
		expect(classifier.body).toMatchObject({ status: "untrained", active: false, version: 0, includeDefaults: true });
		expectProblem(await api.post(`/classifiers/${classifier.body.id}/train`, {}, { token: alice.token }), 422, "NOT_ENOUGH_LABELS");

		// The first six are labelled; the last two are left for the classifier to recognise.
		for (const id of aliceIds.slice(0, 6)) {
			const labelled = await api.put<PublicReview>(`/reviews/${id}/topic`, { topic: "shipping" }, { token: alice.token });
			expect(labelled.status, JSON.stringify(labelled.body)).toBe(200);
			expect(labelled.body.labelledTopic).toBe("shipping");
		}
		const trained = await api.post<PublicClassifier>(`/classifiers/${classifier.body.id}/train`, {}, { token: alice.token });
		expect(trained.status, JSON.stringify(trained.body)).toBe(200);
		expect(trained.body).toMatchObject({ status: "trained", active: true, version: 1, examples: { shipping: 6 } });
		expect(trained.body.trainedAt).toEqual(expect.any(String));

		const queued = await api.post<Reanalysis>("/reviews/reanalyze", { sourceId: aliceSource }, { token: alice.token });
		expect(queued.status, JSON.stringify(queued.body)).toBe(202);
		// NLP_BATCH_SIZE is 4 on the nlp node: eight reviews go in two messages.
		expect(queued.body).toEqual({ reviews: SHIPPING.length, batches: 2 });
		const rows = await analysed(alice, aliceSource, SHIPPING.length, `${classifier.body.id}@1`);
		const unlabelled = rows.filter((row) => aliceIds.slice(6).includes(row.id));
		expect(unlabelled.map((row) => row.analysis!.topics[0])).toEqual(["shipping", "shipping"]);
		expect((await listIds(alice, "topic=shipping")).length).toBeGreaterThanOrEqual(7);

		// Bob's identical reviews keep the default classifier's topics, even analysed again.
		const since = new Date();
		expect((await api.post<Reanalysis>("/reviews/reanalyze", {}, { token: bob.token })).body).toEqual({ reviews: SHIPPING.length, batches: 2 });
		await waitUntil("bob's re-analysis", async () => {
			const [row] = await sql<{ n: string }>(`SELECT count(*) AS n FROM "reviews".reviews WHERE tenant_id = $1 AND analyzed_at >= $2`, [bob.tenantId, since]);
			return Number(row.n) === SHIPPING.length ? true : undefined;
		});
		expect(await listIds(bob, "topic=shipping")).toEqual([]);
		const bobRows = await analysed(bob, bobSource, SHIPPING.length, "default");
		expect(bobRows.every((row) => !row.analysis!.topics.includes("shipping"))).toBe(true);

		// Deactivated, the tenant's reviews go back to the default classifier.
		const off = await api.put<PublicClassifier>(`/classifiers/${classifier.body.id}`, { active: false }, { token: alice.token });
		expect(off.body).toMatchObject({ active: false, status: "trained" });
		const list = await api.get<{ rows: PublicClassifier[]; total: number }>("/classifiers", { token: alice.token });
		expect(list.body).toMatchObject({ total: 1, rows: [{ id: classifier.body.id, active: false }] });
		expect((await api.post<Reanalysis>("/reviews/reanalyze", { sourceId: aliceSource }, { token: alice.token })).status).toBe(202);
		await analysed(alice, aliceSource, SHIPPING.length, "nlp-1+default");
	}, 90_000);
});

describe("reviews and classifiers are their tenant's", () => {
	it("answers another tenant's review, classifier and source with 404, and changes nothing", async () => {
		const alice = await signUp("owner");
		const mallory = await signUp("mallory");
		const sourceId = randomUUID();
		const [review] = (await store(alice.tenantId, sourceId, APP_REVIEWS.slice(0, 1))).ids;
		const classifier = await api.post<PublicClassifier>("/classifiers", { name: "Private" }, { token: alice.token });
		expect(classifier.status).toBe(201);
		const before = await storedRows(alice.tenantId);

		for (const id of [review, "not-a-uuid", randomUUID()]) {
			expectProblem(await api.get(`/reviews/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.put(`/reviews/${id}`, { tags: ["mine"] }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.put(`/reviews/${id}/topic`, { topic: "bugs" }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
		}
		for (const id of [classifier.body.id, "not-a-uuid"]) {
			expectProblem(await api.get(`/classifiers/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.post(`/classifiers/${id}/train`, {}, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.put(`/classifiers/${id}`, { name: "Mine" }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.delete(`/classifiers/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
		}
		expectProblem(await api.post("/reviews/reanalyze", { sourceId }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
		expect((await api.get<Page>("/reviews", { token: mallory.token })).body).toMatchObject({ rows: [], total: 0 });
		expect((await api.get<Page>(`/reviews?sourceId=${sourceId}`, { token: mallory.token })).body.total).toBe(0);
		expect((await api.get<{ total: number }>("/classifiers", { token: mallory.token })).body.total).toBe(0);
		expectProblem(await api.get("/reviews"), 401, "UNAUTHORIZED");

		expect(await storedRows(alice.tenantId)).toEqual(before);
		expect((await api.get<PublicClassifier>(`/classifiers/${classifier.body.id}`, { token: alice.token })).body.name).toBe("Private");
	}, 30_000);
});

describe("bad input", () => {
	it("is refused with 4xx problem+json and changes nothing", async () => {
		const alice = await signUp("careful");
		const sourceId = randomUUID();
		const [review] = (await store(alice.tenantId, sourceId, APP_REVIEWS.slice(0, 1))).ids;
		const before = await storedRows(alice.tenantId);

		for (const query of ["rating=6", "rating=two", "sentiment=happy", "topic=Not%20A%20Topic", "language=english", "from=yesterday", "sort=nosuch", "pageSize=1000", "sourceId=nope", "assigneeId=1"]) {
			expectProblem(await api.get(`/reviews?${query}`, { token: alice.token }), 400, "VALIDATION_ERROR");
		}
		expectProblem(await api.get("/reviews?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", { token: alice.token }), 400, "INVALID_DATE_RANGE");
		expectProblem(await api.put(`/reviews/${review}`, { tags: Array.from({ length: 21 }, (_, index) => `t${index}`) }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.put(`/reviews/${review}`, { tags: [" "] }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.put(`/reviews/${review}`, { tags: null }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.put(`/reviews/${review}`, { assigneeId: "someone" }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.put(`/reviews/${review}/topic`, { topic: "Not Valid" }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.put(`/reviews/${review}/topic`, {}, { token: alice.token }), 400, "VALIDATION_ERROR");

		expectProblem(await api.post("/classifiers", { name: "" }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/classifiers", { name: "One topic", topics: ["bugs"] }, { token: alice.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/classifiers", { name: "Twice", topics: ["bugs", "bugs"] }, { token: alice.token }), 400, "VALIDATION_ERROR");
		const classifier = await api.post<PublicClassifier>("/classifiers", { name: "Mine" }, { token: alice.token });
		expectProblem(await api.post("/classifiers", { name: "Mine" }, { token: alice.token }), 409, "ALREADY_EXISTS");
		expectProblem(await api.put(`/classifiers/${classifier.body.id}`, { active: true }, { token: alice.token }), 409, "CLASSIFIER_NOT_TRAINED");
		expectProblem(await api.post(`/classifiers/${classifier.body.id}/train`, {}, { token: alice.token }), 422, "NOT_ENOUGH_LABELS");
		expectProblem(await api.post("/reviews/reanalyze", { sourceId: "nope" }, { token: alice.token }), 400, "VALIDATION_ERROR");

		// The internal action checks what collectors send, and who sends it.
		await expect(store(alice.tenantId, sourceId, [{ externalId: "", body: "x" }])).rejects.toMatchObject({ type: "VALIDATION_ERROR" });
		await expect(store(alice.tenantId, sourceId, [{ externalId: "x", body: "x", rating: 6 }])).rejects.toMatchObject({ type: "VALIDATION_ERROR" });
		await expect(store(alice.tenantId, sourceId, [])).rejects.toMatchObject({ type: "VALIDATION_ERROR" });
		await expect(
			core.broker.call("reviews.store", { tenantId: alice.tenantId, sourceId, reviews: [{ externalId: "x", body: "x" }] }, { meta: { user: { id: alice.userId, persona: "end_user" }, tenantId: alice.tenantId, role: "owner" } }),
		).rejects.toMatchObject({ code: 403 });

		expect(await storedRows(alice.tenantId)).toEqual(before);
		const classifiers = await sql(`SELECT status, active, version FROM "nlp".classifiers WHERE tenant_id = $1`, [alice.tenantId]);
		expect(classifiers).toEqual([{ status: "untrained", active: false, version: 0 }]);
	}, 30_000);
});
