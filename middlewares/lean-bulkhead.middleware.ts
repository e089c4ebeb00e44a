/**
 * Moleculer's Bulkhead middleware for actions, with its gauges published when the metric registry is read.
 *
 * The limits are the stock ones, option for option: at most `concurrency` calls of an action run at once,
 * up to `maxQueueSize` more wait in order, and beyond that a call fails with QueueIsFullError (503);
 * per-action `bulkhead` settings override the broker's. The stock middleware also sets two labelled gauges
 * (in-flight calls and queue length) four times per call, which cost as much as the rest of the call's
 * middlewares together (bench/gateway.bench.ts). Here each action's two numbers are plain counters and
 * the gauges get their values when the registry is read (a /metrics scrape, $node.metrics: lib/metrics.ts
 * addMetricsCollector), so readers see the same figures. Events keep the stock middleware.
 */
import * as Moleculer from "moleculer";
import type { Context, Middleware, ServiceBroker } from "moleculer";
import { addMetricsCollector } from "../lib/metrics";

const { QueueIsFullError } = Moleculer.Errors;
const INFLIGHT = "moleculer.request.bulkhead.inflight";
const QUEUE_SIZE = "moleculer.request.bulkhead.queue.size";

type MiddlewareFactory = (broker: ServiceBroker) => Middleware & { created?(broker: ServiceBroker): void };
const StockBulkhead = (Moleculer as unknown as { Middlewares: { Bulkhead: MiddlewareFactory } }).Middlewares.Bulkhead;

type Handler = (ctx: Context) => Promise<unknown>;
type ActionLike = { name: string; service?: { fullName: string }; bulkhead?: BulkheadOptions };

interface BulkheadOptions {
	enabled?: boolean;
	concurrency?: number;
	maxQueueSize?: number;
}

interface Waiting {
	ctx: Context;
	resolve(value: unknown): void;
	reject(err: unknown): void;
}

/** One action's bulkhead: what the gauges report, kept where the calls can update it cheaply. */
interface Compartment {
	labels: { action: string; service: string | undefined };
	inFlight: number;
	queue: Waiting[];
	/** The stock middleware creates an action's gauges at its first call; so does this one. */
	used: boolean;
}

export function LeanBulkheadMiddleware(broker: ServiceBroker): Middleware {
	const stock = StockBulkhead(broker);
	const compartments: Compartment[] = [];

	function publish(): void {
		for (const compartment of compartments) {
			if (!compartment.used) continue;
			broker.metrics.set(INFLIGHT, compartment.inFlight, compartment.labels);
			broker.metrics.set(QUEUE_SIZE, compartment.queue.length, compartment.labels);
		}
	}

	function wrapAction(handler: Handler, action: ActionLike): Handler {
		const opts: BulkheadOptions = { ...(broker.options.bulkhead as BulkheadOptions | undefined), ...action.bulkhead };
		if (!opts.enabled) return handler;
		const concurrency = opts.concurrency ?? 0;
		const compartment: Compartment = { labels: { action: action.name, service: action.service?.fullName }, inFlight: 0, queue: [], used: false };
		compartments.push(compartment);

		function callNext(): void {
			if (compartment.queue.length === 0 || compartment.inFlight >= concurrency) return;
			const item = compartment.queue.shift()!;
			compartment.inFlight += 1;
			handler(item.ctx).then(
				(result) => {
					compartment.inFlight -= 1;
					item.resolve(result);
					callNext();
				},
				(err: unknown) => {
					compartment.inFlight -= 1;
					item.reject(err);
					callNext();
				},
			);
		}

		return function leanBulkhead(ctx: Context) {
			compartment.used = true;
			if (compartment.inFlight < concurrency) {
				compartment.inFlight += 1;
				return handler(ctx).then(
					(result) => {
						compartment.inFlight -= 1;
						callNext();
						return result;
					},
					(err: unknown) => {
						compartment.inFlight -= 1;
						callNext();
						throw err;
					},
				);
			}
			if (opts.maxQueueSize && compartment.queue.length >= opts.maxQueueSize) {
				return Promise.reject(new QueueIsFullError({ action: ctx.action?.name, nodeID: ctx.nodeID }));
			}
			return new Promise((resolve, reject) => compartment.queue.push({ ctx, resolve, reject }));
		};
	}

	return {
		...stock,
		name: "Bulkhead",
		created(this: ServiceBroker) {
			// Registers the request and event gauges, as the stock middleware does.
			stock.created?.call(this, broker);
			if (broker.isMetricsEnabled()) addMetricsCollector(broker, publish);
		},
		localAction: wrapAction,
	} as Middleware;
}
