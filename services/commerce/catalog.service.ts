/**
 * The premium app marketplace catalog: products with exact prices (integer minor units + ISO 4217 code),
 * categories, full-text search ranked by PostgreSQL, and a price snapshot for orders.
 *
 * The public sees `active` products only; super admins see and manage every status. DELETE archives
 * (orders keep referring to a product after it leaves the shelf). Every write goes through
 * `entityChanged`, so every node drops its cached lists, categories and products.
 */
import path from "node:path";
import { QueryTypes } from "sequelize";
import type { Context } from "moleculer";
import { DbMixin, PAGE_PARAMS, toPage, type DbMixinSettings, type DbServiceSchema, type Ownership } from "../../mixins/db.mixin";
import { ProductModel, PRODUCT_STATUSES, type ProductRow, type ProductStatus } from "../../models/commerce/catalog/product.model";
import type { CallerMeta } from "../../lib/caller";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { BadRequestError } from "../../lib/errors";
import { currencyRule } from "../../lib/currency";
import { CategoryCountSchema, PRODUCT_EVENTS, PublicProductSchema, type PublicProduct } from "./contracts";
import { created } from "../../lib/api-path";
import { AggregateMixin, type AggregateMethods } from "../../mixins/aggregate.mixin";
import { PageOf, Type } from "../../lib/schema";

export { PRODUCT_EVENTS };
export type { PublicProduct } from "./contracts";

export const PRODUCT_SORTS = ["relevance", "newest", "price", "-price"] as const;
export type ProductSort = (typeof PRODUCT_SORTS)[number];

const SCHEMA = "catalog";
const TABLE = `"${SCHEMA}".products`;
/**
 * Below Number.MAX_SAFE_INTEGER with room to spare, in minor units whatever the currency's exponent (lib/currency.ts):
 * 10 billion major units of a 2-decimal currency, a trillion yen, a billion Kuwaiti dinars.
 */
const MAX_PRICE_AMOUNT = 999_999_999_999;
const MAX_FEATURES_BYTES = 16_384;
const CATEGORY_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const CACHE_TTL_SECONDS = 300;
/** Products belong to the platform: the public sees those on sale; super admins and platform work every status. */
const PRODUCT_OWNERSHIP: Ownership = { owner: "none", visible: { status: "active" satisfies ProductStatus } };
/** The public reads of the catalog are cached by persona, which platform work lacks: only a super admin's answer shows drafts. */
const CACHED_BY_PERSONA = { seesAll: "super_admin" } as const;
/** The product an action names; a draft or archived one is 404 to whoever may not see it. */
const PRODUCT_SCOPE = { entity: "product", name: "Product" } as const;

interface SqlProductRow {
	id: string;
	name: string;
	description: string;
	category: string;
	price_amount: string;
	currency: string;
	features: Record<string, unknown>;
	image: string | null;
	status: ProductStatus;
	created_at: Date;
	updated_at: Date;
}

interface ListParams {
	page: number;
	pageSize: number;
	q?: string;
	category?: string;
	currency?: string;
	minPrice?: number;
	maxPrice?: number;
	status?: ProductStatus;
	sort?: ProductSort;
}

type ProductInput = Partial<Pick<PublicProduct, "name" | "description" | "category" | "priceAmount" | "currency" | "features" | "image" | "status">>;

interface CatalogMethods extends AggregateMethods<ProductRow, ProductStatus, PublicProduct> {
	present(row: ProductRow): PublicProduct;
	toPublic(row: ProductRow): PublicProduct;
	checkFeatures(features: unknown): void;
	searchProducts(params: ListParams, statuses: ProductStatus[] | null): Promise<{ rows: PublicProduct[]; total: number }>;
}

