/**
 * Billing's one door to the usage service (services/billing/usage.service.ts, built beside this one):
 *
 *   usage.aggregate {tenantId, from, to, metrics?} → { [metric]: quantity }   (from inclusive, to exclusive; ISO times)
 *
 * A metric with no events in the period may be missing from the answer: it is 0.
 */
import type { ServiceBroker } from "moleculer";
import { systemCall } from "../../lib/caller";

export interface AggregateParams {
	tenantId: string;
	from: string;
	to: string;
	metrics?: string[];
}

export class UsageAdapter {
	constructor(private readonly broker: ServiceBroker) {}

	/** Each metric's quantity over [from, to) in the tenant's billing time. */
	async aggregate(tenantId: string, from: Date, to: Date, metrics: string[]): Promise<Record<string, number>> {
		if (metrics.length === 0) return {};
		const answer = await this.broker.call<Record<string, number>, AggregateParams>(
			"usage.aggregate",
			{ tenantId, from: from.toISOString(), to: to.toISOString(), metrics },
			// Aggregating a busy tenant's period reads many rows: more than the default request timeout may allow.
			{ ...systemCall(), timeout: 60_000 },
		);
		return Object.fromEntries(metrics.map((metric) => [metric, Number(answer?.[metric] ?? 0)]));
	}
}
