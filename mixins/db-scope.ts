/**
 * Whose row is this, and may this caller reach it: the one rule, declared once per model (DbMixin's `owner`
 * option) and applied everywhere a row is read in a caller's name: `this.scoped(ctx)` in custom actions,
 * moleculer-db's CRUD actions (DbMixin's hooks) and an action's declared `scope`
 * (middlewares/entity-scope.middleware.ts).
 *
 * An owner is the row's tenant (`tenantId`), its user (`userId`), both (a user's row inside a tenant), or
 * nobody. A caller reaches the rows it owns: those of its active tenant (no active tenant: 403
 * TENANT_REQUIRED), those of its user. Platform callers ($system, super admins; `seesAll` narrows or widens
 * that) reach every owner's rows. Two reaches:
 *
 * - "row": one row an action names by id (a declared `scope`): a platform caller reaches any owner's; a user's
 *   row asked for by a caller without a user (an API key) is nobody's, so 404 like any other foreign id.
 * - "rows": the caller's view of the table (lists, counts, writes through `scoped(ctx)`, moleculer-db's CRUD):
 *   a platform caller acting inside a tenant sees that tenant's rows, as its members do (`platformLists:
 *   "all"`: every owner's); a user-owned list without a user is 403 USER_REQUIRED.
 *
 * `visible` restricts what callers who don't see all may see besides owning it (catalog: `{ status: "active" }`).
 */
import { Op, type Attributes, type CreationAttributes, type FindOptions, type Model, type ModelStatic, type Order, type Transaction, type WhereAttributeHash, type WhereOptions } from "sequelize";
import { isPlatformCaller, isSuperAdmin, normalizeUuid, requireTenant, requireUser, type CallerMeta } from "../lib/caller";
import { EntityNotFoundError, UnprocessableEntityError } from "../lib/errors";
import { NEWEST_FIRST, toPage, type Page } from "./db-model";

/** Who owns a row: its tenant, its user, both (the user's row inside the tenant), or nobody. */
export type EntityOwner = "tenant" | "user" | "tenant-and-user" | "none";

export interface Ownership {
	owner: EntityOwner;
	/** Columns naming the owner (defaults "tenantId", "userId"). */
	tenantField?: string;
	userField?: string;
	/**
	 * Who reaches every owner's rows: "platform" ($system and super admins; the default), "super_admin" (not
	 * $system: e.g. an answer cached by persona, which platform work lacks), or "nobody" (a personal feed).
	 */
	seesAll?: "platform" | "super_admin" | "nobody";
	/** What everyone else may see besides owning it: rows matching these columns (e.g. `{ status: "active" }`). */
	visible?: Record<string, unknown>;
	/** A list for a caller who sees all but acts inside a tenant: that tenant's rows ("tenant", default) or everyone's ("all"). */
	platformLists?: "tenant" | "all";
	/** Why a user-owned list asked for without a user is refused (403 USER_REQUIRED). */
	userRequired?: string;
}

export type ScopeReach = "row" | "rows";

/** Conditions on a row's columns, all of which must hold. */
export type OwnerCondition = Record<string, unknown>;

export function ownershipOf(owner: EntityOwner | Ownership): Ownership {
	return typeof owner === "string" ? { owner } : owner;
}

const ownsByTenant = (ownership: Ownership) => ownership.owner === "tenant" || ownership.owner === "tenant-and-user";
const ownsByUser = (ownership: Ownership) => ownership.owner === "user" || ownership.owner === "tenant-and-user";

function seesAll(ownership: Ownership, meta: CallerMeta): boolean {
	switch (ownership.seesAll ?? "platform") {
		case "platform":
			return isPlatformCaller(meta);
		case "super_admin":
			return isSuperAdmin(meta);
		default:
			return false;
	}
}

/**
 * The conditions the caller's rows meet ({} for every row), or undefined when no row can be the caller's.
 * Throws 403 TENANT_REQUIRED / USER_REQUIRED when the caller can't own such rows at all (see the top).
 */
