/**
 * Issue 11, finding 2: the broker's validator refuses `null` in every field that does not declare
 * `nullable: true`, whatever the notation and depth, and keeps fastest-validator's behaviour otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceBroker } from "moleculer";
import { PlatformValidator } from "../../lib/validator";

const validator = new PlatformValidator();

function errorsOf(schema: Record<string, unknown>, value: Record<string, unknown>): Array<{ field: string; type: string }> | true {
	const result = validator.compile(schema)(value) as true | Array<{ field: string; type: string }>;
	return result === true ? true : result.map(({ field, type }) => ({ field, type }));
}

describe("finding 2: PlatformValidator", () => {
	it("finding 2: refuses null in optional fields, in the object and the shorthand notations, at any depth", () => {
		const schema = {
			fullName: { type: "string", optional: true },
			nickname: "string|optional",
			page: { type: "number", optional: true, default: 1 },
			address: { type: "object", optional: true, props: { city: { type: "string", optional: true } } },
			tags: { type: "array", optional: true, items: "string" },
			name: "string",
		};
		expect(errorsOf(schema, { fullName: null, nickname: null, page: null, address: { city: null }, tags: null, name: null })).toEqual([
			{ field: "fullName", type: "notNull" },
			{ field: "nickname", type: "notNull" },
			{ field: "page", type: "notNull" },
			{ field: "address.city", type: "notNull" },
			{ field: "tags", type: "notNull" },
			{ field: "name", type: "notNull" },
		]);
	});

	it("finding 2: keeps null where a field declares nullable, and undefined, defaults and values as before", () => {
		const schema = {
			phone: { type: "string", optional: true, nullable: true },
			image: { type: "url", nullable: true, optional: true },
			page: { type: "number", optional: true, default: 1 },
			name: "string|optional",
			gone: { type: "forbidden" },
		};
		const params: Record<string, unknown> = { phone: null, image: null, name: "x", gone: null };
		expect(errorsOf(schema, params)).toBe(true);
		expect(params.page).toBe(1);
		expect(errorsOf(schema, {})).toBe(true);
		expect(errorsOf({ name: "string" }, {})).toEqual([{ field: "name", type: "required" }]);
	});

	describe("as the broker's validator", () => {
		const broker = new ServiceBroker({ logger: false, validator: new PlatformValidator() });
		beforeAll(async () => {
			broker.createService({
				name: "profiles",
				actions: { update: { params: { fullName: { type: "string", optional: true }, phone: { type: "string", optional: true, nullable: true } }, handler: (ctx) => ctx.params } },
			});
			await broker.start();
		});
		afterAll(() => broker.stop());

		it("finding 2: an action's optional field given null is a ValidationError (the gateway's 400), never reaching the handler", async () => {
			await expect(broker.call("profiles.update", { fullName: null })).rejects.toMatchObject({ code: 422, type: "VALIDATION_ERROR", data: [expect.objectContaining({ field: "fullName", type: "notNull" })] });
			await expect(broker.call("profiles.update", { phone: null })).resolves.toEqual({ phone: null });
		});
	});
});
