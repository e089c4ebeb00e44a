/**
 * Database access for a service: moleculer-db over the process-wide Sequelize pool, the service's own
 * PostgreSQL schema (database per service), versioned migrations applied at start, cache cleaning on every
 * node, typed rows, and caller-scoped access that no action has to write by hand.
 *
 *   mixins: [DbMixin({ schema: "files", migrations: path.join(__dirname, "../../models/files/files/migrations"),
 *                      model: FileModel, owner: "tenant", entityName: "File" })]
 *
 * Typed rows: the model file declares its row (`ModelDefinition<"file", FileRow>`, mixins/db-model.ts) and the
 * service names its models in its schema type (`DbServiceSchema<Settings, Methods, Locals, typeof FileModel,
 * typeof OtherModel>`): `this.models.file.findByPk(id)`, `this.model`, `plainRow(row)` and `this.scoped(ctx)`
 * answer FileRow, no cast.
 *
 * Whose rows: `owner` ("tenant" | "user" | "tenant-and-user", or an Ownership with its columns, who sees all and
 * what the public sees; mixins/db-scope.ts; `tenantOwned: true` is `owner: "tenant"`) declares who owns the
 * main model's rows, once; `owners: { <model>: … }` the same for the other models. The same rule then decides
 * everywhere:
 *
 *   this.scoped(ctx)                       the main model as this caller may reach it (`scoped(ctx, "<model>")`
 *                                          another; a last `{ seesAll: … }` adjusts the rule for one use); every
 *     .page({ page, pageSize, where,       call adds the owner condition (reads: in place of the same columns
 *            order? }, toPublic?)          of `where`; writes: besides them):
 *     .findAll(where) / .findOne(where)    tenant A's caller never reads, counts, changes or deletes B's rows;
 *     .findById(id) / .get(id)  (404)      platform callers ($system, super admins) reach every owner's, or,
 *     .count(where)                        acting inside a tenant, that tenant's;
 *     .create(values)                      stamped with the caller's tenant / user;
 *     .update(changes, where)              never moves a row to another owner; answers how many
 *     .updateReturning(changes, where)     (or the changed rows);
 *     .destroy(where)                      answers how many;
 *     .condition                           the condition itself, for raw SQL.
 *   scope: { entity: "file" }             an action's declared scope (middlewares/entity-scope.middleware.ts)
 *                                          loads the row it names by id with the same rule;
 *   moleculer-db's CRUD actions            find/list/count scoped, get/update/remove 404 on foreign ids,
 *                                          create/insert stamped, cache keys carrying the owner.
 *
 * moleculer-db's CRUD actions are unpublished here (no `rest`): a service opts in per action, so a new
 * table never appears on the public API by accident.
 */
import type { ActionParams, Context, ServiceSchema, ServiceSettingSchema, Service } from "moleculer";
import MoleculerDbService from "moleculer-db";
import SequelizeDbAdapter from "moleculer-db-adapter-sequelize";
import type { Sequelize, ModelStatic, Model, WhereOptions } from "sequelize";
import { acquireSequelize, releaseSequelize, migrateSchema } from "../lib/database";
import type { CallerMeta } from "../lib/caller";
import { BadRequestError, ConflictError, EntityNotFoundError } from "../lib/errors";
import { MAX_PAGE, PAGE_PARAMS, type AnyModelDefinition, type InstanceOf, type ModelOf, type ModelsOf, type NamedDefinition } from "./db-model";
import { ScopedRows, ownerCondition, ownerFields, ownershipOf, scopeCacheKeys, stampOwner, type EntityOwner, type OwnerCondition, type Ownership } from "./db-scope";

export { MAX_PAGE, PAGE_PARAMS, NEWEST_FIRST, newestFirstPage, pageSchema, plainRow, toPage } from "./db-model";
export type { AnyModelDefinition, CreationOf, InstanceOf, ModelDefinition, ModelOf, ModelsOf, NamedDefinition, Page, RowOf } from "./db-model";
export { ScopedRows } from "./db-scope";
export type { EntityOwner, OwnerCondition, Ownership, ScopeReach } from "./db-scope";

export interface DbMixinOptions {
	/** PostgreSQL schema owned by this service; no other service reads or writes it. */
	schema: string;
	/** Folder of versioned migrations (umzug) for this schema. */
	migrations: string;
	model: AnyModelDefinition;
	/** Further tables of the same schema, reachable as `this.models[name]` (no CRUD actions of their own). */
	extraModels?: AnyModelDefinition[];
	/** Who owns the main model's rows (mixins/db-scope.ts): scopes `this.scoped(ctx)`, declared `scope`s and the CRUD actions. */
	owner?: EntityOwner | Ownership;
	/** Who owns the rows of other models, by name: `this.scoped(ctx, "<model>")` and declared `scope`s on them. */
	owners?: Record<string, EntityOwner | Ownership>;
	/** Rows carry `tenantId`: the same as `owner: "tenant"`. */
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
	declare service: Service & { schema: { model: AnyModelDefinition }; model?: ModelStatic<Model>; models?: Record<string, ModelStatic<Model>> };
	declare broker: Service["broker"];
	private url?: string;

