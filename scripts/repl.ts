/**
 * `npm run repl`: an operator's node that joins the running cluster (same TRANSPORTER and NAMESPACE),
 * runs no services, and opens Moleculer's REPL: `nodes`, `services`, `actions`, `call`, `emit`, `metrics`.
 *
 * Its calls carry system rights: whoever can join the cluster's NATS already holds the keys to it.
 */
import os from "node:os";
import { ServiceBroker, type Middleware } from "moleculer";
import { ConfigError, loadConfig } from "../lib/config";
import { createBrokerOptions } from "../moleculer.config";

type CallFunction = (actionName: string, params?: unknown, opts?: { meta?: Record<string, unknown> }) => Promise<unknown>;

function withOperatorRights(next: CallFunction): CallFunction {
	return (actionName, params, opts = {}) => next(actionName, params, { ...opts, meta: { $system: true, ...opts.meta } });
}

// Moleculer's typings describe the `call` hook's result as a promise; at run time it wraps the function.
const OperatorCalls: Middleware = { name: "OperatorCalls", call: withOperatorRights as unknown as Middleware["call"] };

async function main(): Promise<void> {
	let config;
	try {
		config = loadConfig({ ...process.env, SERVICES: "gateway", TRACING_EXPORTER: "none", LOG_LEVEL: process.env.LOG_LEVEL ?? "warn" });
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(err.message);
			process.exit(78);
		}
		throw err;
	}
	const options = createBrokerOptions(config);
	const broker = new ServiceBroker({
		...options,
		nodeID: process.env.NODE_ID ?? `repl-${os.hostname()}-${process.pid}`,
		metadata: { domains: [], role: "repl" },
		metrics: { enabled: false },
		middlewares: [...(options.middlewares ?? []), OperatorCalls],
		skipProcessEventRegistration: false,
	});
	await broker.start();
	if (!config.transporter) console.warn("TRANSPORTER is not set: this REPL sees only itself. Set it to the cluster's NATS URL.");
	broker.repl();
}

void main();
