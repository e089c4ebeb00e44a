/**
 * Moleculer's Prometheus reporter always opens its own HTTP port. Several nodes share a machine in
 * development and tests, and every node's ops listener (lib/ops-server.ts) already serves /metrics, so this
 * reporter renders the text on demand and never listens by itself.
 */
import { MetricReporters, type ServiceBroker } from "moleculer";

const PrometheusReporter = MetricReporters.Prometheus;
type MetricRegistry = Parameters<InstanceType<typeof PrometheusReporter>["init"]>[0];

/**
 * Moleculer's common metrics that describe the host rather than the service: its name, addresses, MACs, OS
 * user, home directory, CPU model and the process's command line. Nothing a dashboard needs (CPU and memory
 * use come from process_* and the container's own metrics), and a reconnaissance gift if /metrics ever leaks.
 */
export const HOST_IDENTITY_METRICS = ["os.**", "process.arguments"];

export class PrometheusTextReporter extends PrometheusReporter {
	constructor(options: ConstructorParameters<typeof PrometheusReporter>[0] = {}) {
		const excludes = ([] as string[]).concat(options?.excludes ?? [], HOST_IDENTITY_METRICS);
		super({ ...options, excludes });
	}

	override init(registry: MetricRegistry): void {
		// Skip PrometheusReporter.init (it listens); run the base reporter's init and set the labels it would.
		Object.getPrototypeOf(PrometheusReporter.prototype).init.call(this, registry);
		const self = this as unknown as { opts: { defaultLabels: unknown }; defaultLabels: unknown };
		self.defaultLabels =
			typeof self.opts.defaultLabels === "function" ? self.opts.defaultLabels.call(this, registry) : self.opts.defaultLabels;
	}

	override stop(): Promise<void> {
		return Promise.resolve();
	}

	render(): string {
		collectPendingMetrics((this as unknown as { registry: { broker: ServiceBroker } }).registry.broker);
		return (this as unknown as { generatePrometheusResponse(): string }).generatePrometheusResponse();
	}
}

/** The text exposition of this node's metrics, or undefined when metrics are off. */
export function renderNodeMetrics(broker: ServiceBroker): string | undefined {
	const reporters = (broker.metrics as unknown as { reporter?: unknown[] }).reporter ?? [];
	const reporter = reporters.find((item): item is PrometheusTextReporter => item instanceof PrometheusTextReporter);
	return reporter?.render();
}

type MetricsCollector = () => void;
const collectors = new WeakMap<ServiceBroker, MetricsCollector[]>();

/**
 * Per-call middlewares keep their counts in plain numbers and publish them into the metric registry only
 * when it is read, instead of updating labelled metrics on every call (see middlewares/lean-metrics and
 * lean-bulkhead). `collect` runs before every read: the Prometheus text, and registry.list() for
 * everything else ($node.metrics, the REPL).
 */
export function addMetricsCollector(broker: ServiceBroker, collect: MetricsCollector): void {
	let list = collectors.get(broker);
	if (!list) {
		list = [];
		collectors.set(broker, list);
		const registry = broker.metrics as unknown as { list(options?: unknown): unknown };
		const listMetrics = registry.list.bind(registry);
		registry.list = (options?: unknown) => {
			collectPendingMetrics(broker);
			return listMetrics(options);
		};
	}
	list.push(collect);
}

export function collectPendingMetrics(broker: ServiceBroker): void {
	for (const collect of collectors.get(broker) ?? []) collect();
}
