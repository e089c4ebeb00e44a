/**
 * Database access for a service: moleculer-db over the process-wide Sequelize pool, the service's own
 * PostgreSQL schema (database per service), versioned migrations applied at start, cache cleaning on every
 * node, and — for tenant-owned entities — tenant scoping that no action has to write by hand.
 *
 *   mixins: [DbMixin({ schema: "catalog", migrations: path.join(__dirname, "../../models/commerce/catalog/migrations"),
 *                      model: ProductModel, tenantOwned: true })]
 *
 * moleculer-db's CRUD actions are unpublished here (no `rest`): a service opts in per action, so a new
 * table never appears on the public API by accident.
 */
import type { ActionParams, Context, ServiceSchema, ServiceSettingSchema, Service } from "moleculer";
import MoleculerDbService from "moleculer-db";
import SequelizeDbAdapter from "moleculer-db-adapter-sequelize";
import type { ModelAttributes, ModelOptions, Sequelize, ModelStatic, Model, WhereOptions } from "sequelize";
import { acquireSequelize, releaseSequelize, migrateSchema } from "../lib/database";
import { isPlatformCaller, type CallerMeta } from "../lib/caller";
import { BadRequestError, ConflictError, EntityNotFoundError, ForbiddenError, UnprocessableEntityError } from "../lib/errors";

export interface ModelDefinition {
	name: string;
	define: ModelAttributes;
	options?: ModelOptions;
}

export interface DbMixinOptions {
	/** PostgreSQL schema owned by this service; no other service reads or writes it. */
	schema: string;
	/** Folder of versioned migrations (umzug) for this schema. */
	migrations: string;
	model: ModelDefinition;
	/** Further tables of the same schema, reachable as `this.models[name]` (no CRUD actions of their own). */
	extraModels?: ModelDefinition[];
	/** Rows carry `tenantId`; every CRUD action is scoped to ctx.meta.tenantId. */
	tenantOwned?: boolean;
	/** Human name used in "X not found" errors; defaults to the model name. */
	entityName?: string;
	pageSize?: number;
	maxPageSize?: number;
}

export const TENANT_FIELD = "tenantId";

interface DbMetadata {
	database: { schema: string; tenantOwned: boolean };
}

const CRUD_ACTIONS = ["find", "count", "list", "create", "insert", "get", "update", "remove"] as const;
const READ_ACTIONS = ["find", "count", "list", "get"] as const;

/**
 * moleculer-db's Sequelize adapter opens (and closes) a pool per service and may `sync()` tables. This
 * one borrows the shared pool and only defines the model: tables come from migrations.
 */
class SharedPoolSequelizeAdapter extends SequelizeDbAdapter {
	declare db: Sequelize;
	declare model: ModelStatic<Model>;
	declare service: Service & { schema: { model: ModelDefinition }; model?: ModelStatic<Model>; models?: Record<string, ModelStatic<Model>> };
	declare broker: Service["broker"];
	private url?: string;

	constructor(
		private readonly schemaName: string,
		private readonly extraModels: ModelDefinition[] = [],
	) {
		// The options are unused: connect() below takes the shared pool instead of building its own.
		super({});
	}

	override async connect(): Promise<void> {
		const url = this.broker.options.platform?.databaseUrl;
		if (!url) throw new Error(`No database URL for service "${this.service.name}": set DATABASE_URL or run the embedded database`);
		this.url = url;
		this.db = acquireSequelize(url);
		await this.db.authenticate();
		const definition = this.service.schema.model;
		this.model = this.db.define(definition.name, definition.define, { ...definition.options, schema: this.schemaName });
		this.service.model = this.model;
		this.service.models = {
			[definition.name]: this.model,
			...Object.fromEntries(this.extraModels.map((item) => [item.name, this.db.define(item.name, item.define, { ...item.options, schema: this.schemaName })])),
		};
	}

	override async disconnect(): Promise<void> {
		if (!this.url) return;
		const url = this.url;
		this.url = undefined;
		await releaseSequelize(url);
	}
}

