/**
 * Helpers for a service that keeps one aggregate in a DbMixin model (an order, a payment): loading a row
 * by id for platform work. Who may see a row is not decided here: actions declare `scope` (see
 * middlewares/entity-scope.middleware.ts) and read the row from `ctx.locals.entity`.
 */
import type { ServiceSchema } from "moleculer";
import type { Model, ModelStatic } from "sequelize";
import { normalizeUuid } from "../lib/caller";
import { plainRow } from "./db.mixin";

export interface AggregateOptions {
	/** The DbMixin model (by name) holding the aggregate. */
	model: string;
}

export interface AggregateMethods<TRow> {
	/** The row by id, whoever owns it (a malformed id names nothing): for platform work and reloads. */
	loadRow(id: string): Promise<TRow | undefined>;
}

type ServiceWithModels = { models: Record<string, ModelStatic<Model>> };

export function AggregateMixin(options: AggregateOptions): Partial<ServiceSchema> {
	return {
		methods: {
			async loadRow(this: ServiceWithModels, id: string) {
				const uuid = normalizeUuid(id);
				return uuid ? plainRow(await this.models[options.model].findByPk(uuid)) : undefined;
			},
		},
	};
}
