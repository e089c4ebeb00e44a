/**
 * Moleculer's Prometheus reporter always opens its own HTTP port. Several nodes share a machine in
 * development and tests, and the gateway already serves /metrics, so this reporter renders the text on
 * demand and never listens by itself.
 */
import { MetricReporters, type ServiceBroker } from "moleculer";

const PrometheusReporter = MetricReporters.Prometheus;
type MetricRegistry = Parameters<InstanceType<typeof PrometheusReporter>["init"]>[0];

export class PrometheusTextReporter extends PrometheusReporter {
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
		return (this as unknown as { generatePrometheusResponse(): string }).generatePrometheusResponse();
	}
}

/** The text exposition of this node's metrics, or undefined when metrics are off. */
export function renderNodeMetrics(broker: ServiceBroker): string | undefined {
	const reporters = (broker.metrics as unknown as { reporter?: unknown[] }).reporter ?? [];
	const reporter = reporters.find((item): item is PrometheusTextReporter => item instanceof PrometheusTextReporter);
	return reporter?.render();
}