type DbContext = Context<Record<string, unknown>, CallerMeta>;

/** moleculer-db settings a service may set beside the mixin's defaults. */
export interface DbMixinSettings extends ServiceSettingSchema {
	idField?: string;
	fields?: string[];
	populates?: Record<string, unknown>;
	pageSize?: number;
	maxPageSize?: number;
	maxLimit?: number;
}

export interface DbMixinLocals {
	adapter: SharedPoolSequelizeAdapter;
	model: ModelStatic<Model>;
	/** Every model of the service's schema by name, the main one included. */
	models: Record<string, ModelStatic<Model>>;
}

/** What a service built with DbMixin is, for typing its own methods and hooks. */
export type DbService = Service<DbMixinSettings> & DbMixinMethods & DbMixinLocals;

export interface DbMixinMethods {
	tenantFilter(ctx: DbContext): WhereOptions;
	parseQueryParam(ctx: DbContext): void;
	scopeQueryToTenant(ctx: DbContext): void;
	assertTenantOwnsEntities(ctx: DbContext): Promise<void>;
	stampTenant(ctx: DbContext): void;
	translateDatabaseError(ctx: DbContext, err: Error): never;
	migrate(direction?: "up" | "down"): Promise<string[]>;
	/** moleculer-db's hook: cleans caches on every node; call it after writing through the model directly. */
	entityChanged(type: "created" | "updated" | "removed", json: unknown, ctx: Context): Promise<void>;
}

function defaultCacheKeys(action: string): string[] {
	const definition = (MoleculerDbService as unknown as { actions: Record<string, { cache?: { keys?: string[] } }> }).actions[action];
	return definition?.cache?.keys ?? [];
}

/** The tenant a call acts in, or undefined for platform-wide callers (system work, super admins). */
function activeTenant(meta: CallerMeta): string | undefined {
	if (meta.tenantId) return meta.tenantId;
	if (isPlatformCaller(meta)) return undefined;
	throw new ForbiddenError("This action needs an active tenant", "TENANT_REQUIRED");
}

