/**
 * Response schemas, declared once for TypeScript and the OpenAPI document: TypeBox builds a JSON Schema
 * whose `Static<typeof S>` is the TypeScript type, so a domain's contracts.ts declares `S` and its DTO type
 * together, the action returns that type and declares `responses: { 200: { description, body: S } }`.
 * Here are the shapes every domain shares (ids, timestamps, pages).
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";

export { Type, type Static, type TSchema };

export const Uuid = Type.String({ format: "uuid" });
/** A timestamp as it leaves the API (a Date serialised by JSON.stringify). */
export const DateTime = Type.String({ format: "date-time" });
/** A value or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** A list answer in moleculer-db's shape (mixins/db.mixin.ts's Page<T>): one page of `item`s and the counts. */
export const PageOf = <T extends TSchema>(item: T) =>
	Type.Object({
		rows: Type.Array(item),
		total: Type.Integer({ minimum: 0, description: "Rows matching the query, on all pages." }),
		page: Type.Integer({ minimum: 1 }),
		pageSize: Type.Integer({ minimum: 1 }),
		totalPages: Type.Integer({ minimum: 0 }),
	});

/** `{ ok: true }`-style acknowledgements. */
export const Ok = Type.Object({ ok: Type.Literal(true) });

/** One of a list of strings (a model's `as const` list), typed as its union. */
export const Enum = <T extends string>(values: readonly T[], options: { description?: string } = {}) => Type.Unsafe<T>({ type: "string", enum: [...values], ...options });

/** A JSON object of any fields (features, instructions, addresses, audit data). */
export const AnyObject = Type.Record(Type.String(), Type.Unknown());