const priceRule = { type: "number", integer: true, min: 0, max: MAX_PRICE_AMOUNT } as const;
const categoryRule = { type: "string", trim: true, lowercase: true, min: 1, max: 60, pattern: CATEGORY_PATTERN, messages: { stringPattern: "category must be a slug (a-z, 0-9, dashes)" } } as const;
const imageRule = { type: "url", max: 2048, optional: true, nullable: true } as const;
const featuresRule = { type: "object", optional: true } as const;

const CatalogService: DbServiceSchema<DbMixinSettings, CatalogMethods, unknown, typeof ProductModel> = {
	name: "catalog",
	mixins: [
		DbMixin({ schema: SCHEMA, migrations: path.join(__dirname, "../../models/commerce/catalog/migrations"), model: ProductModel, owner: PRODUCT_OWNERSHIP, entityName: "Product" }),
		AggregateMixin({ model: "product", entityName: "Product" }),
	],
	// Both /products and /categories live in this service, so each action names its full path.
	settings: { rest: "/" },

	actions: {
		listProducts: {
			rest: "GET /products",
			responses: { 200: { description: "A page of products", body: PageOf(PublicProductSchema) } },
			auth: "public",
			summary: "Browse and search products (active ones, unless the caller is a super admin)",
			// Every parameter, and the persona: a super admin's list (drafts included) is never served to the public.
			cache: { keys: ["page", "pageSize", "q", "category", "currency", "minPrice", "maxPrice", "status", "sort", "#persona"], ttl: CACHE_TTL_SECONDS },
			params: {
				...PAGE_PARAMS,
				q: { type: "string", trim: true, min: 1, max: 200, optional: true },
				category: { ...categoryRule, optional: true },
				currency: { ...currencyRule, optional: true },
				minPrice: { ...priceRule, convert: true, optional: true },
				maxPrice: { ...priceRule, convert: true, optional: true },
				status: { type: "enum", values: PRODUCT_STATUSES, optional: true, description: "super admins only; ignored for everyone else" },
				sort: { type: "enum", values: PRODUCT_SORTS, optional: true, description: "default: relevance with q, else newest" },
			},
			async handler(ctx: Context<ListParams, CallerMeta>) {
				const { page, pageSize, minPrice, maxPrice } = ctx.params;
				if (minPrice !== undefined && maxPrice !== undefined && minPrice > maxPrice) {
					throw new BadRequestError("minPrice must not exceed maxPrice", "VALIDATION_ERROR", [{ field: "minPrice", message: "minPrice must not exceed maxPrice", type: "numberMax" }]);
				}
				// The declared visibility, as SQL: `active` for the public, the asked-for status (or all) for super admins.
				const visible = this.scoped(ctx, CACHED_BY_PERSONA).condition.status as ProductStatus | undefined;
				const statuses = visible ? [visible] : ctx.params.status ? [ctx.params.status] : null;
				const { rows, total } = await this.searchProducts(ctx.params, statuses);
				return toPage(rows, total, page, pageSize);
			},
		},

		getProduct: {
			rest: "GET /products/:id",
			responses: { 200: { description: "The product", body: PublicProductSchema } },
			auth: "public",
			summary: "One product; drafts and archived products only for super admins",
			cache: { keys: ["id", "#persona"], ttl: CACHE_TTL_SECONDS },
			params: { id: "string|max:64" },
			// Not `$system`: its calls carry no persona and would share the public's cache entry (it has `snapshot`).
			scope: { ...PRODUCT_SCOPE, ...CACHED_BY_PERSONA },
			async handler(ctx: Context<{ id: string }, CallerMeta>) {
				return this.toPublic(entityOf<ProductRow>(ctx));
			},
		},

		listCategories: {
			rest: "GET /categories",
			responses: { 200: { description: "Each category of active products, by name", body: Type.Array(CategoryCountSchema) } },
			auth: "public",
			summary: "Categories of active products, with how many each holds",
			cache: { keys: [], ttl: CACHE_TTL_SECONDS },
			async handler() {
				const rows = await this.adapter.db.query<{ category: string; count: string }>(
					`SELECT category, count(*) AS count FROM ${TABLE} WHERE status = 'active' GROUP BY category ORDER BY category`,
					{ type: QueryTypes.SELECT },
				);
				return rows.map((row) => ({ category: row.category, count: Number(row.count) }));
			},
		},

		createProduct: {
			rest: "POST /products",
			responses: { 201: { description: "The new product", body: PublicProductSchema, headers: { Location: "The product's URL" } } },
			permissions: ["super_admin"],
			summary: "Add a product (status draft unless given)",
			params: {
				name: "string|trim|min:1|max:200",
				description: { type: "string", trim: true, max: 10_000, optional: true, default: "" },
				category: categoryRule,
				priceAmount: priceRule,
				currency: currencyRule,
				features: { ...featuresRule, default: {} },
				image: imageRule,
				status: { type: "enum", values: PRODUCT_STATUSES, optional: true, default: "draft" },
				$$strict: "remove",
			},
			async handler(ctx: Context<Required<Omit<ProductInput, "image">> & { image?: string | null }, CallerMeta>) {
				this.checkFeatures(ctx.params.features);
				const inserted = await this.models.product.create({ ...ctx.params, image: ctx.params.image ?? null });
				const product = await this.announce(ctx, PRODUCT_EVENTS.created, inserted.get({ plain: true }), "created");
				created(ctx, "products", product.id);
				return product;
			},
		},

		updateProduct: {
			rest: "PUT /products/:id",
			responses: { 200: { description: "The product as changed", body: PublicProductSchema } },
			permissions: ["super_admin"],
			summary: "Change some fields of a product",
			params: {
				id: "string|max:64",
				name: { type: "string", trim: true, min: 1, max: 200, optional: true },
				description: { type: "string", trim: true, max: 10_000, optional: true },
				category: { ...categoryRule, optional: true },
				priceAmount: { ...priceRule, optional: true },
				currency: { ...currencyRule, optional: true },
				features: featuresRule,
				image: imageRule,
				status: { type: "enum", values: PRODUCT_STATUSES, optional: true },
				$$strict: "remove",
			},
			scope: PRODUCT_SCOPE,
			async handler(ctx: Context<ProductInput & { id: string }, CallerMeta>) {
				const { id: _id, ...changes } = ctx.params;
				const before = entityOf<ProductRow>(ctx);
				if (changes.features !== undefined) this.checkFeatures(changes.features);
				if (Object.keys(changes).length === 0) return this.toPublic(before);
				const [, [after]] = await this.models.product.update(changes, { where: { id: before.id }, returning: true });
				const product = await this.announce(ctx, PRODUCT_EVENTS.updated, after.get({ plain: true }), "updated", { changed: Object.keys(changes) });
				if (before.status !== "archived" && product.status === "archived") ctx.emit(PRODUCT_EVENTS.archived, { product });
				return product;
			},
		},

		archiveProduct: {
			rest: "DELETE /products/:id",
			responses: { 204: "Archived (also when it already was)" },
			permissions: ["super_admin"],
			summary: "Archive a product: it leaves the catalog, its row stays for the orders that refer to it",
			params: { id: "string|max:64" },
			scope: PRODUCT_SCOPE,
			async handler(ctx: Context<{ id: string }, CallerMeta>) {
				const before = entityOf<ProductRow>(ctx);
				if (before.status !== "archived") {
					const [, [after]] = await this.models.product.update({ status: "archived" }, { where: { id: before.id }, returning: true });
					await this.announce(ctx, PRODUCT_EVENTS.archived, after.get({ plain: true }));
				}
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/**
		 * Internal: the current name, price and status of products, for orders to copy into their lines.
		 * Unknown ids are left out; the caller compares. Every status is answered (the caller decides).
		 */
		snapshot: {
			visibility: "public",
			params: { ids: { type: "array", items: "uuid", min: 1, max: 500 } },
			async handler(ctx: Context<{ ids: string[] }>) {
				const rows = await this.models.product.findAll({ where: { id: [...new Set(ctx.params.ids)] } });
				return rows.map((row) => {
					const product = this.toPublic(row.get({ plain: true }));
					return { id: product.id, name: product.name, priceAmount: product.priceAmount, currency: product.currency, status: product.status };
				});
			},
		},
	},

	methods: {
		checkFeatures(features: unknown) {
			if (Buffer.byteLength(JSON.stringify(features ?? {})) > MAX_FEATURES_BYTES) {
				const message = `features must not exceed ${MAX_FEATURES_BYTES} bytes of JSON`;
				throw new BadRequestError(message, "VALIDATION_ERROR", [{ field: "features", message, type: "objectMaxBytes" }]);
			}
		},

		/** One SQL statement per page (plus the count), ranked by PostgreSQL's full-text search when `q` is given. */
		async searchProducts(params: ListParams, statuses: ProductStatus[] | null) {
			const where: string[] = [];
			const replacements: Record<string, unknown> = {};
			if (statuses) {
				where.push("status IN (:statuses)");
				replacements.statuses = statuses;
			}
			if (params.category) {
				where.push("category = :category");
				replacements.category = params.category;
			}
			if (params.currency) {
				where.push("currency = :currency");
				replacements.currency = params.currency;
			}
			if (params.minPrice !== undefined) {
				where.push("price_amount >= :minPrice");
				replacements.minPrice = params.minPrice;
			}
			if (params.maxPrice !== undefined) {
				where.push("price_amount <= :maxPrice");
				replacements.maxPrice = params.maxPrice;
			}
			if (params.q) {
				where.push("search_vector @@ websearch_to_tsquery('english', :q)");
				replacements.q = params.q;
			}
			const whereSql = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
			const sort = params.sort ?? (params.q ? "relevance" : "newest");
			const order = {
				relevance: params.q ? "rank DESC, created_at DESC, id" : "created_at DESC, id",
				newest: "created_at DESC, id",
				price: "price_amount ASC, created_at DESC, id",
				"-price": "price_amount DESC, created_at DESC, id",
			}[sort];
			const rank = params.q ? "ts_rank(search_vector, websearch_to_tsquery('english', :q))" : "0";
			const [rows, counted] = await Promise.all([
				this.adapter.db.query<SqlProductRow>(
					`SELECT id, name, description, category, price_amount, currency, features, image, status, created_at, updated_at, ${rank} AS rank
					 FROM ${TABLE} ${whereSql} ORDER BY ${order} LIMIT :limit OFFSET :offset`,
					{ type: QueryTypes.SELECT, replacements: { ...replacements, limit: params.pageSize, offset: (params.page - 1) * params.pageSize } },
				),
				this.adapter.db.query<{ total: string }>(`SELECT count(*) AS total FROM ${TABLE} ${whereSql}`, { type: QueryTypes.SELECT, replacements }),
			]);
			return {
				rows: rows.map((row) =>
					this.toPublic({
						id: row.id,
						name: row.name,
						description: row.description,
						category: row.category,
						priceAmount: row.price_amount,
						currency: row.currency,
						features: row.features,
						image: row.image,
						status: row.status,
						createdAt: row.created_at,
						updatedAt: row.updated_at,
					}),
				),
				total: Number(counted[0]?.total ?? 0),
			};
		},

		present(row: ProductRow): PublicProduct {
			return this.toPublic(row);
		},

		toPublic(row: ProductRow): PublicProduct {
			return {
				id: row.id,
				name: row.name,
				description: row.description,
				category: row.category,
				priceAmount: Number(row.priceAmount),
				currency: row.currency,
				features: row.features ?? {},
				image: row.image ?? null,
				status: row.status,
				createdAt: new Date(row.createdAt).toISOString(),
				updatedAt: new Date(row.updatedAt).toISOString(),
			};
		},
	},
};

export default CatalogService;
