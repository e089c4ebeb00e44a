/**
 * The one ownership rule (mixins/db-scope.ts) on its own: which rows each caller reaches, for one row by id
 * ("row") and for the caller's view of a table ("rows"), with a caller × ownership matrix.
 */
import { describe, expect, it } from "vitest";
import { ownerCondition, scopeCacheKeys, stampOwner, type Ownership, type ScopeReach } from "../../mixins/db-scope";
import { DbMixin } from "../../mixins/db.mixin";
import { MemoModel } from "../fixtures/memos/memos.service";
import type { CallerMeta } from "../../lib/caller";

const member: CallerMeta = { user: { id: "u1", persona: "end_user" }, persona: "end_user", tenantId: "t1", role: "member" };
const apiKey: CallerMeta = { apiKeyId: "k1", tenantId: "t1", role: "member", scopes: ["*"] };
const noTenant: CallerMeta = { user: { id: "u2", persona: "end_user" }, persona: "end_user" };
const superAdmin: CallerMeta = { user: { id: "u9", persona: "super_admin" }, persona: "super_admin" };
const superAdminInT1: CallerMeta = { ...superAdmin, tenantId: "t1", role: "owner" };
const system: CallerMeta = { $system: true };
const anonymous: CallerMeta = {};

type Outcome = Record<string, unknown> | "none" | 403;

function outcome(ownership: Ownership, meta: CallerMeta, reach: ScopeReach): Outcome {
	try {
		return ownerCondition(ownership, meta, reach) ?? "none";
	} catch (err) {
		return (err as { code: number }).code as 403;
	}
}

const callers: Array<[string, CallerMeta]> = [
	["member", member],
	["api key", apiKey],
	["no tenant", noTenant],
	["super admin", superAdmin],
	["super admin in t1", superAdminInT1],
	["system", system],
	["anonymous", anonymous],
];

/** Expected [row, rows] per caller, in the order of `callers`. */
const matrix: Array<[string, Ownership, Array<[Outcome, Outcome]>]> = [
	[
		"tenant",
		{ owner: "tenant" },
		[
			[{ tenantId: "t1" }, { tenantId: "t1" }],
			[{ tenantId: "t1" }, { tenantId: "t1" }],
			[403, 403],
			[{}, {}],
			[{}, { tenantId: "t1" }],
			[{}, {}],
			[403, 403],
		],
	],
	[
		"tenant, platform lists all",
		{ owner: "tenant", platformLists: "all" },
		[
			[{ tenantId: "t1" }, { tenantId: "t1" }],
			[{ tenantId: "t1" }, { tenantId: "t1" }],
			[403, 403],
			[{}, {}],
			[{}, {}],
			[{}, {}],
			[403, 403],
		],
	],
	[
		"user",
		{ owner: "user" },
		[
			[{ userId: "u1" }, { userId: "u1" }],
			["none", 403],
			[{ userId: "u2" }, { userId: "u2" }],
			[{}, {}],
			[{}, {}],
			[{}, {}],
			["none", 403],
		],
	],
	[
		"user, seen by nobody else",
		{ owner: "user", seesAll: "nobody" },
		[
			[{ userId: "u1" }, { userId: "u1" }],
			["none", 403],
			[{ userId: "u2" }, { userId: "u2" }],
			[{ userId: "u9" }, { userId: "u9" }],
			[{ userId: "u9" }, { userId: "u9" }],
			["none", 403],
			["none", 403],
		],
	],
	[
		"tenant and user",
		{ owner: "tenant-and-user", tenantField: "orgId", userField: "ownerId" },
		[
			[{ orgId: "t1", ownerId: "u1" }, { orgId: "t1", ownerId: "u1" }],
			["none", 403],
			[403, 403],
			[{}, {}],
			[{}, { orgId: "t1" }],
			[{}, {}],
			[403, 403],
		],
	],
	[
		"nobody's, the public sees active ones, super admins all",
		{ owner: "none", visible: { status: "active" }, seesAll: "super_admin" },
		[
			[{ status: "active" }, { status: "active" }],
			[{ status: "active" }, { status: "active" }],
			[{ status: "active" }, { status: "active" }],
			[{}, {}],
			[{}, {}],
			[{ status: "active" }, { status: "active" }],
			[{ status: "active" }, { status: "active" }],
		],
	],
];

describe("issue 13: one rule for whose row is this", () => {
	for (const [label, ownership, expected] of matrix) {
		it(`${label}: each caller's condition, by id and as a list`, () => {
			const actual = callers.map(([who, meta]) => ({ who, row: outcome(ownership, meta, "row"), rows: outcome(ownership, meta, "rows") }));
			expect(actual).toEqual(callers.map(([who], index) => ({ who, row: expected[index][0], rows: expected[index][1] })));
		});
	}

	it("says why a user-owned list is refused", () => {
		expect(() => ownerCondition({ owner: "user", userRequired: "Only people have these" }, apiKey, "rows")).toThrow(
			expect.objectContaining({ code: 403, type: "USER_REQUIRED", message: "Only people have these" }),
		);
		expect(() => ownerCondition({ owner: "tenant" }, noTenant, "rows")).toThrow(expect.objectContaining({ type: "TENANT_REQUIRED" }));
	});

	it("stamps new rows with the creator's tenant and user; platform work outside a tenant names them", () => {
		const values: Record<string, unknown> = { tenantId: "t2", userId: "someone" };
		stampOwner({ owner: "tenant-and-user" }, member, values);
		expect(values).toEqual({ tenantId: "t1", userId: "u1" });
		const named = { tenantId: "t2" };
		stampOwner({ owner: "tenant" }, system, named);
		expect(named).toEqual({ tenantId: "t2" });
		expect(() => stampOwner({ owner: "tenant" }, system, {})).toThrow(expect.objectContaining({ code: 422, type: "TENANT_REQUIRED" }));
		expect(() => stampOwner({ owner: "user" }, apiKey, {})).toThrow(expect.objectContaining({ code: 403, type: "USER_REQUIRED" }));
	});

	it("keys cached reads by what the condition depends on", () => {
		expect(scopeCacheKeys({ owner: "tenant" })).toEqual(["#tenantId"]);
		expect(scopeCacheKeys({ owner: "tenant-and-user" })).toEqual(["#tenantId", "#user.id"]);
		expect(scopeCacheKeys({ owner: "none", visible: { status: "active" } })).toEqual(["#persona", "#$system"]);
	});

	it("takes one declaration per model: none for a model the service doesn't have, none twice, none contradicting", () => {
		const base = { schema: "memos", migrations: __dirname, model: MemoModel };
		expect(() => DbMixin({ ...base, owners: { nosuch: "tenant" } })).toThrow(/not a model of the service/);
		expect(() => DbMixin({ ...base, owner: "tenant", owners: { memo: "user" } })).toThrow(/declared twice/);
		expect(() => DbMixin({ ...base, owner: "user", tenantOwned: true })).toThrow(/contradicts/);
		expect(() => DbMixin({ ...base, owners: { memo: "user" } })).not.toThrow();
	});
});
