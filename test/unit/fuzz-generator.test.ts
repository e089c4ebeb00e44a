/**
 * The fuzz generator on its own: the same seed gives the same requests, a short run still covers every
 * (operation, variant family) pair, and the malformed parts are sent as they are, not re-encoded.
 */
import { describe, expect, it } from "vitest";
import { CALLER_KINDS, generateRound } from "../fuzz/cases";
import { operationsOf } from "../fuzz/spec";
import { existingTarget } from "../fuzz/target";

const DOCUMENT = {
	paths: {
		"/api/v1/things": {
			get: { operationId: "things.list", parameters: [{ name: "page", in: "query", schema: { type: "integer" } }], security: [] },
			post: {
				operationId: "things.create",
				requestBody: { required: true, content: { "application/json": { schema: { type: "object", properties: { name: { type: "string" }, count: { type: "integer" } }, required: ["name"] } } } },
				security: [{ bearerAuth: [] }],
			},
		},
		"/api/v1/things/{id}": { put: { operationId: "things.update", parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } }], security: [{ bearerAuth: [] }] } },
		"/api/v1/files": { post: { operationId: "files.upload", requestBody: { content: { "multipart/form-data": { schema: { type: "object" } } } } } },
	},
};

const operations = operationsOf(DOCUMENT as unknown as Parameters<typeof operationsOf>[0]);
const options = { seed: 42, bodyLimit: 1024, owned: { user: { things: "11111111-1111-4111-8111-111111111111" } } };
const summary = (seed: number, limit?: number) => generateRound(operations, { ...options, seed }, 0, limit).map((fuzzCase) => `${fuzzCase.caller} ${fuzzCase.method} ${fuzzCase.target} ${fuzzCase.variant} ${fuzzCase.body?.toString("base64") ?? ""}`);

describe("fuzz generator", () => {
	it("gives the same requests for the same seed and other ones for another", () => {
		expect(summary(42)).toEqual(summary(42));
		expect(summary(43)).not.toEqual(summary(42));
	});

	it("covers every operation for every caller, and every (operation, family) pair even when cut short", () => {
		const full = generateRound(operations, options, 0);
		const short = generateRound(operations, options, 0, 200);
		expect(short).toHaveLength(200);
		const pairs = (cases: typeof full) => new Set(cases.map((fuzzCase) => `${fuzzCase.operation} ${fuzzCase.family}`));
		expect(pairs(short)).toEqual(pairs(full));
		for (const operation of operations) {
			for (const caller of CALLER_KINDS) expect(short.some((fuzzCase) => fuzzCase.operation === operation.key && fuzzCase.caller === caller && fuzzCase.family === "baseline")).toBe(true);
		}
	});

	it("sends malformed escapes, lying encodings and oversized bodies as they are", () => {
		const cases = generateRound(operations, options, 0);
		expect(cases.filter((fuzzCase) => fuzzCase.family === "path-escape").map((fuzzCase) => fuzzCase.target)).toContain("/api/v1/things/%ff");
		expect(cases.some((fuzzCase) => fuzzCase.target === "/api/v1/things/%E0%A4%A")).toBe(true);
		const encoded = cases.find((fuzzCase) => fuzzCase.variant === "content-encoding:gzip" && fuzzCase.operation === "POST /api/v1/things");
		expect(encoded?.headers["Content-Encoding"]).toBe("gzip");
		expect(() => JSON.parse(encoded!.body!.toString())).not.toThrow();
		const oversized = cases.find((fuzzCase) => fuzzCase.variant === "oversized-body:json");
		expect(oversized!.body!.length).toBeGreaterThan(1024);
		const owned = cases.find((fuzzCase) => fuzzCase.caller === "user" && fuzzCase.variant === "baseline:own-id");
		expect(owned?.target).toBe("/api/v1/things/11111111-1111-4111-8111-111111111111");
		expect(cases.some((fuzzCase) => fuzzCase.caller === "anonymous" && fuzzCase.target.includes("11111111"))).toBe(false);
	});

	it("aims only at loopback addresses", () => {
		expect(existingTarget("http://127.0.0.1:3000").url).toBe("http://127.0.0.1:3000");
		expect(existingTarget("http://[::1]:3000/x").url).toBe("http://[::1]:3000");
		for (const url of ["http://10.0.0.1:3000", "https://example.com", "http://127.0.0.1.nip.io:3000", "http://0.0.0.0:3000"]) expect(() => existingTarget(url)).toThrow(/loopback/);
	});
});
