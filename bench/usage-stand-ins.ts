/**
 * Stand-ins for the billing domain's `plans` and `billing` services, for bench/usage.bench.ts on a checkout
 * that lacks them (the usage service was built before them). The bench starts this process only for a
 * service whose file (services/billing/plans.service.ts, billing.service.ts) is absent; with the real ones
 * present it is never used. It answers what the usage service asks on its ingest path: `plans.metrics`
 * (the bench's metrics) and `billing.currentPlan` / `billing.now` (a free plan, the calendar month, no test
 * clock). STAND_INS lists which to run ("plans,billing").
 */
import { ConfigError, loadConfig } from "../lib/config";
import { createNode } from "../lib/node";
import { FREE_PLAN_CODE, FREE_PLAN_LIMITS, type CurrentPlan, type PublicMetric, type PublicPlan } from "../services/billing/contracts";
import { BENCH_METRICS } from "./usage-bench-data";

const EPOCH = new Date(0).toISOString();

const FREE_PLAN: PublicPlan = {
	id: "00000000-0000-4000-8000-000000000000",
	code: FREE_PLAN_CODE,
	version: 1,
	name: "Free",
	description: "",
	interval: "month",
	amount: 0,
	currency: "USD",
	trialDays: 0,
	limits: { ...FREE_PLAN_LIMITS },
	features: {},
	charges: [],
	taxRateBasisPoints: null,
	status: "active",
	createdAt: EPOCH,
};

function currentPlan(): CurrentPlan {
	const now = new Date();
	return {
		plan: FREE_PLAN,
		periodStart: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString(),
		periodEnd: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
		now: now.toISOString(),
	};
}

async function main(): Promise<void> {
	const wanted = (process.env.STAND_INS ?? "plans,billing").split(",");
	const node = await createNode(loadConfig({ ...process.env, SERVICES: "platform" }));
	if (wanted.includes("plans")) {
		const metrics: PublicMetric[] = BENCH_METRICS.map((metric) => ({ ...metric, name: metric.code, description: "", createdAt: EPOCH, updatedAt: EPOCH }));
		node.broker.createService({ name: "plans", actions: { metrics: { handler: () => metrics } } });
	}
	if (wanted.includes("billing")) {
		node.broker.createService({ name: "billing", actions: { currentPlan: { handler: currentPlan }, now: { handler: () => ({ now: new Date().toISOString() }) } } });
	}
	const stop = () => void node.stop().finally(() => process.exit(0));
	process.on("SIGTERM", stop);
	process.on("SIGINT", stop);
	await node.start();
}

main().catch((err: unknown) => {
	console.error(err);
	process.exit(err instanceof ConfigError ? 78 : 1);
});
