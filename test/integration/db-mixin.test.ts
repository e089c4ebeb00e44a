/**
 * DbMixin on the real PostgreSQL: migrations, tenant scoping (another tenant's id is 404), per-tenant cache
 * keys, and cache cleaning across two nodes on NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { Client } from "pg";
import { ServiceBroker } from "moleculer";
import { createBrokerOptions } from "../../moleculer.config";
import { loadConfig } from "../../lib/config";
import { notesService } from "../fixtures/notes/notes.service";
import { baseEnv } from "../helpers/nodes";

const testEnv = inject("testEnv");
const schema = `notes_${testEnv.runId}`;
const tenantA = { tenantId: "tenant-a", user: { id: "user-a", persona: "end_user" }, role: "owner" };
const tenantB = { tenantId: "tenant-b", user: { id: "user-b", persona: "end_user" }, role: "owner" };

interface Note {
	id: string;
	tenantId: string;
	title: string;
	slug: string;
}

function createBroker(overrides: Record<string, string> = {}): ServiceBroker {
	const config = loadConfig(baseEnv({ SERVICES: "platform", ...overrides }));
	const broker = new ServiceBroker(createBrokerOptions(config));
	broker.createService(notesService(schema));
	return broker;
}

async function rows(sql: string): Promise<Array<Record<string, unknown>>> {
	const client = new Client({ connectionString: testEnv.databaseUrl });
	await client.connect();
	try {
		return (await client.query(sql)).rows;
	} finally {
		await client.end();
	}
}

/** Starting returns before the nodes have exchanged INFO packets; wait until each sees the other's services. */
async function waitForPeer(broker: ServiceBroker, peer: string): Promise<void> {
	await broker.waitForServices({ name: "notes" }, 10_000);
	for (let attempt = 0; attempt < 100; attempt += 1) {
		if (broker.registry.getServiceList({ onlyAvailable: true }).some((service) => service.name === "notes" && service.nodeID === peer)) return;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	throw new Error(`${broker.nodeID} never saw ${peer}`);
}

let first: ServiceBroker;
let second: ServiceBroker;

beforeAll(async () => {
	// Two nodes starting at once against an empty schema: the advisory lock lets one migrate.
	first = createBroker({ TRANSPORTER: testEnv.natsUrl });
	second = createBroker({ TRANSPORTER: testEnv.natsUrl });
	await Promise.all([first.start(), second.start()]);
	await Promise.all([waitForPeer(first, second.nodeID), waitForPeer(second, first.nodeID)]);
});

afterAll(async () => {
	await Promise.all([first?.stop(), second?.stop()]);
	await rows(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
});

describe("migrations", () => {
	it("applied each migration once, in the service's own schema", async () => {
		const applied = await rows(`SELECT name FROM "${schema}".schema_migrations`);
		expect(applied.map((row) => row.name)).toEqual(["0001-create-notes"]);
		const tables = await rows(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY table_name`);
		expect(tables.map((row) => row.table_name)).toEqual(["notes", "schema_migrations"]);
	});
});

describe("tenant scoping", () => {
	let noteOfA: Note;

	it("stamps the caller's tenant on create, whatever the body says", async () => {
		noteOfA = await first.call<Note, object>("notes.create", { title: "Plan", slug: "plan", tenantId: "tenant-b" }, { meta: tenantA });
		expect(noteOfA.tenantId).toBe("tenant-a");
		await first.call("notes.create", { title: "B's", slug: "b-note" }, { meta: tenantB });
	});

	it("lists only the caller's tenant, even with a query naming another", async () => {
		const listA = await first.call<{ rows: Note[]; total: number }, object>("notes.list", {}, { meta: tenantA });
		expect(listA.rows.map((note) => note.slug)).toEqual(["plan"]);
		expect(listA).toMatchObject({ total: 1, page: 1, pageSize: 20, totalPages: 1 });
		// A published list drops moleculer-db's raw `query`; the unpublished find and count take it, still scoped.
		const sneaky = await first.call<{ rows: Note[] }, object>("notes.list", { query: JSON.stringify({ tenantId: "tenant-b" }) }, { meta: tenantA });
		expect(sneaky.rows.map((note) => note.slug)).toEqual(["plan"]);
		const found = await first.call<Note[], object>("notes.find", { query: JSON.stringify({ tenantId: "tenant-b" }) }, { meta: tenantA });
		expect(found.map((note) => note.slug)).toEqual(["plan"]);
		expect(await first.call("notes.count", { query: { tenantId: "tenant-b" } }, { meta: tenantA })).toBe(1);
	});

	it("answers another tenant's id exactly like a missing one (404)", async () => {
		for (const [action, params] of [
			["notes.get", { id: noteOfA.id }],
			["notes.update", { id: noteOfA.id, title: "hijacked" }],
			["notes.remove", { id: noteOfA.id }],
		] as const) {
			await expect(first.call(action, params, { meta: tenantB })).rejects.toMatchObject({ code: 404, type: "ENTITY_NOT_FOUND" });
		}
		await expect(first.call("notes.get", { id: "00000000-0000-4000-8000-000000000000" }, { meta: tenantB })).rejects.toMatchObject({ code: 404 });
		await expect(first.call("notes.get", { id: "not-a-uuid" }, { meta: tenantB })).rejects.toMatchObject({ code: 404 });
		const unchanged = await first.call<Note, object>("notes.get", { id: noteOfA.id }, { meta: tenantA });
		expect(unchanged.title).toBe("Plan");
	});

	it("refuses a call with no tenant unless it is platform work", async () => {
		await expect(first.call("notes.list", {}, { meta: { user: { id: "u", persona: "end_user" } } })).rejects.toMatchObject({ code: 403, type: "TENANT_REQUIRED" });
		const all = await first.call<{ total: number }, object>("notes.list", {}, { meta: { $system: true } });
		expect(all.total).toBe(2);
	});

	it("turns bad input into 4xx, never 500", async () => {
		await expect(first.call("notes.find", { query: "{oops" }, { meta: tenantA })).rejects.toMatchObject({ code: 400, type: "INVALID_QUERY" });
		// A published list validates like every other list (issue 11, finding 3).
		await expect(first.call("notes.list", { sort: "nosuch" }, { meta: tenantA })).rejects.toMatchObject({ type: "VALIDATION_ERROR" });
		await expect(first.call("notes.list", { page: "99999999999999999999" }, { meta: tenantA })).rejects.toMatchObject({ type: "VALIDATION_ERROR" });
		await expect(first.call("notes.create", { title: "Again", slug: "plan" }, { meta: tenantA })).rejects.toMatchObject({ code: 409, type: "ALREADY_EXISTS" });
		await expect(first.call("notes.create", { title: "" }, { meta: tenantA })).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
	});
});

describe("caching", () => {
	it("keys cached reads by tenant", async () => {
		const a = await first.call<{ rows: Note[] }, object>("notes.list", {}, { meta: tenantA, nodeID: first.nodeID });
		const b = await first.call<{ rows: Note[] }, object>("notes.list", {}, { meta: tenantB, nodeID: first.nodeID });
		expect(a.rows.map((note) => note.tenantId)).toEqual(["tenant-a"]);
		expect(b.rows.map((note) => note.tenantId)).toEqual(["tenant-b"]);
	});

	it("cleans every node's cache when any node changes an entity", async () => {
		const before = await first.call<{ total: number }, object>("notes.list", {}, { meta: tenantA, nodeID: first.nodeID });
		await second.call("notes.create", { title: "New", slug: "new" }, { meta: tenantA, nodeID: second.nodeID });
		await new Promise((resolve) => setTimeout(resolve, 200));
		const after = await first.call<{ total: number }, object>("notes.list", {}, { meta: tenantA, nodeID: first.nodeID });
		expect(after.total).toBe(before.total + 1);
	});
});
