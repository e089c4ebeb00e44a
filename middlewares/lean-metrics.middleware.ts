/**
 * Moleculer's Metrics middleware, with a cheaper per-call path. The stock one updates five labelled
 * metrics per call (caller and level labels included) and times calls into a histogram that keeps every
 * sample of the last minute for quantiles; on the gateway every HTTP request is two calls, and that
 * bookkeeping was the largest single cost of a request (bench/gateway.bench.ts). This one keeps the
 * stock registrations for transit and events, and per call counts requests and errors and times them
 * into fixed buckets: what a Prometheus histogram needs, quantiles computed by Prometheus instead.
 */
import * as Moleculer from "moleculer";
import type { Context, Middleware, ServiceBroker } from "moleculer";

const REQUEST_TOTAL = "moleculer.request.total";
const REQUEST_ERROR_TOTAL = "moleculer.request.error.total";
const REQUEST_TIME = "moleculer.request.time";
const REQUEST_ACTIVE = "moleculer.request.active";
const REQUEST_LEVELS = "moleculer.request.levels";

type MiddlewareFactory = (broker: ServiceBroker) => Middleware & { created?(broker: ServiceBroker): void };
const StockMetrics = (Moleculer as unknown as { Middlewares: { Metrics: MiddlewareFactory } }).Middlewares.Metrics;

interface MetricRegistryLike {
	register(options: Record<string, unknown>): unknown;
	increment(name: string, labels: Record<string, unknown>): void;
	observe(name: string, value: number, labels: Record<string, unknown>): void;
	store: Map<string, unknown>;
}

type ActionLike = { name: string; service?: { fullName: string } };
type Handler = (ctx: Context) => Promise<unknown>;

export function LeanMetricsMiddleware(broker: ServiceBroker): Middleware {
	const stock = StockMetrics(broker);
	const metrics = broker.metrics as unknown as MetricRegistryLike;

	function measure(type: "local" | "remote", action: ActionLike, next: Handler): Handler {
		if (!broker.isMetricsEnabled()) return next;
		const labels = { service: action.service?.fullName ?? null, action: action.name, type };
		return function leanMetrics(ctx: Context) {
			const started = process.hrtime.bigint();
			metrics.increment(REQUEST_TOTAL, labels);
			return next(ctx).then(
				(result) => {
					metrics.observe(REQUEST_TIME, Number(process.hrtime.bigint() - started) / 1e6, labels);
					return result;
				},
				(err: { name?: string; code?: unknown; type?: unknown } | undefined) => {
					metrics.observe(REQUEST_TIME, Number(process.hrtime.bigint() - started) / 1e6, labels);
					metrics.increment(REQUEST_ERROR_TOTAL, { ...labels, errorName: err?.name ?? null, errorCode: err?.code ?? null, errorType: err?.type ?? null });
					throw err;
				},
			);
		};
	}

	return {
		...stock,
		name: "Metrics",
		created(this: ServiceBroker) {
			stock.created?.call(this, broker);
			if (!broker.isMetricsEnabled()) return;
			// Re-registered with fewer labels and no quantile window; the unused ones are dropped from output.
			metrics.store.delete(REQUEST_ACTIVE);
			metrics.store.delete(REQUEST_LEVELS);
			metrics.register({ name: REQUEST_TOTAL, type: "counter", labelNames: ["service", "action", "type"], unit: "request", description: "Number of requests" });
			metrics.register({ name: REQUEST_ERROR_TOTAL, type: "counter", labelNames: ["service", "action", "type", "errorName", "errorCode", "errorType"], unit: "request", description: "Number of request errors" });
			metrics.register({ name: REQUEST_TIME, type: "histogram", labelNames: ["service", "action", "type"], quantiles: false, buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000], unit: "millisecond", description: "Request times in milliseconds" });
		},
		localAction(next: Handler, action: ActionLike) {
			return measure("local", action, next);
		},
		remoteAction(next: Handler, action: ActionLike) {
			return measure("remote", action, next);
		},
	} as Middleware;
}
