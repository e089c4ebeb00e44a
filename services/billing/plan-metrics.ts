/**
 * Billable metrics (a mixin of plans.service.ts): what usage events name and how one period of them becomes
 * one quantity (count, sum, max, unique_count over a property), as Lago's billable metrics. Super admins manage
 * them under /billable-metrics (Lago's name; /metrics would read as Prometheus', which is never served on the API
 * port); plans' charges name them. A metric a plan's charge names (any version: subscriptions may run on an old
 * one) can't be deleted nor change how it aggregates (409 METRIC_IN_USE); its name and description can change.
 */
import type { Context, ServiceSchema } from "moleculer";
import { Op, QueryTypes, type Transaction } from "sequelize";
import { PAGE_PARAMS, plainRow, toPage, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { ConflictError, EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { created } from "../../lib/api-path";
import { PageOf, Type } from "../../lib/schema";
import type { CallerMeta } from "../../lib/caller";
import { METRIC_CODE_PATTERN, PLANS_EVENTS, PublicMetricSchema, type Aggregation, type MetricChangedEvent, type PublicMetric } from "./contracts";
import type { CouponModel, MetricModel, PlanModel } from "../../models/billing/plans/plan.models";
import { descriptionRule, invalidFields, metricCodeRule, metricFieldProblem, metricFieldRules, nameRule, pathCodeRule, toPublicMetric, type MetricRow } from "./plan-rules";

const CACHE_TTL_SECONDS = 300;

export interface PlanMetricsMethods {
	loadMetric(code: string, transaction?: Transaction): Promise<MetricRow>;
	/** 422 UNKNOWN_METRIC naming the charges whose metric doesn't exist. */
	assertMetricsExist(codes: string[], transaction?: Transaction): Promise<void>;
	/** Codes of the plans (any version, any status) whose charges name the metric. */
	plansUsingMetric(code: string, transaction?: Transaction): Promise<string[]>;
	/**
	 * Plans naming metrics take it shared, a metric's deletion or change of kind exclusive: a plan is never
	 * written naming a metric being deleted, nor a metric deleted while a plan naming it is written.
	 */
	lockMetrics(transaction: Transaction, mode: "shared" | "exclusive"): Promise<void>;
	metricChanged(ctx: Context, code: string, change: MetricChangedEvent["change"], row: MetricRow | null): Promise<PublicMetric | null>;
}

type MetricsContext<P = Record<string, unknown>> = Context<P, CallerMeta>;
interface MetricInput {
	name?: string;
	description?: string;
	aggregation?: Aggregation;
	field?: string | null;
}

const PlanMetricsSchema: Partial<DbServiceSchema<DbMixinSettings, PlanMetricsMethods, unknown, typeof PlanModel, typeof MetricModel | typeof CouponModel>> = {
	actions: {
		listMetrics: {
			rest: "GET /billable-metrics",
			responses: { 200: { description: "A page of billable metrics, by code", body: PageOf(PublicMetricSchema) } },
			permissions: ["super_admin"],
			summary: "Billable metrics",
			params: { ...PAGE_PARAMS, $$strict: "remove" },
			async handler(ctx: MetricsContext<{ page: number; pageSize: number }>) {
				const { page, pageSize } = ctx.params;
				const { rows, count } = await this.models.metric.findAndCountAll({ order: [["code", "ASC"]], limit: pageSize, offset: (page - 1) * pageSize });
				return toPage(rows.map((row) => toPublicMetric(row.get({ plain: true }))), count, page, pageSize);
			},
		},

		getMetric: {
			rest: "GET /billable-metrics/:code",
			responses: { 200: { description: "The metric", body: PublicMetricSchema } },
			permissions: ["super_admin"],
			summary: "One billable metric",
			params: { code: pathCodeRule },
			async handler(ctx: MetricsContext<{ code: string }>) {
				return toPublicMetric(await this.loadMetric(ctx.params.code));
			},
		},

		createMetric: {
			rest: "POST /billable-metrics",
			responses: { 201: { description: "The new metric", body: PublicMetricSchema, headers: { Location: "The metric's URL" } } },
			errors: { 409: ["ALREADY_EXISTS"] },
			permissions: ["super_admin"],
			summary: "Add a billable metric",
			description: "`aggregation`: `count` (events), `sum` or `max` (of the event's `value`, or of the property `field` names), `unique_count` (distinct values of the property `field`).",
			params: { code: metricCodeRule, ...metricFieldRules, $$strict: "remove" },
			async handler(ctx: MetricsContext<Required<MetricInput> & { code: string }>) {
				const problem = metricFieldProblem(ctx.params.aggregation, ctx.params.field);
				if (problem) throw invalidFields([problem]);
				if ((await this.models.metric.count({ where: { code: ctx.params.code } })) > 0) throw new ConflictError(`A metric with the code ${ctx.params.code} exists`, "ALREADY_EXISTS", { code: ctx.params.code });
				const row = (await this.models.metric.create({ ...ctx.params, field: ctx.params.field ?? null })).get({ plain: true });
				const metric = await this.metricChanged(ctx, row.code, "created", row);
				created(ctx, "billable-metrics", row.code);
				return metric;
			},
		},

		updateMetric: {
			rest: "PUT /billable-metrics/:code",
			responses: { 200: { description: "The metric as changed", body: PublicMetricSchema } },
			errors: { 409: ["METRIC_IN_USE"] },
			permissions: ["super_admin"],
			summary: "Change a metric: its name and description always, how it aggregates only while no plan charges it",
			params: {
				code: pathCodeRule,
				name: { ...nameRule, optional: true },
				description: { ...descriptionRule, optional: true },
				aggregation: { ...metricFieldRules.aggregation, optional: true },
				field: metricFieldRules.field,
				$$strict: "remove",
			},
			async handler(ctx: MetricsContext<MetricInput & { code: string }>) {
				const { code, ...input } = ctx.params;
				const given = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as MetricInput;
				const outcome = await this.adapter.db.transaction(async (transaction) => {
					const before = await this.loadMetric(code, transaction);
					const changes = Object.fromEntries(Object.entries(given).filter(([field, value]) => value !== (before as unknown as Record<string, unknown>)[field]));
					if (Object.keys(changes).length === 0) return { changed: false, row: before };
					const after = { ...before, ...changes } as MetricRow;
					const problem = metricFieldProblem(after.aggregation, after.field);
					if (problem) throw invalidFields([problem]);
					if ("aggregation" in changes || "field" in changes) {
						await this.lockMetrics(transaction, "exclusive");
						const plans = await this.plansUsingMetric(code, transaction);
						if (plans.length > 0) throw new ConflictError(`Plans charge ${code}: how it aggregates can't change under them (make a new metric)`, "METRIC_IN_USE", { plans });
					}
					await this.models.metric.update(changes, { where: { id: before.id }, transaction });
					return { changed: true, row: await this.loadMetric(code, transaction) };
				});
				if (!outcome.changed) return toPublicMetric(outcome.row);
				return this.metricChanged(ctx, code, "updated", outcome.row);
			},
		},

		deleteMetric: {
			rest: "DELETE /billable-metrics/:code",
			responses: { 204: "Deleted" },
			errors: { 409: ["METRIC_IN_USE"] },
			permissions: ["super_admin"],
			summary: "Delete a metric no plan charges (any version of any plan)",
			params: { code: pathCodeRule },
			async handler(ctx: MetricsContext<{ code: string }>) {
				const code = ctx.params.code;
				await this.adapter.db.transaction(async (transaction) => {
					const metric = await this.loadMetric(code, transaction);
					await this.lockMetrics(transaction, "exclusive");
					const plans = await this.plansUsingMetric(code, transaction);
					if (plans.length > 0) throw new ConflictError(`Plans charge ${code}: remove it from their charges first`, "METRIC_IN_USE", { plans });
					await this.models.metric.destroy({ where: { id: metric.id }, transaction });
				});
				await this.metricChanged(ctx, code, "deleted", null);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Internal: every metric (usage validates events and aggregates with them). */
		metrics: {
			visibility: "public",
			responses: { 200: { description: "Every billable metric", body: Type.Array(PublicMetricSchema) } },
			cache: { keys: [], ttl: CACHE_TTL_SECONDS },
			async handler() {
				return (await this.models.metric.findAll({ order: [["code", "ASC"]] })).map((row) => toPublicMetric(row.get({ plain: true })));
			},
		},
	},

	methods: {
		async loadMetric(code: string, transaction?: Transaction) {
			const row = METRIC_CODE_PATTERN.test(code) ? plainRow(await this.models.metric.findOne({ where: { code }, transaction })) : undefined;
			if (!row) throw new EntityNotFoundError("Metric", code);
			return row;
		},

		async assertMetricsExist(codes: string[], transaction?: Transaction) {
			if (codes.length === 0) return;
			const found = new Set((await this.models.metric.findAll({ where: { code: { [Op.in]: codes } }, attributes: ["code"], transaction })).map((row) => row.get({ plain: true }).code));
			const missing = codes.map((code, index) => ({ code, field: `charges[${index}].metric` })).filter((item) => !found.has(item.code));
			if (missing.length === 0) return;
			throw new UnprocessableEntityError(
				`No such metric: ${missing.map((item) => `${item.field} (${item.code})`).join(", ")}; create it first (POST /billable-metrics)`,
				"UNKNOWN_METRIC",
				{ fields: missing.map((item) => item.field), metrics: missing.map((item) => item.code) },
			);
		},

		async plansUsingMetric(code: string, transaction?: Transaction) {
			const rows = await this.adapter.db.query<{ code: string }>(`SELECT DISTINCT code FROM "plans".plans WHERE charges @> CAST(:probe AS jsonb) ORDER BY code`, {
				replacements: { probe: JSON.stringify([{ metric: code }]) },
				type: QueryTypes.SELECT,
				transaction,
			});
			return rows.map((row) => row.code);
		},

		async lockMetrics(transaction: Transaction, mode: "shared" | "exclusive") {
			const lock = mode === "shared" ? "pg_advisory_xact_lock_shared" : "pg_advisory_xact_lock";
			await this.adapter.db.query(`SELECT ${lock}(hashtext('lattice:plans:metrics'))`, { transaction });
		},

		async metricChanged(ctx: Context, code: string, change: MetricChangedEvent["change"], row: MetricRow | null) {
			const metric = row ? toPublicMetric(row) : null;
			await this.entityChanged(change === "deleted" ? "removed" : change, { code }, ctx);
			const event: MetricChangedEvent = { code, change, metric };
			ctx.broadcast(PLANS_EVENTS.metricChanged, event);
			return metric;
		},
	},
};

/** Typed against the plans service it joins (`this` is the whole service); a mixin slot takes a plain schema. */
export const PlanMetricsMixin = PlanMetricsSchema as Partial<ServiceSchema>;
