/**
 * Usage metering (schema `usage`): tenants and services record what they use as events, and billing reads
 * each metric's quantity over a period.
 *
 * - `POST /usage-events` (a tenant admin's token, or an API key with `usage:write`) takes one event or
 *   `{ events: [...] }` (up to MAX_USAGE_BATCH), and `usage.record` the same for services. A batch is taken
 *   whole or not at all: an unknown metric (422 UNKNOWN_METRIC), an event older than the current period's
 *   start minus BILLING_USAGE_GRACE_SECONDS (422 USAGE_TOO_OLD) or more than five minutes ahead of the
 *   tenant's billing clock (422 USAGE_IN_FUTURE) refuses all of it. The batch is one multi-row
 *   `INSERT … ON CONFLICT DO NOTHING` keyed by (tenant, transactionId): a replay is accepted and not counted
 *   twice (202 with how many were new).
 * - `usage.aggregate` answers each metric's quantity over [from, to), one SQL statement per aggregation kind
 *   (usage-store.ts); `GET /usage` prices the current period through money.priceCharge; `usage.checkLimit`
 *   tells a consuming service whether a hard limit leaves room.
 *
 * This is the ingest hot path, so a request asks no other service: the metric registry (`plans.metrics`) and
 * each tenant's period and billing clock (`billing.currentPlan`) are cached per node (usage-caches.ts) and
 * dropped on the events that say they changed.
 */
