/**
 * Typed model definitions: a table of a service's schema says, in its model file, what its rows are, so
 * everything DbMixin hands out (`this.models.<name>`, `this.model`, `this.scoped(ctx)`) returns typed rows
 * and no handler casts a row.
 *
 *   export interface OrderRow { id: string; userId: string; status: OrderStatus; …; createdAt: Date; updatedAt: Date }
 *   export const OrderModel: ModelDefinition<"order", OrderRow, "status"> = { name: "order", define: { … } };
 *
 * The type arguments are the model's name (the key of `this.models`), the row as Sequelize gives it back
 * (`findByPk(id)`, `row.get({ plain: true })`: BIGINT arrives as a string, JSONB as its value) and the
 * columns a new row may leave out because the database fills them (besides id, createdAt and updatedAt,
 * which always may). `define` must name every column of the row but the timestamps, so the row type and the
 * table can't drift apart. A service then names its models in its schema type:
 *
 *   const OrdersService: DbServiceSchema<Settings, Methods, Locals, typeof OrderModel, typeof OrderLineModel> = { … }
 *
 * and `this.models.order.findByPk(id)` is a `Model<OrderRow>`, `plainRow(found)` an `OrderRow | undefined`.
 * A plain `ModelDefinition` (no type arguments) still works and gives untyped rows, as before.
 */
import type { Attributes, Model, ModelAttributes, ModelOptions, ModelStatic, Optional, WhereOptions } from "sequelize";

/** The row of a model without a declared row type: Sequelize's own for an untyped model. */
type AnyRow = Attributes<Model>;

/** Columns every table has whose values the database (or Sequelize) fills. */
type Generated = "id" | "createdAt" | "updatedAt";

export interface ModelDefinition<TName extends string = string, TRow extends object = AnyRow, TDefaulted extends keyof TRow = never> {
	name: TName;
	/** Every column of the row except the timestamps Sequelize maintains. */
	define: ModelAttributes<Model, Omit<TRow, "createdAt" | "updatedAt">>;
	options?: ModelOptions;
	/** Type only, never set: carries the row type from the model file to DbMixin's accessors. */
	readonly $row?: TRow;
	/** Type only, never set: the columns a new row may leave to their database default. */
	readonly $defaulted?: TDefaulted;
}

/** Any model definition, typed or not (what DbMixin's options accept). */
export type AnyModelDefinition = ModelDefinition<string, AnyRow, keyof AnyRow>;

/** The row type of a model definition. */
export type RowOf<D extends AnyModelDefinition> = NonNullable<D["$row"]>;

/** What `create` takes for a model: the row, with generated and defaulted columns optional. */
export type CreationOf<D extends AnyModelDefinition> = Optional<RowOf<D>, Extract<keyof RowOf<D>, Generated> | NonNullable<D["$defaulted"]>>;

/** The Sequelize model class a definition becomes: `findByPk`, `findAll`, `create`, `update` on typed rows. */
export type ModelOf<D extends AnyModelDefinition> = ModelStatic<Model<RowOf<D>, CreationOf<D>>>;

/** A row of a definition as a Sequelize instance. */
export type InstanceOf<D extends AnyModelDefinition> = Model<RowOf<D>, CreationOf<D>>;

/** The definition named K among a union of definitions (an untyped one answers to any name). */
export type NamedDefinition<D extends AnyModelDefinition, K extends string> = D extends AnyModelDefinition ? (K extends D["name"] ? D : never) : never;

/** `this.models` of a service: each of its model definitions (a union) by name. */
export type ModelsOf<D extends AnyModelDefinition> = { [K in D as K["name"]]: ModelOf<K> };

/** A Sequelize row as a plain object (typed like its model), or undefined for no row. */
export function plainRow<TRow extends object>(row: Model<TRow, object> | null | undefined): TRow | undefined {
	return row ? row.get({ plain: true }) : undefined;
}

/**
 * The deepest page any list serves. Without a bound, `page=99999999999999999999` passed validation and made an
 * OFFSET PostgreSQL can't hold (a 500); 100 000 pages of 100 rows is more than any list here holds.
 */
export const MAX_PAGE = 100_000;

/** The page parameters of every paginated action (the shape of moleculer-db's `list`). */
export const PAGE_PARAMS = {
	page: { type: "number", integer: true, positive: true, max: MAX_PAGE, convert: true, optional: true, default: 1 },
	pageSize: { type: "number", integer: true, positive: true, max: 100, convert: true, optional: true, default: 20 },
} as const;

export interface Page<T> {
	rows: T[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

/** A Page<T> as it leaves the API, for an action's OpenAPI responses; `item` is one row's JSON Schema. */
export function pageSchema(item: Record<string, unknown>): Record<string, unknown> {
	return {
		type: "object",
		properties: {
			rows: { type: "array", items: item },
			total: { type: "integer", minimum: 0, description: "Rows matching the query, on all pages." },
			page: { type: "integer", minimum: 1 },
			pageSize: { type: "integer", minimum: 1 },
			totalPages: { type: "integer", minimum: 0 },
		},
		required: ["rows", "total", "page", "pageSize", "totalPages"],
	};
}

/** A list answer in moleculer-db's shape, for actions that query on their own. */
export function toPage<T>(rows: T[], total: number, page: number, pageSize: number): Page<T> {
	return { rows, total, page, pageSize, totalPages: Math.ceil(total / pageSize) };
}

/** Newest first, ties broken by id, so pages never overlap: the order of every paginated list. */
export const NEWEST_FIRST: Array<[string, "ASC" | "DESC"]> = [
	["createdAt", "DESC"],
	["id", "ASC"],
];

/**
 * One page of rows, newest first, as a list answer. Every paginated list of the platform reads this way;
 * a list of the caller's own rows reads through `this.scoped(ctx).page(…)`, which adds the owner condition.
 */
export async function newestFirstPage<M extends Model, T>(
	model: ModelStatic<M>,
	where: WhereOptions<Attributes<M>>,
	page: number,
	pageSize: number,
	toPublic: (row: Attributes<M>) => T,
): Promise<Page<T>> {
	const { rows, count } = await model.findAndCountAll({ where, order: NEWEST_FIRST, limit: pageSize, offset: (page - 1) * pageSize });
	return toPage(
		rows.map((row) => toPublic(row.get({ plain: true }))),
		count,
		page,
		pageSize,
	);
}
