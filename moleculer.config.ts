/**
 * Broker options for every Lattice node, derived from the validated environment (lib/config.ts).
 * The policies below are deliberate; the README explains each one.
 */
import type { BrokerOptions, Middleware } from "moleculer";
import { Errors } from "moleculer";
import { Middleware as ChannelsMiddleware } from "@moleculer/channels";
import { PostgresAdapter } from "./lib/channels/postgres.adapter";
import { StreamEnsuringNatsAdapter } from "./lib/channels/nats.adapter";
import { loadConfig, redisOptionsFromUrl, type PlatformConfig } from "./lib/config";
import { PrometheusTextReporter } from "./lib/metrics";
import { CoalescingNatsTransporter } from "./lib/nats-transporter";
import { AccessControlMiddleware } from "./middlewares/access-control.middleware";
import { LeanMetricsMiddleware } from "./middlewares/lean-metrics.middleware";
import { LeanBulkheadMiddleware } from "./middlewares/lean-bulkhead.middleware";
import { PlatformValidator } from "./lib/validator";
import { isInfrastructureFailure } from "./lib/failures";
import { DatabaseErrorsMiddleware } from "./middlewares/database-errors.middleware";
import { EntityScopeMiddleware } from "./middlewares/entity-scope.middleware";
import { DeclaredAnswersMiddleware } from "./middlewares/declared-answers.middleware";
import { isRetryableOnAnotherNode, ReplicaRetryMiddleware } from "./middlewares/replica-retry.middleware";
import { QuickDiscoverer } from "./lib/discoverer";
import { cacheKeygen } from "./lib/cache-keys";

type MetricsReporter = Extract<NonNullable<NonNullable<BrokerOptions["metrics"]> extends infer M ? (M extends { reporter?: infer R } ? R : never) : never>, { type: string }>;

/**
 * Moleculer's own middlewares in its order, with access control placed outside the cacher and the
 * validator: an unauthenticated call is refused (401) before its parameters are judged (400), and a
 * cached answer is never served to a caller who may not see it. The circuit breaker sits outside the
 * timeout (Moleculer puts it inside): a timed-out call never settles below the Timeout middleware, so the
 * breaker never counted timeouts and a node that hangs kept receiving calls. ReplicaRetry, inside Retry,
 * marks the calls a departed node left unanswered that may go to another replica.
 */
function middlewares(config: PlatformConfig): NonNullable<BrokerOptions["middlewares"]> {
	return [
		// Copies each action's declared answers so the registry carries them whole to remote gateways.
		DeclaredAnswersMiddleware,
		"ActionHook",
		// Database errors become 4xx (or 503 DATABASE_UNAVAILABLE) after a service's own error hooks, before the breaker sees them.
		DatabaseErrorsMiddleware,
		// Inside access control and the validator: the declared entity is loaded for callers allowed to ask, with valid params.
		EntityScopeMiddleware,
		"Validator",
		// Moleculer's Bulkhead with its gauges set when metrics are read, not four times per call.
		LeanBulkheadMiddleware as unknown as Middleware,
		"Cacher",
		AccessControlMiddleware,
		"Timeout",
		// Outside Timeout: a remote call that timed out never settles below it, and would stay tracked forever
		// (a leak, and a graceful stop waiting its whole shutdown timeout for it).
		"ContextTracker",
		"CircuitBreaker",
		ReplicaRetryMiddleware,
		"Retry",
		"Fallback",
		"ErrorHandler",
		"Tracing",
		// A factory: Moleculer calls it with the broker (its typings only list middleware objects).
		LeanMetricsMiddleware as unknown as Middleware,
		"Debounce",
		"Throttle",
		// Durable channels (broker.sendToChannel, a service's `channels`): see channelsAdapter().
		ChannelsMiddleware({ adapter: channelsAdapter(config) } as Parameters<typeof ChannelsMiddleware>[0]) as unknown as Middleware,
	];
}

type ChannelsAdapterOption = Parameters<typeof ChannelsMiddleware>[0]["adapter"];

/** Heartbeats: see createBrokerOptions and lib/discoverer.ts. */
export const HEARTBEAT_INTERVAL_S = 1;
export const HEARTBEAT_TIMEOUT_S = 3;

const SEVEN_DAYS_NS = 7 * 24 * 3600 * 1e9;
const ACK_WAIT_NS = 10 * 1e9;

/**
 * Where durable channel messages live: NATS JetStream when the cluster has NATS (streams and subjects
 * are prefixed with the namespace, so clusters sharing a NATS server stay apart), otherwise the node's
 * PostgreSQL (lib/channels/postgres.adapter.ts, which reads broker.options.platform.databaseUrl when
 * it connects, after the embedded database has started). Both retry a failed message up to
 * `maxRetries` times (a channel may set its own) and deliver each message once per consumer group.
 */