export function ownerCondition(ownership: Ownership, meta: CallerMeta, reach: ScopeReach): OwnerCondition | undefined {
	const tenantField = ownership.tenantField ?? "tenantId";
	if (seesAll(ownership, meta)) {
		const narrowed = reach === "rows" && ownsByTenant(ownership) && meta.tenantId && (ownership.platformLists ?? "tenant") === "tenant";
		return narrowed ? { [tenantField]: meta.tenantId } : {};
	}
	const where: OwnerCondition = { ...ownership.visible };
	if (ownsByTenant(ownership)) where[tenantField] = requireTenant(meta);
	if (ownsByUser(ownership)) {
		// Things that belong to people: an API key or anonymous work has none of its own.
		if (!meta.user?.id && reach === "row") return undefined;
		where[ownership.userField ?? "userId"] = requireUser(meta, ownership.userRequired);
	}
	return where;
}

/** True when a loaded row meets the condition (compared after loading, so any loader gets the same rule). */
export function meetsCondition(row: Record<string, unknown>, condition: OwnerCondition): boolean {
	return Object.entries(condition).every(([field, value]) => row[field] === value);
}

/**
 * The owner columns a new row gets from its creator: the caller's active tenant and user, whatever the
 * values said. A platform caller acting for nobody in particular names the owner itself (else 422).
 */
export function stampOwner(ownership: Ownership, meta: CallerMeta, values: Record<string, unknown>): void {
	const platform = seesAll(ownership, meta);
	if (ownsByTenant(ownership)) {
		const field = ownership.tenantField ?? "tenantId";
		if (meta.tenantId) values[field] = meta.tenantId;
		else if (!platform) requireTenant(meta);
		else if (!values[field]) throw new UnprocessableEntityError(`${field} is required`, "TENANT_REQUIRED");
	}
	if (ownsByUser(ownership)) {
		const field = ownership.userField ?? "userId";
		if (meta.user?.id) values[field] = meta.user.id;
		else if (!platform) requireUser(meta, ownership.userRequired);
		else if (!values[field]) throw new UnprocessableEntityError(`${field} is required`, "USER_REQUIRED");
	}
}

/** The owner columns of a model: an update never moves a row to another owner. */
export function ownerFields(ownership: Ownership): string[] {
	return [...(ownsByTenant(ownership) ? [ownership.tenantField ?? "tenantId"] : []), ...(ownsByUser(ownership) ? [ownership.userField ?? "userId"] : [])];
}

/**
 * What a cached read in the caller's scope must be keyed by (`#` meta keys), or another caller's answer
 * would be served: the tenant, the user, and who sees beyond `visible`.
 */
export function scopeCacheKeys(ownership: Ownership): string[] {
	return [
		...(ownsByTenant(ownership) ? ["#tenantId"] : []),
		...(ownsByUser(ownership) ? ["#user.id"] : []),
		...(ownership.visible ? ["#persona", "#$system"] : []),
	];
}

type Options = { transaction?: Transaction };

/** A page of rows: which, how many, and in what order (default: newest first, ties by id). */
export interface PageQuery<M extends Model> {
	page: number;
	pageSize: number;
	where?: WhereAttributeHash<Attributes<M>>;
	order?: Order;
}

/**
 * A model as one caller may reach it (`this.scoped(ctx)`): every read and write carries the owner condition.
 * A read shows the caller's rows in place of another owner's: the condition replaces the same columns of the
 * caller's `where` (a list's `userId` filter is ignored for anyone who doesn't see all, as moleculer-db's
 * `query` always was). A write must meet both: one naming another owner's rows changes nothing. Rows come back
 * as plain typed objects.
 */
export class ScopedRows<M extends Model> {
	constructor(
		private readonly model: ModelStatic<M>,
		/** The owner condition of this caller ("rows" reach). */
		readonly condition: OwnerCondition,
		private readonly ownership: Ownership,
		private readonly meta: CallerMeta,
		private readonly entityName: string,
	) {}

	/** For reads: the caller's rows in place of another owner's. */
	private where(where: WhereAttributeHash<Attributes<M>> = {}): WhereAttributeHash<Attributes<M>> {
		return { ...where, ...this.condition } as WhereAttributeHash<Attributes<M>>;
	}

	/** For writes: rows that meet both the caller's `where` and the owner condition. */
	private both(where: WhereAttributeHash<Attributes<M>>): WhereOptions<Attributes<M>> {
		return { [Op.and]: [where, this.condition] } as WhereOptions<Attributes<M>>;
	}

	/** A malformed id names nothing (undefined) when the key is a UUID column: no database error, no 500. */
	private key(id: unknown): string | undefined {
		const key = this.model.primaryKeyAttribute;
		const type = (this.model.getAttributes() as Record<string, { type?: { key?: string } }>)[key]?.type;
		if (type?.key === "UUID") return normalizeUuid(id);
		return typeof id === "string" ? id : undefined;
	}