import path from "node:path";
import type { Context } from "moleculer";
import { DbMixin, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { UsageEventModel } from "../../models/billing/usage/usage-event.model";
import { isPlatformCaller, requireTenant, systemCall, type CallerMeta } from "../../lib/caller";
import { BadRequestError, ForbiddenError, UnprocessableEntityError } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import {
	BILLING_EVENTS,
	MAX_USAGE_BATCH,
	PLANS_EVENTS,
	RecordUsageResultSchema,
	UsageSummarySchema,
	type AggregateUsageParams,
	type CheckUsageLimitParams,
	type CurrentPlan,
	type LimitsChangedEvent,
	type MetricUsage,
	type PublicMetric,
	type RecordUsageParams,
	type RecordUsageResult,
	type UsageEventInput,
	type UsageLimitCheck,
	type UsageQuantities,
	type UsageSummary,
} from "./contracts";
import { priceCharge } from "./money";
import { MetricRegistry, TenantPeriods, type MetricDefinition, type MetricMap, type TenantPeriod } from "./usage-caches";
import { aggregateUsage, currentLevel, insertEvents, USAGE_SCHEMA } from "./usage-store";

/** How far ahead of the tenant's billing clock an event may be stamped (clients' clocks drift). */
export const FUTURE_SKEW_MS = 5 * 60_000;
/** RFC 3339 with a zone, to the microsecond: what JavaScript and PostgreSQL both read the same way. */
const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$/;
const METRIC_CODE = { type: "string", min: 1, max: 64 } as const;

/** One event, refused whole on any unknown field (a typo must not go unmetered) and on null anywhere. */
const EVENT_RULE = {
	type: "object",
	strict: true,
	props: {
		transactionId: { type: "string", min: 1, max: 200, description: "Unique per tenant: a replay is accepted and not counted twice." },
		metric: { ...METRIC_CODE, description: "A billable metric's code (GET /billable-metrics)." },
		value: { type: "number", integer: true, min: 0, max: Number.MAX_SAFE_INTEGER, optional: true, description: "For sum and max metrics without a value field; 1 when left out." },
		timestamp: { type: "string", pattern: TIMESTAMP_PATTERN, optional: true, description: "When it happened (RFC 3339 with a zone); the tenant's billing time when left out." },
		properties: { type: "object", optional: true, description: "Free-form; unique_count metrics count distinct values of one property, and sum and max metrics with a field read it here." },
	},
} as const;
const EVENTS_RULE = { type: "array", items: EVENT_RULE, min: 1, max: MAX_USAGE_BATCH } as const;

type UsageContext<P = Record<string, unknown>> = Context<P, CallerMeta>;

interface UsageLocals {
	metrics: MetricRegistry;
	periods: TenantPeriods;
	graceMs: number;
}

interface UsageMethods {
	isApiKeyCaller(ctx: UsageContext<unknown>): boolean;
	targetTenant(ctx: UsageContext<unknown>, tenantId: string): string;
	period(tenantId: string): Promise<TenantPeriod>;
	ingest(tenantId: string, events: UsageEventInput[], batch: boolean): Promise<RecordUsageResult>;
	checkEvents(events: UsageEventInput[], metrics: MetricMap, period: TenantPeriod, batch: boolean): void;
	definitions(codes: readonly string[] | undefined): Promise<MetricDefinition[]>;
	summary(tenantId: string): Promise<UsageSummary>;
}

/**
 * The instant a timestamp (already matching TIMESTAMP_PATTERN) names, or NaN. JavaScript rolls a day the month
 * doesn't have over into the next month (February 30 → March 1) where PostgreSQL refuses it: refused here too.
 */
function instantOf(timestamp: string): number {
	const year = Number(timestamp.slice(0, 4));
	const month = Number(timestamp.slice(5, 7));
	const day = Number(timestamp.slice(8, 10));
	if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return Number.NaN;
	return Date.parse(timestamp);
}

function unknownMetrics(events: readonly UsageEventInput[], metrics: MetricMap): string[] {
	const unknown = new Set<string>();
	for (const event of events) if (!metrics.has(event.metric)) unknown.add(event.metric);
	return [...unknown];
}

function unknownMetricError(codes: string[]): UnprocessableEntityError {
	return new UnprocessableEntityError(`Unknown metric${codes.length > 1 ? "s" : ""}: ${codes.join(", ")}; nothing was recorded`, "UNKNOWN_METRIC", { metrics: codes });
}

const UsageService: DbServiceSchema<DbMixinSettings, UsageMethods, UsageLocals> = {
	name: "usage",
	mixins: [
		DbMixin({
			schema: USAGE_SCHEMA,
			migrations: path.join(__dirname, "../../models/billing/usage/migrations"),
			model: UsageEventModel,
			tenantOwned: true,
			entityName: "Usage event",
		}),
	],
	// POST /usage-events and GET /usage: each action names its full path.
	settings: { rest: "/" },

	actions: {
		recordEvents: {
			rest: "POST /usage-events",
			responses: { 202: { description: "Taken: how many events were new and how many were replays", body: RecordUsageResultSchema } },
			errors: { 403: ["TENANT_REQUIRED", "SCOPE_REQUIRED"], 422: ["UNKNOWN_METRIC", "USAGE_TOO_OLD", "USAGE_IN_FUTURE", "INVALID_USAGE_VALUE"] },
			// Tenant admins, and API keys with the scope (keys act as members, below tenant:admin).
			permissions: ["tenant:admin", "$isApiKeyCaller"],
			scopes: ["usage:write"],
			summary: "Record usage: one event, or a batch `{ events: [...] }` of up to 1,000, taken whole or not at all",
			description:
				"Each event: `transactionId` (unique per tenant: a replay answers 202 and is not counted again, nor is a repeat within the batch), `metric` (a metric's code), " +
				"`value` (integer ≥ 0, for sum and max metrics; 1 when left out), `timestamp` (RFC 3339 with a zone; the tenant's billing time when left out), `properties` (an object). " +
				"Nothing of the batch is stored when any event names an unknown metric (422 UNKNOWN_METRIC, listing them), is older than the current billing period's start minus the grace period " +
				"(422 USAGE_TOO_OLD), is more than 5 minutes ahead of the billing clock (422 USAGE_IN_FUTURE), or lacks the integer property a metric sums (422 INVALID_USAGE_VALUE).",
			params: { $$root: true, type: "multi", rules: [{ type: "object", strict: true, props: { events: EVENTS_RULE } }, EVENT_RULE] },
			async handler(ctx: UsageContext<UsageEventInput | { events: UsageEventInput[] }>) {
				const tenantId = requireTenant(ctx.meta);
				const params = ctx.params;
				const batch = "events" in params;
				const result = await this.ingest(tenantId, batch ? params.events : [params], batch);
				ctx.meta.$statusCode = 202;
				return result;
			},
		},

		/** Internal: what a service meters for a tenant, by the same rules (a platform caller names any tenant). */
		record: {
			visibility: "public",
			params: { tenantId: "uuid", events: EVENTS_RULE, $$strict: "remove" },
			async handler(ctx: UsageContext<RecordUsageParams>): Promise<RecordUsageResult> {
				return this.ingest(this.targetTenant(ctx, ctx.params.tenantId), ctx.params.events, true);
			},
		},

		/** Internal: each metric's quantity over [from, to) (all known metrics unless `metrics` names some). */
		aggregate: {
			visibility: "public",
			params: {
				tenantId: "uuid",
				from: { type: "string", pattern: TIMESTAMP_PATTERN },
				to: { type: "string", pattern: TIMESTAMP_PATTERN },
				metrics: { type: "array", items: METRIC_CODE, max: 1000, optional: true },
				$$strict: "remove",
			},
			async handler(ctx: UsageContext<AggregateUsageParams>): Promise<UsageQuantities> {
				const tenantId = this.targetTenant(ctx, ctx.params.tenantId);
				const from = new Date(ctx.params.from);
				const to = new Date(ctx.params.to);
				if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
					throw new BadRequestError("from and to must be instants with from before to", "INVALID_PERIOD", { from: ctx.params.from, to: ctx.params.to });
				}
				return aggregateUsage(this.adapter.db, tenantId, from, to, await this.definitions(ctx.params.metrics));
			},
		},

		/**
		 * Internal: may the tenant use `increment` more of `metric` now? Against the current plan's hard limit
		 * for it: the period's quantity so far (for a max metric, its current level) plus the increment must
		 * not exceed it. No hard limit: allowed. Consuming services answer 403 PLAN_LIMIT_REACHED when not.
		 */
		checkLimit: {
			visibility: "public",
			params: { tenantId: "uuid", metric: METRIC_CODE, increment: { type: "number", integer: true, min: 0, max: Number.MAX_SAFE_INTEGER, optional: true, default: 1 }, $$strict: "remove" },
			async handler(ctx: UsageContext<CheckUsageLimitParams>): Promise<UsageLimitCheck> {
				const tenantId = this.targetTenant(ctx, ctx.params.tenantId);
				const [definition] = await this.definitions([ctx.params.metric]);
				const period = await this.period(tenantId);
				const hardLimit = period.answer.plan.charges.find((charge) => charge.metric === definition.code)?.hardLimit ?? null;
				const now = new Date(Date.now() + period.offsetMs);
				const quantity =
					definition.aggregation === "max"
						? await currentLevel(this.adapter.db, tenantId, definition.code, now)
						: (await aggregateUsage(this.adapter.db, tenantId, new Date(period.periodStartMs), new Date(period.periodEndMs), [definition]))[definition.code];
				return { allowed: hardLimit === null || quantity + ctx.params.increment <= hardLimit, metric: definition.code, quantity, hardLimit };
			},
		},

		getUsage: {
			rest: "GET /usage",
			responses: { 200: { description: "The current period's usage per metered charge of the tenant's plan", body: UsageSummarySchema } },
			errors: { 403: ["TENANT_REQUIRED", "SCOPE_REQUIRED"] },
			permissions: ["tenant:viewer"],
			scopes: ["usage:read"],
			summary: "Usage of the current billing period: each metered charge's quantity, free units, billable units and estimated amount",
			description: "Quantities are live (events recorded so far); amounts are estimates priced by the plan's charges, before discounts and tax.",
			params: { $$strict: "remove" },
			async handler(ctx: UsageContext) {
				return this.summary(requireTenant(ctx.meta));
			},
		},
	},

	events: {
		/** A metric was created, changed or deleted: the registry is fetched again. */
		[PLANS_EVENTS.metricChanged]: {
			handler(this: UsageLocals) {
				this.metrics.clear();
			},
		},
		/** The plans service changed something (its DbMixin cache clean, which every write also broadcasts). */
		"cache.clean.plans": {
			handler(this: UsageLocals) {
				this.metrics.clear();
			},
		},
		[BILLING_EVENTS.periodChanged]: {
			params: { tenantId: "uuid" },
			handler(this: UsageLocals, ctx: Context<LimitsChangedEvent>) {
				this.periods.forget(ctx.params.tenantId);
			},
		},
		[BILLING_EVENTS.limitsChanged]: {
			params: { tenantId: "uuid" },
			handler(this: UsageLocals, ctx: Context<LimitsChangedEvent>) {
				this.periods.forget(ctx.params.tenantId);
			},
		},
		/** Announcements made while this node was cut off were missed: forget everything. */
		"$transporter.connected": {
			handler(this: UsageLocals) {
				this.metrics.clear();
				this.periods.clear();
			},
		},
	},

	methods: {
		isApiKeyCaller(ctx: UsageContext<unknown>): boolean {
			// The middleware has already checked the key's scopes when this runs.
			return Boolean(ctx.meta.apiKeyId);
		},

		/** Platform work names any tenant; anyone else only their own. */
		targetTenant(ctx: UsageContext<unknown>, tenantId: string): string {
			if (isPlatformCaller(ctx.meta) || ctx.meta.tenantId === tenantId) return tenantId;
			throw new ForbiddenError("Usage can only be read or recorded for your own tenant", "TENANT_MISMATCH");
		},

		async period(tenantId: string): Promise<TenantPeriod> {
			return this.periods.of(tenantId);
		},

		/**
		 * The hot path. Per event it looks the metric up, and reads the timestamp and a value field when there
		 * are any; the batch then goes to PostgreSQL as the JSON it came as.
		 */
		async ingest(tenantId: string, events: UsageEventInput[], batch: boolean): Promise<RecordUsageResult> {
			const cached = this.metrics.current();
			let metrics = cached instanceof Promise ? await cached : cached;
			let unknown = unknownMetrics(events, metrics);
			if (unknown.length > 0) {
				metrics = await this.metrics.knowing(unknown);
				unknown = unknownMetrics(events, metrics);
				if (unknown.length > 0) throw unknownMetricError(unknown);
			}
			const known = this.periods.of(tenantId);
			const period = known instanceof Promise ? await known : known;
			this.checkEvents(events, metrics, period, batch);
			const now = new Date(Date.now() + period.offsetMs).toISOString();
			const recorded = await insertEvents(this.adapter.db, tenantId, JSON.stringify(events), now);
			return { accepted: events.length, recorded, duplicates: events.length - recorded };
		},

		/** Refuses the batch at its first event out of the time window or without the value its metric reads. */
		checkEvents(events: UsageEventInput[], metrics: MetricMap, period: TenantPeriod, batch: boolean) {
			const earliest = period.periodStartMs - this.graceMs;
			const latest = Date.now() + period.offsetMs + FUTURE_SKEW_MS;
			for (let index = 0; index < events.length; index += 1) {
				const event = events[index];
				const where = () => ({ ...(batch ? { index } : {}), transactionId: event.transactionId, metric: event.metric });
				if (event.timestamp !== undefined) {
					const at = instantOf(event.timestamp);
					if (Number.isNaN(at)) {
						const field = batch ? `events[${index}].timestamp` : "timestamp";
						throw new BadRequestError(`${field} is not a valid instant`, "VALIDATION_ERROR", [{ field, message: `${field} is not a valid instant`, type: "date" }]);
					}
					if (at < earliest) {
						throw new UnprocessableEntityError(
							`An event is older than the current billing period allows (${new Date(earliest).toISOString()} at the earliest); nothing was recorded`,
							"USAGE_TOO_OLD",
							{ ...where(), timestamp: event.timestamp, earliest: new Date(earliest).toISOString() },
						);
					}
					if (at > latest) {
						throw new UnprocessableEntityError(`An event is stamped more than 5 minutes in the future; nothing was recorded`, "USAGE_IN_FUTURE", {
							...where(),
							timestamp: event.timestamp,
							latest: new Date(latest).toISOString(),
						});
					}
				}
				const metric = metrics.get(event.metric)!;
				if (metric.field !== null && (metric.aggregation === "sum" || metric.aggregation === "max")) {
					// The metric reads its value from a property: stored as the event's value, so aggregating reads the index alone.
					const value = event.properties?.[metric.field];
					if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
						throw new UnprocessableEntityError(`Metric ${metric.code} reads its value from properties.${metric.field}, which must be an integer ≥ 0; nothing was recorded`, "INVALID_USAGE_VALUE", {
							...where(),
							field: metric.field,
						});
					}
					event.value = value;
				}
			}
		},

		/** The registry's definitions of `codes` (all of it when undefined); 422 UNKNOWN_METRIC for codes it lacks. */
		async definitions(codes: readonly string[] | undefined): Promise<MetricDefinition[]> {
			if (codes === undefined) return [...(await this.metrics.current()).values()];
			const metrics = await this.metrics.knowing(codes);
			const unknown = [...new Set(codes.filter((code) => !metrics.has(code)))];
			if (unknown.length > 0) throw unknownMetricError(unknown);
			return [...new Set(codes)].map((code) => metrics.get(code)!);
		},

		async summary(tenantId: string): Promise<UsageSummary> {
			const period = await this.period(tenantId);
			const { plan, periodStart, periodEnd } = period.answer;
			const metrics = await this.metrics.knowing(plan.charges.map((charge) => charge.metric));
			// The plans service refuses to delete a metric a charge names; one missing anyway is left out, not guessed at.
			const charges = plan.charges.filter((charge) => metrics.has(charge.metric));
			const quantities = await aggregateUsage(this.adapter.db, tenantId, new Date(periodStart), new Date(periodEnd), charges.map((charge) => metrics.get(charge.metric)!));
			const usage: MetricUsage[] = charges.map((charge) => {
				const quantity = quantities[charge.metric] ?? 0;
				const priced = priceCharge(charge, quantity);
				return {
					metric: charge.metric,
					aggregation: metrics.get(charge.metric)!.aggregation,
					quantity,
					included: charge.freeUnits,
					billable: priced.billable,
					estimatedAmount: priced.amount,
					hardLimit: charge.hardLimit ?? null,
				};
			});
			return { tenantId, periodStart: new Date(periodStart).toISOString(), periodEnd: new Date(periodEnd).toISOString(), currency: plan.currency, metrics: usage };
		},
	},

	created() {
		this.graceMs = platformConfigOf(this.broker).billing.usageGraceSeconds * 1000;
		// Platform calls: the registry and the periods are the cluster's, whoever's request needs them first.
		const refreshFailed = (what: string) => (err: unknown) => this.logger.warn(`Refreshing ${what} failed (the cached one keeps answering):`, (err as Error).message);
		this.metrics = new MetricRegistry(() => this.broker.call<PublicMetric[], object>("plans.metrics", {}, systemCall()), refreshFailed("the metric registry"));
		this.periods = new TenantPeriods((tenantId) => this.broker.call<CurrentPlan, object>("billing.currentPlan", { tenantId }, systemCall()), refreshFailed("a tenant's billing period"));
	},
};

export default UsageService;
