/**
 * Moleculer's Metrics middleware, with a cheaper per-call path. The stock one updates five labelled
 * metrics per call (caller and level labels included) and times calls into a histogram that keeps every
 * sample of the last minute for quantiles; on the gateway every HTTP request is two calls, and that
 * bookkeeping was the largest single cost of a request (bench/gateway.bench.ts). This one keeps the
 * stock registrations for transit and events, and per call counts requests and errors and times them
 * into fixed buckets: what a Prometheus histogram needs, quantiles computed by Prometheus instead.
 *
 * Even a labelled counter update costs a label hash and a map lookup in the registry, so each action's
 * counts are kept in plain numbers and added to the registry only when it is read (a /metrics scrape,
 * $node.metrics: lib/metrics.ts addMetricsCollector). Readers see the same totals; calls pay a few
 * additions. Errors are rarer and carry per-error labels, so they go to the registry at once.
 *
 * The stock transit and transporter hooks (eight registry updates per remote call on each side) are
 * counted the same way. Two of them, the pending-request and pending-stream gauges, were "incremented by
 * the current count" on every packet, which made them grow without bound; they are set to the current
 * count when read instead, which is what a gauge of pending requests means.
 */
import * as Moleculer from "moleculer";
import type { Context, Middleware, ServiceBroker } from "moleculer";
import { addMetricsCollector } from "../lib/metrics";

const REQUEST_TOTAL = "moleculer.request.total";
const REQUEST_ERROR_TOTAL = "moleculer.request.error.total";
const REQUEST_TIME = "moleculer.request.time";
const REQUEST_ACTIVE = "moleculer.request.active";
const REQUEST_LEVELS = "moleculer.request.levels";
const TIME_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const TRANSIT_PUBLISH_TOTAL = "moleculer.transit.publish.total";
const TRANSIT_RECEIVE_TOTAL = "moleculer.transit.receive.total";
const TRANSIT_REQUESTS_ACTIVE = "moleculer.transit.requests.active";
const TRANSIT_STREAMS_SEND_ACTIVE = "moleculer.transit.streams.send.active";
const PACKETS_SENT_TOTAL = "moleculer.transporter.packets.sent.total";
const PACKETS_SENT_BYTES = "moleculer.transporter.packets.sent.bytes";
const PACKETS_RECEIVED_TOTAL = "moleculer.transporter.packets.received.total";
const PACKETS_RECEIVED_BYTES = "moleculer.transporter.packets.received.bytes";

type MiddlewareFactory = (broker: ServiceBroker) => Middleware & { created?(broker: ServiceBroker): void };
const StockMetrics = (Moleculer as unknown as { Middlewares: { Metrics: MiddlewareFactory } }).Middlewares.Metrics;

type Labels = Record<string, unknown>;

interface MetricRegistryLike {
	register(options: Record<string, unknown>): unknown;
	increment(name: string, labels: Labels | null, value?: number): void;
	set(name: string, value: number, labels: Labels | null): void;
	getMetric(name: string): HistogramLike | null;
	store: Map<string, unknown>;
}

/** The parts of Moleculer's HistogramMetric that a batch of observations is added through. */
interface HistogramLike {
	values: Map<string, HistogramItem>;
	hashingLabels(labels: Labels): string;
	resetItem(item: { labels: Labels }, timestamp: number | null): HistogramItem;
	changed(value?: number, labels?: Labels, timestamp?: number): void;
}

interface HistogramItem {
	labels: Labels;
	timestamp: number;
	sum: number;
	count: number;
	lastValue: number | null;
	bucketValues: Record<number, number>;
}

/** One action's calls since the registry was last brought up to date. */
interface Tally {
	labels: Labels;
	requests: number;
	timed: number;
	sumMs: number;
	lastMs: number;
	/** Calls per bucket (not cumulative); index TIME_BUCKETS_MS.length counts those above the last bound. */
	bucketCounts: number[];
}

type ActionLike = { name: string; service?: { fullName: string } };
type Handler = (ctx: Context) => Promise<unknown>;
type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** Packets and bytes through the transit and the transporter since the registry was last brought up to date. */
interface TransitTally {
	published: Map<string, number>;
	received: Map<string, number>;
	packetsSent: number;
	bytesSent: number;
	packetsReceived: number;
	bytesReceived: number;
}

interface TransitLike {
	pendingRequests: Map<unknown, unknown>;
	pendingReqStreams: Map<unknown, unknown>;
	pendingResStreams: Map<unknown, unknown>;
}

function countBy(counts: Map<string, number>, key: string): void {
	counts.set(key, (counts.get(key) ?? 0) + 1);
}

function record(tally: Tally, started: number): void {
	const ms = performance.now() - started;
	tally.timed += 1;
	tally.sumMs += ms;
	tally.lastMs = ms;
	let index = 0;
	while (index < TIME_BUCKETS_MS.length && ms > TIME_BUCKETS_MS[index]) index += 1;
	tally.bucketCounts[index] += 1;
}