	async findAll(where?: WhereAttributeHash<Attributes<M>>, options: Omit<FindOptions<Attributes<M>>, "where"> = {}): Promise<Array<Attributes<M>>> {
		const rows = await this.model.findAll({ ...options, where: this.where(where) });
		return rows.map((row) => row.get({ plain: true }));
	}

	async findOne(where?: WhereAttributeHash<Attributes<M>>, options: Omit<FindOptions<Attributes<M>>, "where"> = {}): Promise<Attributes<M> | undefined> {
		const row = await this.model.findOne({ ...options, where: this.where(where) });
		return row ? row.get({ plain: true }) : undefined;
	}

	/** The caller's row with this id, or undefined: missing, malformed and someone else's alike. */
	async findById(id: unknown, options: Options = {}): Promise<Attributes<M> | undefined> {
		const key = this.key(id);
		if (key === undefined) return undefined;
		return this.findOne({ [this.model.primaryKeyAttribute]: key } as WhereAttributeHash<Attributes<M>>, options);
	}

	/** The caller's row with this id, or 404 ENTITY_NOT_FOUND: missing, malformed and someone else's alike. */
	async get(id: unknown, options: Options = {}): Promise<Attributes<M>> {
		const row = await this.findById(id, options);
		if (!row) throw new EntityNotFoundError(this.entityName, typeof id === "string" ? id : String(id));
		return row;
	}

	async count(where?: WhereAttributeHash<Attributes<M>>, options: Options = {}): Promise<number> {
		return this.model.count({ ...options, where: this.where(where) });
	}

	/** One page of the caller's rows, newest first (ties by id) unless `order` says otherwise, optionally mapped to their public form. */
	async page(params: PageQuery<M>): Promise<Page<Attributes<M>>>;
	async page<T>(params: PageQuery<M>, toPublic: (row: Attributes<M>) => T): Promise<Page<T>>;
	async page<T>(params: PageQuery<M>, toPublic?: (row: Attributes<M>) => T): Promise<Page<T | Attributes<M>>> {
		const { page, pageSize, order = NEWEST_FIRST } = params;
		const { rows, count } = await this.model.findAndCountAll({ where: this.where(params.where), order, limit: pageSize, offset: (page - 1) * pageSize });
		const plain = rows.map((row) => row.get({ plain: true }));
		return toPage(toPublic ? plain.map(toPublic) : plain, count, page, pageSize);
	}

	/** Creates a row owned by the caller: the owner columns are the caller's, whatever `values` says. */
	async create(values: CreationAttributes<M>, options: Options = {}): Promise<Attributes<M>> {
		const owned = { ...values } as Record<string, unknown>;
		stampOwner(this.ownership, this.meta, owned);
		return (await this.model.create(owned as CreationAttributes<M>, options)).get({ plain: true });
	}

	/** Changes the caller's rows matching `where` (never their owner); answers how many. */
	async update(changes: Partial<Attributes<M>>, where: WhereAttributeHash<Attributes<M>>, options: Options = {}): Promise<number> {
		const values = this.ownerless(changes);
		if (Object.keys(values).length === 0) return this.model.count({ ...options, where: this.both(where) });
		const [count] = await this.model.update(values, { ...options, where: this.both(where) });
		return count;
	}

	/** Changes the caller's rows matching `where` (never their owner) and answers them as changed. */
	async updateReturning(changes: Partial<Attributes<M>>, where: WhereAttributeHash<Attributes<M>>, options: Options = {}): Promise<Array<Attributes<M>>> {
		const values = this.ownerless(changes);
		if (Object.keys(values).length === 0) return (await this.model.findAll({ ...options, where: this.both(where) })).map((row) => row.get({ plain: true }));
		const [, rows] = await this.model.update(values, { ...options, where: this.both(where), returning: true });
		return rows.map((row) => row.get({ plain: true }));
	}

	private ownerless(changes: Partial<Attributes<M>>): Partial<Attributes<M>> {
		const values: Record<string, unknown> = { ...changes };
		for (const field of ownerFields(this.ownership)) delete values[field];
		return values as Partial<Attributes<M>>;
	}

	/** Deletes the caller's rows matching `where`; answers how many. */
	async destroy(where: WhereAttributeHash<Attributes<M>>, options: Options = {}): Promise<number> {
		return this.model.destroy({ ...options, where: this.both(where) });
	}
}