	constructor(
		private readonly schemaName: string,
		private readonly extraModels: AnyModelDefinition[] = [],
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

export interface DbMixinLocals<TModel extends AnyModelDefinition = AnyModelDefinition, TExtra extends AnyModelDefinition = never> {
	adapter: SharedPoolSequelizeAdapter;
	/** The main model. */
	model: ModelOf<TModel>;
	/** Every model of the service's schema by name, the main one included (typed for the definitions the service names). */
	models: ModelsOf<TModel | TExtra>;
}

/** What a service built with DbMixin is, for typing its own methods and hooks. */
export type DbService<TModel extends AnyModelDefinition = AnyModelDefinition, TExtra extends AnyModelDefinition = never> = Service<DbMixinSettings> &
	DbMixinMethods<TModel, TExtra> &
	DbMixinLocals<TModel, TExtra>;

export interface DbMixinMethods<TModel extends AnyModelDefinition = AnyModelDefinition, TExtra extends AnyModelDefinition = never> {
	/**
	 * The main model as the caller may reach it: every read and write adds the declared owner's condition
	 * (mixins/db-scope.ts). `overrides` adjusts the declared ownership for one use (e.g. `{ seesAll: "super_admin" }`
	 * where an answer is cached by persona). 403 TENANT_REQUIRED / USER_REQUIRED for a caller who can own no row.
	 */
	scoped(ctx: Context<unknown, CallerMeta>, overrides?: Partial<Ownership>): ScopedRows<InstanceOf<TModel>>;
	/** Another model of the service (DbMixin's `owners` declares whose its rows are), as the caller may reach it. */
	scoped<K extends (TModel | TExtra)["name"]>(ctx: Context<unknown, CallerMeta>, model: K, overrides?: Partial<Ownership>): ScopedRows<InstanceOf<NamedDefinition<TModel | TExtra, K>>>;
	/** The declared ownership of a model of this service (the main one's `owner`), or undefined. */
	ownershipOf(model: string): Ownership | undefined;
	/** The caller's active tenant as a condition ({} for platform callers without one); prefer `scoped(ctx)`. */
	tenantFilter(ctx: DbContext): WhereOptions;
	parseQueryParam(ctx: DbContext): void;
	scopeQuery(ctx: DbContext): void;
	assertOwnsEntities(ctx: DbContext): Promise<void>;
	stampOwner(ctx: DbContext): void;
	translateDatabaseError(ctx: DbContext, err: Error): never;
	migrate(direction?: "up" | "down"): Promise<string[]>;
	/** moleculer-db's hook: cleans caches on every node; call it after writing through the model directly. */
	entityChanged(type: "created" | "updated" | "removed", json: unknown, ctx: Context): Promise<void>;
}

function defaultCacheKeys(action: string): string[] {
	const definition = (MoleculerDbService as unknown as { actions: Record<string, { cache?: { keys?: string[] } }> }).actions[action];
	return definition?.cache?.keys ?? [];
}

/** The ownership a service declares for each of its models, by name: the main one's from `owner` (or `tenantOwned`). */
function declaredOwnerships(options: DbMixinOptions): Map<string, Ownership> {
	const main = options.owner ?? (options.tenantOwned ? "tenant" : undefined);
	if (options.tenantOwned && main && ownershipOf(main).owner !== "tenant") {
		throw new Error(`DbMixin(${options.schema}): tenantOwned contradicts owner "${ownershipOf(main).owner}"`);
	}
	const declared = new Map(Object.entries(options.owners ?? {}).map(([model, owner]) => [model, ownershipOf(owner)]));
	if (main) {
		if (declared.has(options.model.name)) throw new Error(`DbMixin(${options.schema}): the owner of ${options.model.name} is declared twice (owner and owners)`);
		declared.set(options.model.name, ownershipOf(main));
	}
	const names = new Set([options.model.name, ...(options.extraModels ?? []).map((model) => model.name)]);
	for (const model of declared.keys()) if (!names.has(model)) throw new Error(`DbMixin(${options.schema}): owners names "${model}", which is not a model of the service`);
	return declared;
}

export function DbMixin(options: DbMixinOptions): Partial<ServiceSchema> {
	const ownerships = declaredOwnerships(options);
	const ownership = ownerships.get(options.model.name);
	const scopedCrud = ownership !== undefined && (ownership.owner !== "none" || ownership.visible !== undefined);
	const entityName = options.entityName ?? options.model.name;
	const metadata: DbMetadata = { database: { schema: options.schema, tenantOwned: ownership?.owner === "tenant" || ownership?.owner === "tenant-and-user" } };

	const unpublished = Object.fromEntries(CRUD_ACTIONS.map((name) => [name, { rest: null }] as const));
	const hooks = {
		before: {
			find: ["parseQueryParam", ...(scopedCrud ? ["scopeQuery"] : [])],
			list: ["parseQueryParam", ...(scopedCrud ? ["scopeQuery"] : [])],
			count: ["parseQueryParam", ...(scopedCrud ? ["scopeQuery"] : [])],
			...(scopedCrud
				? {
						get: "assertOwnsEntities",
						update: "assertOwnsEntities",
						remove: "assertOwnsEntities",
						create: "stampOwner",
						insert: "stampOwner",
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

	const schema: Partial<ServiceSchema> & { model: AnyModelDefinition; adapter: SharedPoolSequelizeAdapter } = {
		mixins: [MoleculerDbService as unknown as Partial<ServiceSchema>],
		adapter: new SharedPoolSequelizeAdapter(options.schema, options.extraModels),
		model: options.model,
		metadata,
		settings,
		actions: unpublished,
		hooks,

		/**
		 * Cache keys must carry the owner, or a cached read of one tenant (or user) would answer another; and
		 * every node cleans its own cache when any node changes the entity.
		 */
		merged(merged: ServiceSchema) {
			publishedReadParams(merged);
			if (scopedCrud) {
				for (const name of READ_ACTIONS) {
					const action = merged.actions?.[name];
					if (!action || typeof action !== "object" || !action.cache) continue;
					// `cache: true` would key on params alone; start from moleculer-db's keys for the action.
					const cache = action.cache === true ? {} : action.cache;
					const keys = cache.keys ?? defaultCacheKeys(name);
					action.cache = { ...cache, keys: [...new Set([...keys, ...scopeCacheKeys(ownership)])] };
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
			scoped(this: DbService, ctx: Context<unknown, CallerMeta>, modelOrOverrides?: string | Partial<Ownership>, more: Partial<Ownership> = {}) {
				const model = typeof modelOrOverrides === "string" ? modelOrOverrides : options.model.name;
				const overrides = typeof modelOrOverrides === "object" ? modelOrOverrides : more;
				const declared = ownerships.get(model);
				if (!declared) throw new Error(`Service "${this.name}" declares no owner of its ${model} rows (DbMixin's \`owner\` / \`owners\`)`);
				const effective = { ...declared, ...overrides };
				const meta = ctx.meta ?? {};
				const name = model === options.model.name ? entityName : model.replace(/^./, (c) => c.toUpperCase());
				return new ScopedRows(this.models[model], ownerCondition(effective, meta, "rows") ?? {}, effective, meta, name);
			},

			ownershipOf(model: string): Ownership | undefined {
				return ownerships.get(model);
			},

			tenantFilter(ctx: DbContext): WhereOptions {
				return ownerCondition({ owner: "tenant", tenantField: TENANT_FIELD }, ctx.meta, "rows") ?? {};
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

			/** The caller's condition wins over the same columns of a `query`: naming another tenant reaches nothing of it. */
			scopeQuery(ctx: DbContext) {
				const query = (ctx.params.query as Record<string, unknown> | undefined) ?? {};
				ctx.params.query = { ...query, ...ownerCondition(ownership!, ctx.meta, "rows") };
			},

			/** Another owner's id answers exactly as a missing one: 404, never 403. */
			async assertOwnsEntities(this: DbService, ctx: DbContext) {
				const condition: OwnerCondition = ownerCondition(ownership!, ctx.meta, "rows") ?? {};
				if (Object.keys(condition).length === 0) return;
				const requested = ctx.params.id;
				const ids = Array.isArray(requested) ? requested : [requested];
				const owned = await this.adapter.model.count({ where: { ...condition, id: ids } as WhereOptions });
				if (owned !== new Set(ids.map(String)).size) throw new EntityNotFoundError(entityName, requested);
				// The owner of a row never changes through an update.
				for (const field of ownerFields(ownership!)) delete ctx.params[field];
			},

			stampOwner(ctx: DbContext) {
				const stamp = (entity: unknown) => {
					if (entity && typeof entity === "object") stampOwner(ownership!, ctx.meta, entity as Record<string, unknown>);
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

/** True when a created service needs PostgreSQL on this node (DbMixin, or a mixin that says so). */
export function usesDatabase(service: Service): boolean {
	const metadata = service.metadata as (Partial<DbMetadata> & { needsDatabase?: boolean }) | undefined;
	return Boolean(metadata?.database || metadata?.needsDatabase);
}

/**
 * The schema type of a service built on DbMixin: its handlers see the mixin's methods and locals, with the
 * rows of `TModel` (its main model) and `TExtra` (a union of its other models' definitions) typed.
 */
export type DbServiceSchema<
	TSettings extends DbMixinSettings = DbMixinSettings,
	TMethods = unknown,
	TLocals = unknown,
	TModel extends AnyModelDefinition = AnyModelDefinition,
	TExtra extends AnyModelDefinition = never,
> = ServiceSchema<TSettings, DbMixinMethods<TModel, TExtra> & TMethods, DbMixinLocals<TModel, TExtra> & TLocals>;