export function channelsAdapter(config: PlatformConfig): ChannelsAdapterOption {
	const common = { prefix: config.namespace, maxRetries: 3, maxInFlight: 1 };
	if (config.transporter) {
		// Publishing makes a channel's stream when no consumer group has yet (lib/channels/nats.adapter.ts).
		return new StreamEnsuringNatsAdapter({
			...common,
			nats: {
				url: config.transporter,
				streamConfig: { max_age: SEVEN_DAYS_NS },
				// A message taken by a node that dies is redelivered after ack_wait (JetStream's default is
				// 30 s); handlers are idempotent and quick, so a shorter wait only speeds up recovery.
				consumerOptions: { config: { ack_wait: ACK_WAIT_NS } },
			},
			// The package types the options as every adapter's options at once, and lists only configs as adapters.
		} as never) as unknown as ChannelsAdapterOption;
	}
	// The middleware accepts an adapter instance too (Adapters.resolve); its typings only list configs.
	return new PostgresAdapter(common) as unknown as ChannelsAdapterOption;
}

/**
 * Retry when no node could take the call, or when the node that had it left and repeating it is safe (a read,
 * or a call with an Idempotency-Key: middlewares/replica-retry.middleware.ts). A timed-out write may have
 * happened and must not repeat.
 */
function isRetryable(err: Error): boolean {
	return err instanceof Errors.ServiceNotAvailableError || err instanceof Errors.ServiceNotFoundError || isRetryableOnAnotherNode(err);
}

/**
 * Only infrastructure failures count against a node's breaker: timeouts, lost connections, an unavailable
 * database (lib/failures.ts). A caller's 4xx, or a 500 that a caller's input provoked, says nothing about the
 * node's health, and must not let one caller switch an action off for everyone.
 */
export function tripsBreaker(err: Error): boolean {
	return isInfrastructureFailure(err);
}

function tracing(config: PlatformConfig): BrokerOptions["tracing"] {
	const { exporter, endpoint } = config.tracing;
	if (exporter === "none") return { enabled: false };
	const exporters = {
		console: { type: "Console", options: { width: 100, gaugeWidth: 40 } },
		jaeger: { type: "Jaeger", options: { endpoint } },
		zipkin: { type: "Zipkin", options: { baseURL: endpoint } },
	} as const;
	return { enabled: true, sampling: { rate: 1 }, exporter: [exporters[exporter]] };
}

export function createBrokerOptions(config: PlatformConfig = loadConfig()): BrokerOptions {
	return {
		namespace: config.namespace,
		nodeID: config.nodeID,
		metadata: { domains: config.services },

		logger: {
			type: "Console",
			options: {
				level: config.log.level,
				formatter: config.log.format === "json" ? "json" : "short",
				colors: config.log.format === "pretty",
				moduleColors: false,
			},
		},

		// NATS, with each event-loop turn's packets written together (lib/nats-transporter.ts).
		transporter: config.transporter ? new CoalescingNatsTransporter({ url: config.transporter }) : undefined,
		// Keys as Moleculer makes them, made faster for actions with several keys (lib/cache-keys.ts).
		cacher: config.cacher
			? { type: "Redis", options: { prefix: `${config.namespace}-cache`, ttl: 3600, keygen: cacheKeygen, redis: redisOptionsFromUrl(config.cacher) } }
			: { type: "Memory", options: { ttl: 3600, maxParamsLength: 200, keygen: cacheKeygen } },
		serializer: "JSON",

		requestTimeout: config.requestTimeoutMs,
		retryPolicy: {
			enabled: true,
			retries: 2,
			delay: 100,
			maxDelay: 400,
			factor: 2,
			check: isRetryable,
		},
		maxCallLevel: 20,
		// A crashed process is dropped within 2 s (a late heartbeat, then NATS says its connection is closed),
		// a silent host within 3 s: lib/discoverer.ts. Each node publishes one small packet a second,
		// which every other node reads: N nodes make N² packets a second on NATS (see the README).
		heartbeatInterval: HEARTBEAT_INTERVAL_S,
		heartbeatTimeout: HEARTBEAT_TIMEOUT_S,
		contextParamsCloning: false,
		tracking: { enabled: true, shutdownTimeout: 10_000 },
		disableBalancer: false,
		registry: { strategy: "RoundRobin", preferLocal: true, discoverer: new QuickDiscoverer() },
		circuitBreaker: {
			enabled: true,
			threshold: 0.5,
			minRequestCount: 20,
			windowTime: 60,
			halfOpenTime: 10_000,
			check: tripsBreaker,
		},
		bulkhead: { enabled: true, concurrency: 100, maxQueueSize: 1_000 },
		// fastest-validator, with null refused in every field that does not declare `nullable: true` (lib/validator.ts).
		validator: new PlatformValidator(),

		// Moleculer resolves reporter instances at run time; its typings only list configuration objects.
		// Process metrics are collected in every environment (Moleculer skips them under NODE_ENV=test), so
		// tests see what production exports; the reporter leaves out what identifies the host (lib/metrics.ts).
		metrics: { enabled: true, collectProcessMetrics: true, reporter: [new PrometheusTextReporter() as unknown as MetricsReporter] },
		tracing: tracing(config),

		internalMiddlewares: false,
		middlewares: middlewares(config),
		platform: { databaseUrl: config.databaseUrl },
		// server.ts owns signals so it can stop the embedded database after the broker.
		skipProcessEventRegistration: true,
		replOptions: { delimiter: "lattice $" },
	};
}
