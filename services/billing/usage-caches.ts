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
 * The metric registry by code. Kept until cleaned (the plans service's cache-clean broadcast); after `ttlMs`
 * (in case a broadcast was missed) it is fetched again in the background while the cached one keeps
 * answering, up to `staleMs` if the plans service can't be reached. A code it doesn't know makes it fetch
 * again, at most once per `missRefreshMs`: a metric created a moment ago on another node is found without
 * waiting for the broadcast, and a caller sending unknown codes can't make it fetch on every request.
 */
export class MetricRegistry {
	private metrics?: MetricMap;
	private fetchedAt = 0;
	private loading?: Promise<MetricMap>;
	private lastMissRefresh = 0;
	/** Grows on every clean: a fetch that began before a clean doesn't keep its (maybe stale) answer. */
	private generation = 0;

	constructor(
		private readonly fetchMetrics: () => Promise<PublicMetric[]>,
		private readonly onRefreshError: (err: unknown) => void,
		private readonly ttlMs = 60_000,
		private readonly staleMs = 600_000,
		private readonly missRefreshMs = 1_000,
	) {}

	/** The registry; synchronous (no promise) while it is cached. */
	current(): MetricMap | Promise<MetricMap> {
		const age = Date.now() - this.fetchedAt;
		if (this.metrics && age < this.staleMs) {
			if (age >= this.ttlMs && !this.loading) this.load().catch(this.onRefreshError);
			return this.metrics;
		}
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
					this.fetchedAt = Date.now();
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
 * `billing.currentPlan` per tenant. The ingest path reads the period start (events before it, beyond the
 * grace period, are refused) and the billing clock (events without a timestamp happen "now") from it. A test
 * clock that moves, or a period that changes, is announced (BILLING_EVENTS.periodChanged) and forgotten at
 * once, so the next request asks billing again. An answer older than `ttlMs` (a second), in case an
 * announcement was lost, is fetched again in the background while it keeps answering (so no request waits
 * for the refresh), up to `staleMs` if billing can't be reached.
 */
export class TenantPeriods {
	private readonly periods: ExpiringMap<{ period: TenantPeriod; fetchedAt: number }>;
	private readonly loading = new Map<string, Promise<TenantPeriod>>();

	constructor(
		private readonly fetchPeriod: (tenantId: string) => Promise<CurrentPlan>,
		private readonly onRefreshError: (err: unknown) => void,
		private readonly ttlMs = 1_000,
		private readonly staleMs = 30_000,
		maxTenants = 10_000,
	) {
		this.periods = new ExpiringMap(maxTenants);
	}

	/** The tenant's period; synchronous (no promise) while it is cached. */
	of(tenantId: string): TenantPeriod | Promise<TenantPeriod> {
		const cached = this.periods.get(tenantId);
		if (!cached) return this.load(tenantId);
		if (Date.now() - cached.fetchedAt >= this.ttlMs && !this.loading.has(tenantId)) this.load(tenantId).catch(this.onRefreshError);
		return cached.period;
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
				const now = Date.now();
				const period: TenantPeriod = {
					answer,
					periodStartMs: Date.parse(answer.periodStart),
					periodEndMs: Date.parse(answer.periodEnd),
					offsetMs: Date.parse(answer.now) - now,
				};
				// Forgotten while it was being fetched: the answer may predate the change, so it isn't kept.
				if (this.loading.get(tenantId) === loading) {
					this.loading.delete(tenantId);
					this.periods.set(tenantId, { period, fetchedAt: now }, now + this.staleMs);
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