/** Adds a tally's timings to the registry's histogram, as the same number of observe() calls would. */
function addToHistogram(histogram: HistogramLike, tally: Tally): void {
	const hash = histogram.hashingLabels(tally.labels);
	let item = histogram.values.get(hash);
	if (!item) {
		item = histogram.resetItem({ labels: { ...tally.labels } }, null);
		histogram.values.set(hash, item);
	}
	item.timestamp = Date.now();
	item.sum += tally.sumMs;
	item.count += tally.timed;
	item.lastValue = tally.lastMs;
	// Prometheus buckets are cumulative: a call counts in its own bucket and every larger one.
	let cumulative = 0;
	for (let index = 0; index < TIME_BUCKETS_MS.length; index++) {
		cumulative += tally.bucketCounts[index];
		if (cumulative > 0) item.bucketValues[TIME_BUCKETS_MS[index]] += cumulative;
	}
	histogram.changed(tally.lastMs, tally.labels);
}

export function LeanMetricsMiddleware(broker: ServiceBroker): Middleware {
	const stock = StockMetrics(broker);
	const metrics = broker.metrics as unknown as MetricRegistryLike;
	const tallies: Tally[] = [];
	const transit: TransitTally = { published: new Map(), received: new Map(), packetsSent: 0, bytesSent: 0, packetsReceived: 0, bytesReceived: 0 };

	function publishTransit(): void {
		for (const [type, count] of transit.published) metrics.increment(TRANSIT_PUBLISH_TOTAL, { type }, count);
		for (const [type, count] of transit.received) metrics.increment(TRANSIT_RECEIVE_TOTAL, { type }, count);
		transit.published.clear();
		transit.received.clear();
		if (transit.packetsSent > 0) {
			metrics.increment(PACKETS_SENT_TOTAL, null, transit.packetsSent);
			metrics.increment(PACKETS_SENT_BYTES, null, transit.bytesSent);
		}
		if (transit.packetsReceived > 0) {
			metrics.increment(PACKETS_RECEIVED_TOTAL, null, transit.packetsReceived);
			metrics.increment(PACKETS_RECEIVED_BYTES, null, transit.bytesReceived);
		}
		transit.packetsSent = transit.bytesSent = transit.packetsReceived = transit.bytesReceived = 0;
		const live = (broker as unknown as { transit?: TransitLike }).transit;
		if (live) {
			metrics.set(TRANSIT_REQUESTS_ACTIVE, live.pendingRequests.size, null);
			metrics.set(TRANSIT_STREAMS_SEND_ACTIVE, live.pendingReqStreams.size + live.pendingResStreams.size, null);
		}
	}

	function publish(): void {
		publishTransit();
		const histogram = metrics.getMetric(REQUEST_TIME);
		for (const tally of tallies) {
			if (tally.requests > 0) metrics.increment(REQUEST_TOTAL, tally.labels, tally.requests);
			if (tally.timed > 0 && histogram) addToHistogram(histogram, tally);
			tally.requests = 0;
			tally.timed = 0;
			tally.sumMs = 0;
			tally.bucketCounts.fill(0);
		}
	}

	function measure(type: "local" | "remote", action: ActionLike, next: Handler): Handler {
		if (!broker.isMetricsEnabled()) return next;
		const labels = { service: action.service?.fullName ?? null, action: action.name, type };
		const tally: Tally = { labels, requests: 0, timed: 0, sumMs: 0, lastMs: 0, bucketCounts: new Array<number>(TIME_BUCKETS_MS.length + 1).fill(0) };
		tallies.push(tally);
		return function leanMetrics(ctx: Context) {
			const started = performance.now();
			tally.requests += 1;
			return next(ctx).then(
				(result) => {
					record(tally, started);
					return result;
				},
				(err: { name?: string; code?: unknown; type?: unknown } | undefined) => {
					record(tally, started);
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
			metrics.register({ name: REQUEST_TIME, type: "histogram", labelNames: ["service", "action", "type"], quantiles: false, buckets: TIME_BUCKETS_MS, unit: "millisecond", description: "Request times in milliseconds" });
			addMetricsCollector(broker, publish);
		},
		localAction(next: Handler, action: ActionLike) {
			return measure("local", action, next);
		},
		remoteAction(next: Handler, action: ActionLike) {
			return measure("remote", action, next);
		},
		transitPublish(next: AnyFunction) {
			if (!broker.isMetricsEnabled()) return next;
			return function leanTransitPublish(this: unknown, packet: { type: string }, ...rest: unknown[]) {
				countBy(transit.published, packet.type);
				return next.call(this, packet, ...rest);
			};
		},
		transitMessageHandler(next: AnyFunction) {
			if (!broker.isMetricsEnabled()) return next;
			return function leanTransitReceive(this: unknown, cmd: string, ...rest: unknown[]) {
				countBy(transit.received, cmd);
				return next.call(this, cmd, ...rest);
			};
		},
		transporterSend(next: AnyFunction) {
			if (!broker.isMetricsEnabled()) return next;
			return function leanTransporterSend(this: unknown, topic: unknown, data: { length?: number } | undefined, ...rest: unknown[]) {
				transit.packetsSent += 1;
				transit.bytesSent += data?.length ?? 0;
				return next.call(this, topic, data, ...rest);
			};
		},
		transporterReceive(next: AnyFunction) {
			if (!broker.isMetricsEnabled()) return next;
			return function leanTransporterReceive(this: unknown, cmd: unknown, data: { length?: number } | undefined, ...rest: unknown[]) {
				transit.packetsReceived += 1;
				transit.bytesReceived += data?.length ?? 0;
				return next.call(this, cmd, data, ...rest);
			};
		},
	} as unknown as Middleware;
}
