/**
 * Loading an entity that belongs to a person (an order, a payment): its owner and platform callers (super
 * admins, system work) see it; anyone else gets the same 404 as for a missing or malformed id, so ids
 * reveal nothing. The service must also use DbMixin (this reads `this.models`).
 */
import type { Context, ServiceSchema } from "moleculer";
import type { Model, ModelStatic } from "sequelize";
import type { CallerMeta } from "../lib/caller";
import { EntityNotFoundError, ForbiddenError } from "../lib/errors";
import { plainRow } from "./db.mixin";

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface OwnedEntityOptions {
	/** The DbMixin model (by name) holding the entity. */
	model: string;
	/** How errors name it: "Order", "Payment". */
	entityName: string;
	/** Plural for the "signed-in users only" message: "orders". */
	pluralName: string;
}

export interface OwnedEntityMethods<TRow> {
	isPrivileged(meta: CallerMeta): boolean;
	requireUser(meta: CallerMeta): string;
	loadRow(id: string): Promise<TRow | undefined>;
	loadVisible(ctx: Context<unknown, CallerMeta>, id: string): Promise<TRow>;
}

type ServiceWithModels = { models: Record<string, ModelStatic<Model>> } & OwnedEntityMethods<{ userId: string }>;

export function OwnedEntityMixin(options: OwnedEntityOptions): Partial<ServiceSchema> {
	return {
		methods: {
			isPrivileged(meta: CallerMeta): boolean {
				return Boolean(meta.$system) || (meta.persona ?? meta.user?.persona) === "super_admin";
			},

			/** These belong to people: API keys and anonymous platform work have none of their own. */
			requireUser(meta: CallerMeta): string {
				if (!meta.user?.id) throw new ForbiddenError(`Only signed-in users have ${options.pluralName}`, "USER_REQUIRED");
				return meta.user.id;
			},

			async loadRow(this: ServiceWithModels, id: string) {
				if (typeof id !== "string" || !UUID_PATTERN.test(id)) return undefined;
				return plainRow(await this.models[options.model].findByPk(id.toLowerCase()));
			},

			async loadVisible(this: ServiceWithModels, ctx: Context<unknown, CallerMeta>, id: string) {
				const row = await this.loadRow(id);
				if (!row || (!this.isPrivileged(ctx.meta) && row.userId !== ctx.meta.user?.id)) throw new EntityNotFoundError(options.entityName, id);
				return row;
			},
		},
	};
}
