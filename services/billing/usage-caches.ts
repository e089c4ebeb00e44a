/**
 * What the usage service keeps in memory so its ingest path (POST /usage-events, thousands of events a
 * second) asks no other service per request: the metric registry of the `plans` service, and each tenant's
 * current period and billing clock from `billing.currentPlan`. Both are per node, fetched once by whichever
 * request needs them first (concurrent requests share the fetch), and dropped when the events that say they
 * changed arrive (usage.service.ts).
 */
import { ExpiringMap } from "../../lib/expiring-map";
import type { Aggregation, CurrentPlan, PublicMetric } from "./contracts";

export interface MetricDefinition {
	code: string;
	aggregation: Aggregation;
	field: string | null;
}

export type MetricMap = ReadonlyMap<string, MetricDefinition>;

/**
 * The metric registry by code. Kept until cleaned (the plans service's cache-clean broadcast) or for
 * `ttlMs` at most, in case a broadcast was missed. A code it doesn't know makes it fetch again, at most
 * once per `missRefreshMs`: a metric created a moment ago on another node is found without waiting for the
 * broadcast, and a caller sending unknown codes can't make it fetch on every request.
 */
export class MetricRegistry {
	private metrics?: MetricMap;
	private expiresAt = 0;
	private loading?: Promise<MetricMap>;
	private lastMissRefresh = 0;
	/** Grows on every clean: a fetch that began before a clean doesn't keep its (maybe stale) answer. */
	private generation = 0;

	constructor(
		private readonly fetchMetrics: () => Promise<PublicMetric[]>,
		private readonly ttlMs = 60_000,
		private readonly missRefreshMs = 1_000,
	) {}

	/** The registry; synchronous (no promise) while it is cached. */
	current(): MetricMap | Promise<MetricMap> {
		if (this.metrics && this.expiresAt > Date.now()) return this.metrics;
		return this.load();
	}

	/**
	 * The registry, fetched again first when it lacks one of `codes` and it hasn't just been. Answers the
	 * registry either way: the caller decides what an unknown code means.
	 */
	async knowing(codes: Iterable<string>): Promise<MetricMap> {
		const metrics = await this.current();
		for (const code of codes) {
			if (metrics.has(code)) continue;
			if (Date.now() - this.lastMissRefresh < this.missRefreshMs) return metrics;
			this.lastMissRefresh = Date.now();
			this.clear();
			return this.load();
		}
		return metrics;
	}

	clear(): void {
		this.generation += 1;
		this.metrics = undefined;
		this.loading = undefined;
	}

	private load(): Promise<MetricMap> {
		if (this.loading) return this.loading;
		const generation = this.generation;
		const loading = this.fetchMetrics().then(
			(list) => {
				const metrics: MetricMap = new Map(list.map((metric) => [metric.code, { code: metric.code, aggregation: metric.aggregation, field: metric.field }]));
				if (generation === this.generation) {
					this.metrics = metrics;
					this.expiresAt = Date.now() + this.ttlMs;
					this.loading = undefined;
				}
				return metrics;
			},
			(err: unknown) => {
				if (generation === this.generation) this.loading = undefined;
				throw err;
			},
		);
		this.loading = loading;
		return loading;
	}
}

/** A tenant's current period and billing clock, as `billing.currentPlan` answered, with the instants parsed once. */
export interface TenantPeriod {
	answer: CurrentPlan;
	periodStartMs: number;
	periodEndMs: number;
	/** Billing time minus this node's clock: the tenant's "now" is Date.now() + offsetMs. */
	offsetMs: number;
}

/**
 * `billing.currentPlan` per tenant, kept `ttlMs` (a second by default): the ingest path reads the period
 * start (events before it, beyond the grace period, are refused) and the billing clock (events without a
 * timestamp happen "now") from it. A test clock that moves, or a period that changes, is announced
 * (BILLING_EVENTS.periodChanged) and forgotten at once; the TTL bounds what a lost announcement costs.
 */
export class TenantPeriods {
	private readonly periods: ExpiringMap<TenantPeriod>;
	private readonly loading = new Map<string, Promise<TenantPeriod>>();

	constructor(
		private readonly fetchPeriod: (tenantId: string) => Promise<CurrentPlan>,
		private readonly ttlMs = 1_000,
		maxTenants = 10_000,
	) {
		this.periods = new ExpiringMap(maxTenants);
	}

	/** The tenant's period; synchronous (no promise) while it is cached. */
	of(tenantId: string): TenantPeriod | Promise<TenantPeriod> {
		return this.periods.get(tenantId) ?? this.load(tenantId);
	}

	forget(tenantId: string): void {
		this.periods.delete(tenantId);
		this.loading.delete(tenantId);
	}

	clear(): void {
		this.periods.clear();
		this.loading.clear();
	}

	private load(tenantId: string): Promise<TenantPeriod> {
		const pending = this.loading.get(tenantId);
		if (pending) return pending;
		const loading = this.fetchPeriod(tenantId).then(
			(answer) => {
				const period: TenantPeriod = {
					answer,
					periodStartMs: Date.parse(answer.periodStart),
					periodEndMs: Date.parse(answer.periodEnd),
					offsetMs: Date.parse(answer.now) - Date.now(),
				};
				// Forgotten while it was being fetched: the answer may predate the change, so it isn't kept.
				if (this.loading.get(tenantId) === loading) {
					this.loading.delete(tenantId);
					this.periods.set(tenantId, period, Date.now() + this.ttlMs);
				}
				return period;
			},
			(err: unknown) => {
				if (this.loading.get(tenantId) === loading) this.loading.delete(tenantId);
				throw err;
			},
		);
		this.loading.set(tenantId, loading);
		return loading;
	}
}
