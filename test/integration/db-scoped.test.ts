/**
 * DbMixin's caller-scoped row access on the real PostgreSQL: custom actions reach rows only through
 * `this.scoped(ctx)`, and tenant A's caller can't read, count, change or delete tenant B's rows through any of
 * its methods; a user's rows are theirs alone; platform callers ($system, super admins) reach every owner's,
 * and a declared `scope` takes its owner from the same declaration.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { Client } from "pg";
import { ServiceBroker } from "moleculer";
import { createBrokerOptions } from "../../moleculer.config";
import { loadConfig } from "../../lib/config";
import type { CallerMeta } from "../../lib/caller";
import { memosService, type MemoRow } from "../fixtures/memos/memos.service";
import { baseEnv } from "../helpers/nodes";

const testEnv = inject("testEnv");
const tenantSchema = `memos_t_${testEnv.runId}`;
const userSchema = `memos_u_${testEnv.runId}`;
const MISSING = "00000000-0000-4000-8000-000000000000";

const memberOfA: CallerMeta = { tenantId: "tenant-a", user: { id: "user-a", persona: "end_user" }, persona: "end_user", role: "member" };
const colleagueInA: CallerMeta = { tenantId: "tenant-a", user: { id: "user-a2", persona: "end_user" }, persona: "end_user", role: "member" };
const memberOfB: CallerMeta = { tenantId: "tenant-b", user: { id: "user-b", persona: "end_user" }, persona: "end_user", role: "owner" };
const keyOfA: CallerMeta = { tenantId: "tenant-a", apiKeyId: "key-a", role: "member", scopes: ["*"] };
const noTenant: CallerMeta = { user: { id: "user-c", persona: "end_user" }, persona: "end_user" };
const system: CallerMeta = { $system: true };
const superAdmin: CallerMeta = { user: { id: "root", persona: "super_admin" }, persona: "super_admin" };
const superAdminInA: CallerMeta = { ...superAdmin, tenantId: "tenant-a", role: "owner" };

let broker: ServiceBroker;

function call<T>(action: string, params: Record<string, unknown>, meta: CallerMeta): Promise<T> {
	return broker.call<T, Record<string, unknown>>(action, params, { meta: { ...meta } });
}

const titles = (rows: MemoRow[]) => rows.map((row) => row.title).sort();

beforeAll(async () => {
	broker = new ServiceBroker(createBrokerOptions(loadConfig(baseEnv({ SERVICES: "platform" }))));
	broker.createService(memosService("tenantMemos", tenantSchema, { owner: "tenant" }));
	broker.createService(memosService("userMemos", userSchema, { owner: "user", userRequired: "Memos belong to people" }));
	await broker.start();
});

afterAll(async () => {
	await broker?.stop();
	const client = new Client({ connectionString: testEnv.databaseUrl });
	await client.connect();
	try {
		await client.query(`DROP SCHEMA IF EXISTS "${tenantSchema}" CASCADE; DROP SCHEMA IF EXISTS "${userSchema}" CASCADE`);
	} finally {
		await client.end();
	}
});

describe("scoped(ctx) on tenant-owned rows", () => {
	let ofA: MemoRow;
	let ofB: MemoRow;

	it("creates rows in the caller's tenant, whatever the values say", async () => {
		ofA = await call<MemoRow>("tenantMemos.createMemo", { title: "a1", tenantId: "tenant-b" }, memberOfA);
		expect(ofA.tenantId).toBe("tenant-a");
		await call("tenantMemos.createMemo", { title: "a2" }, memberOfA);
		ofB = await call<MemoRow>("tenantMemos.createMemo", { title: "b1" }, memberOfB);
		expect(ofB.tenantId).toBe("tenant-b");
		// Platform work outside a tenant names the tenant itself, or is refused (422), never guessed.
		expect((await call<MemoRow>("tenantMemos.createMemo", { title: "b2", tenantId: "tenant-b" }, system)).tenantId).toBe("tenant-b");
		await expect(call("tenantMemos.createMemo", { title: "nowhere" }, system)).rejects.toMatchObject({ code: 422, type: "TENANT_REQUIRED" });
		expect(titles(await call<MemoRow[]>("tenantMemos.all", {}, system))).toEqual(["a1", "a2", "b1", "b2"]);
	});

	it("reads, counts and pages only the caller's tenant, even when `where` names another", async () => {
		for (const where of [undefined, { tenantId: "tenant-b" }]) {
			expect(titles(await call<MemoRow[]>("tenantMemos.findMemos", { where }, memberOfA))).toEqual(["a1", "a2"]);
			expect(await call("tenantMemos.countMemos", { where }, memberOfA)).toBe(2);
			const page = await call<{ rows: MemoRow[]; total: number }>("tenantMemos.pageMemos", { where }, memberOfA);
			expect({ titles: titles(page.rows), total: page.total }).toEqual({ titles: ["a1", "a2"], total: 2 });
		}
		expect(await call("tenantMemos.findMemo", { where: { title: "b1" } }, memberOfA)).toBeNull();
		expect(await call("tenantMemos.findMemo", { where: { id: ofB.id } }, memberOfA)).toBeNull();
		expect(await call("tenantMemos.findMemoById", { id: ofB.id }, memberOfA)).toBeNull();
		expect(await call<MemoRow>("tenantMemos.findMemoById", { id: ofA.id.toUpperCase() }, memberOfA)).toMatchObject({ id: ofA.id });
		expect(await call("tenantMemos.conditionOf", {}, memberOfA)).toEqual({ tenantId: "tenant-a" });
	});

	it("answers another tenant's id like a missing or malformed one: 404", async () => {
		for (const id of [ofB.id, MISSING, "not-a-uuid", ""]) {
			await expect(call("tenantMemos.getMemo", { id }, memberOfA)).rejects.toMatchObject({ code: 404, type: "ENTITY_NOT_FOUND" });
			await expect(call("tenantMemos.show", { id }, memberOfA)).rejects.toMatchObject({ code: 404, type: "ENTITY_NOT_FOUND" });
		}
		expect(await call<MemoRow>("tenantMemos.getMemo", { id: ofA.id }, memberOfA)).toMatchObject({ id: ofA.id, title: "a1" });
		expect(await call<MemoRow>("tenantMemos.show", { id: ofA.id }, colleagueInA)).toMatchObject({ id: ofA.id });
	});

	it("changes and deletes nothing of another tenant, and never moves a row to another tenant", async () => {
		expect(await call("tenantMemos.updateMemos", { changes: { title: "hijacked" }, where: { id: ofB.id } }, memberOfA)).toBe(0);
		expect(await call("tenantMemos.updateMemosReturning", { changes: { title: "hijacked" }, where: { tenantId: "tenant-b" } }, memberOfA)).toEqual([]);
		expect(await call("tenantMemos.destroyMemos", { where: { id: ofB.id } }, memberOfA)).toBe(0);
		expect(await call("tenantMemos.destroyMemos", { where: { tenantId: "tenant-b" } }, memberOfA)).toBe(0);
		expect(await call<MemoRow>("tenantMemos.getMemo", { id: ofB.id }, memberOfB)).toMatchObject({ title: "b1", tenantId: "tenant-b" });

		const [moved] = await call<MemoRow[]>("tenantMemos.updateMemosReturning", { changes: { title: "a1!", tenantId: "tenant-b" }, where: { id: ofA.id } }, memberOfA);
		expect(moved).toMatchObject({ id: ofA.id, title: "a1!", tenantId: "tenant-a" });
		expect(await call("tenantMemos.updateMemos", { changes: { title: "a1" }, where: { id: ofA.id } }, memberOfA)).toBe(1);
	});

	it("refuses a caller with no active tenant (403), as every tenant-scoped action does", async () => {
		for (const action of ["findMemos", "countMemos", "pageMemos", "createMemo"]) {
			await expect(call(`tenantMemos.${action}`, {}, noTenant)).rejects.toMatchObject({ code: 403, type: "TENANT_REQUIRED" });
		}
		await expect(call("tenantMemos.show", { id: ofA.id }, noTenant)).rejects.toMatchObject({ code: 403, type: "TENANT_REQUIRED" });
	});

	it("lets platform callers reach every tenant's rows; one acting inside a tenant lists that tenant's", async () => {
		for (const meta of [system, superAdmin]) {
			expect(titles(await call<MemoRow[]>("tenantMemos.findMemos", {}, meta))).toEqual(["a1", "a2", "b1", "b2"]);
			expect(await call<MemoRow>("tenantMemos.getMemo", { id: ofB.id }, meta)).toMatchObject({ id: ofB.id });
			expect(await call<MemoRow>("tenantMemos.show", { id: ofB.id }, meta)).toMatchObject({ id: ofB.id });
			await expect(call("tenantMemos.show", { id: MISSING }, meta)).rejects.toMatchObject({ code: 404 });
		}
		expect(titles(await call<MemoRow[]>("tenantMemos.findMemos", {}, superAdminInA))).toEqual(["a1", "a2"]);
		// One row by id (a declared scope) is the platform's to reach in any tenant.
		expect(await call<MemoRow>("tenantMemos.show", { id: ofB.id }, superAdminInA)).toMatchObject({ id: ofB.id });
	});
});

describe("scoped(ctx) on user-owned rows", () => {
	let mine: MemoRow;

	beforeAll(async () => {
		mine = await call<MemoRow>("userMemos.createMemo", { title: "mine", tenantId: "tenant-a", userId: "user-a2" }, memberOfA);
		await call("userMemos.createMemo", { title: "colleague's", tenantId: "tenant-a" }, colleagueInA);
	});

	it("stamps and shows a user's rows to that user only, a colleague in the same tenant included", async () => {
		expect(mine.userId).toBe("user-a");
		expect(titles(await call<MemoRow[]>("userMemos.findMemos", { where: { userId: "user-a2" } }, memberOfA))).toEqual(["mine"]);
		expect(titles(await call<MemoRow[]>("userMemos.findMemos", {}, colleagueInA))).toEqual(["colleague's"]);
		await expect(call("userMemos.getMemo", { id: mine.id }, colleagueInA)).rejects.toMatchObject({ code: 404 });
		await expect(call("userMemos.show", { id: mine.id }, colleagueInA)).rejects.toMatchObject({ code: 404 });
		expect(await call("userMemos.destroyMemos", { where: { id: mine.id } }, colleagueInA)).toBe(0);
		expect(await call<MemoRow>("userMemos.show", { id: mine.id }, memberOfA)).toMatchObject({ id: mine.id });
	});

	it("refuses a list to a caller with no user (an API key: 403), and finds it no row by id (404)", async () => {
		await expect(call("userMemos.findMemos", {}, keyOfA)).rejects.toMatchObject({ code: 403, type: "USER_REQUIRED", message: "Memos belong to people" });
		await expect(call("userMemos.show", { id: mine.id }, keyOfA)).rejects.toMatchObject({ code: 404, type: "ENTITY_NOT_FOUND" });
	});

	it("lets platform callers reach everyone's", async () => {
		for (const meta of [system, superAdmin, superAdminInA]) {
			expect(titles(await call<MemoRow[]>("userMemos.findMemos", {}, meta))).toEqual(["colleague's", "mine"]);
			expect(await call<MemoRow>("userMemos.show", { id: mine.id }, meta)).toMatchObject({ id: mine.id });
		}
	});
});

describe("one declaration", () => {
	it("refuses an action whose scope restates another owner than its service declares", () => {
		const other = new ServiceBroker({ ...createBrokerOptions(loadConfig(baseEnv({ SERVICES: "platform" }))), transporter: undefined });
		const schema = memosService("contradicting", `${tenantSchema}_x`, { owner: "tenant" });
		schema.actions = { show: { scope: { entity: "memo", owner: "user" }, handler: () => null } };
		expect(() => other.createService(schema)).toThrow(/owned by "user", its service declares "tenant"/);
	});
});