export function DbMixin(options: DbMixinOptions): Partial<ServiceSchema> {
	const tenantOwned = options.tenantOwned ?? false;
	const entityName = options.entityName ?? options.model.name;
	const metadata: DbMetadata = { database: { schema: options.schema, tenantOwned } };

	const unpublished = Object.fromEntries(CRUD_ACTIONS.map((name) => [name, { rest: null }] as const));
	const hooks = {
		before: {
			find: ["parseQueryParam", ...(tenantOwned ? ["scopeQueryToTenant"] : [])],
			list: ["parseQueryParam", ...(tenantOwned ? ["scopeQueryToTenant"] : [])],
			count: ["parseQueryParam", ...(tenantOwned ? ["scopeQueryToTenant"] : [])],
			...(tenantOwned
				? {
						get: "assertTenantOwnsEntities",
						update: "assertTenantOwnsEntities",
						remove: "assertTenantOwnsEntities",
						create: "stampTenant",
						insert: "stampTenant",
					}
				: {}),
		},
		error: Object.fromEntries(CRUD_ACTIONS.map((name) => [name, "translateDatabaseError"])),
	};

	// Typed as a plain mixin so any service can list it; methods declare `this: DbService` themselves.
	const settings: DbMixinSettings = {
		idField: "id",
		pageSize: options.pageSize ?? 20,
		maxPageSize: options.maxPageSize ?? 100,
		maxLimit: 1000,
	};

	const schema: Partial<ServiceSchema> & { model: ModelDefinition; adapter: SharedPoolSequelizeAdapter } = {
		mixins: [MoleculerDbService as unknown as Partial<ServiceSchema>],
		adapter: new SharedPoolSequelizeAdapter(options.schema, options.extraModels),
		model: options.model,
		metadata,
		settings,
		actions: unpublished,
		hooks,

		/**
		 * Cache keys must carry the tenant, or a cached read of one tenant would answer another; and
		 * every node cleans its own cache when any node changes the entity.
		 */
		merged(merged: ServiceSchema) {
			publishedReadParams(merged);
			if (tenantOwned) {
				for (const name of READ_ACTIONS) {
					const action = merged.actions?.[name];
					if (!action || typeof action !== "object" || !action.cache) continue;
					// `cache: true` would key on params alone; start from moleculer-db's keys for the action.
					const cache = action.cache === true ? {} : action.cache;
					const keys = cache.keys ?? defaultCacheKeys(name);
					action.cache = { ...cache, keys: [...new Set([...keys, `#${TENANT_FIELD}`])] };
				}
			}
			merged.events = {
				...merged.events,
				[`cache.clean.${merged.name}`]: {
					handler(this: Service) {
						return this.broker.cacher?.clean(`${this.fullName}.*`);
					},
				},
			};
		},

		methods: {
			tenantFilter(ctx: DbContext): WhereOptions {
				const tenantId = activeTenant(ctx.meta);
				return tenantId ? { [TENANT_FIELD]: tenantId } : {};
			},

			/** moleculer-db would JSON.parse a string `query` itself and crash on bad input with a 500. */
			parseQueryParam(ctx: DbContext) {
				const query = ctx.params.query;
				if (typeof query !== "string") return;
				try {
					ctx.params.query = JSON.parse(query);
				} catch {
					throw new BadRequestError("query must be a JSON object", "INVALID_QUERY");
				}
				if (!ctx.params.query || typeof ctx.params.query !== "object" || Array.isArray(ctx.params.query)) {
					throw new BadRequestError("query must be a JSON object", "INVALID_QUERY");
				}
			},

			scopeQueryToTenant(this: DbService, ctx: DbContext) {
				const query = (ctx.params.query as Record<string, unknown> | undefined) ?? {};
				ctx.params.query = { ...query, ...this.tenantFilter(ctx) };
			},

			/** Another tenant's id answers exactly as a missing one: 404, never 403. */
			async assertTenantOwnsEntities(this: DbService, ctx: DbContext) {
				const filter = this.tenantFilter(ctx);
				if (Object.keys(filter).length === 0) return;
				const requested = ctx.params.id;
				const ids = Array.isArray(requested) ? requested : [requested];
				const owned = await this.adapter.model.count({ where: { ...filter, id: ids } as WhereOptions });
				if (owned !== new Set(ids.map(String)).size) throw new EntityNotFoundError(entityName, requested);
				// The tenant of a row never changes through an update.
				delete ctx.params[TENANT_FIELD];
			},

			stampTenant(ctx: DbContext) {
				const tenantId = activeTenant(ctx.meta);
				const stamp = (entity: unknown) => {
					if (!entity || typeof entity !== "object") return;
					const record = entity as Record<string, unknown>;
					if (tenantId) record[TENANT_FIELD] = tenantId;
					else if (!record[TENANT_FIELD]) throw new UnprocessableEntityError(`${TENANT_FIELD} is required`, "TENANT_REQUIRED");
				};
				if (Array.isArray(ctx.params.entities)) ctx.params.entities.forEach(stamp);
				else if (ctx.params.entity) stamp(ctx.params.entity);
				else stamp(ctx.params);
			},

			translateDatabaseError(ctx: DbContext, err: Error & { parent?: { code?: string }; errors?: Array<{ path?: string; message?: string }> }): never {
				switch (err.name) {
					case "SequelizeUniqueConstraintError":
						throw new ConflictError(`${entityName} already exists`, "ALREADY_EXISTS", {
							fields: (err.errors ?? []).map((item) => item.path).filter(Boolean),
						});
					case "SequelizeValidationError":
						throw new BadRequestError(err.message, "VALIDATION_ERROR", (err.errors ?? []).map((item) => ({ field: item.path, message: item.message, type: "invalid" })));
					case "SequelizeDatabaseError":
						// 22P02: malformed input such as a non-uuid id; it names nothing that exists.
						if (err.parent?.code === "22P02") throw new EntityNotFoundError(entityName, ctx.params.id);
						throw err;
					default:
						throw err;
				}
			},

			migrate(this: DbService, direction: "up" | "down" = "up") {
				const url = this.broker.options.platform?.databaseUrl;
				if (!url) throw new Error("No database URL");
				return migrateSchema({
					url,
					sequelize: this.adapter.db,
					schema: options.schema,
					migrationsDir: options.migrations,
					logger: this.logger,
					direction,
				});
			},
		},

		/** The schema object is shared by every broker that loads the file (tests run several); adapters are not. */
		created() {
			this.adapter = new SharedPoolSequelizeAdapter(options.schema, options.extraModels);
			this.adapter.init(this.broker, this);
		},

		async started() {
			await this.migrate("up");
		},
	};
	return schema;
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

/**
 * The parameters of moleculer-db's read actions once a service publishes one (gives it a `rest`): bounded
 * pages, a sort on one of the entity's public fields (`settings.fields`), ascending or, with `-`, descending,
 * and nothing else. moleculer-db's own params pass `sort`, `query`, `search`, `searchFields`, `populate`,
 * `fields` and unbounded `page`/`offset` straight to SQL, which an internal caller may use but the API must
 * not (`sort=nosuch` and a huge page were 500s); unknown parameters are dropped, as on every list.
 */
function publishedReadParams(merged: ServiceSchema): void {
	const fields = (merged.settings as DbMixinSettings | undefined)?.fields ?? [];
	const maxLimit = (merged.settings as DbMixinSettings | undefined)?.maxLimit ?? 1000;
	const sort: ActionParams = fields.length > 0 ? { sort: { type: "enum", values: fields.flatMap((field) => [field, `-${field}`]), optional: true } } : {};
	const params: Record<string, ActionParams> = {
		list: { ...PAGE_PARAMS, ...sort, $$strict: "remove" },
		find: {
			limit: { type: "number", integer: true, positive: true, max: maxLimit, convert: true, optional: true },
			offset: { type: "number", integer: true, min: 0, max: MAX_PAGE * 100, convert: true, optional: true },
			...sort,
			$$strict: "remove",
		},
		count: { $$strict: "remove" },
		get: { id: { type: "string", min: 1, max: 64 }, $$strict: "remove" },
	};
	for (const name of READ_ACTIONS) {
		const action = merged.actions?.[name];
		if (!action || typeof action !== "object" || !action.rest) continue;
		action.params = params[name];
	}
}

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

/**
 * One page of rows, newest first (ties broken by id, so pages never overlap), as a list answer. Every
 * paginated list of the platform reads this way.
 */
export async function newestFirstPage<Row, T>(model: ModelStatic<Model>, where: WhereOptions, page: number, pageSize: number, toPublic: (row: Row) => T): Promise<Page<T>> {
	const { rows, count } = await model.findAndCountAll({
		where,
		order: [
			["createdAt", "DESC"],
			["id", "ASC"],
		],
		limit: pageSize,
		offset: (page - 1) * pageSize,
	});
	return toPage(rows.map((row) => toPublic(row.get({ plain: true }) as Row)), count, page, pageSize);
}

/** A Sequelize row as a plain object, or undefined for no row. */
export function plainRow<T>(row: Model | null | undefined): T | undefined {
	return row ? (row.get({ plain: true }) as T) : undefined;
}

/** True when a created service needs PostgreSQL on this node (DbMixin, or a mixin that says so). */
export function usesDatabase(service: Service): boolean {
	const metadata = service.metadata as (Partial<DbMetadata> & { needsDatabase?: boolean }) | undefined;
	return Boolean(metadata?.database || metadata?.needsDatabase);
}

/** The schema type of a service built on DbMixin: its handlers see the mixin's methods and locals. */
export type DbServiceSchema<
	TSettings extends DbMixinSettings = DbMixinSettings,
	TMethods = unknown,
	TLocals = unknown,
> = ServiceSchema<TSettings, DbMixinMethods & TMethods, DbMixinLocals & TLocals>;
