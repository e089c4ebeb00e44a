/**
 * Starts one Lattice node from the environment. With nothing set: everything on one process, an embedded
 * PostgreSQL and memory caching. With TRANSPORTER (and DATABASE_URL) set: one node of a NATS cluster
 * running the domains named in SERVICES.
 */
import { ConfigError, loadConfig } from "./lib/config";
import { createNode, type LatticeNode } from "./lib/node";

async function main(): Promise<void> {
	let node: LatticeNode;
	try {
		node = await createNode(loadConfig());
	} catch (err) {
		if (err instanceof ConfigError) {
			console.error(err.message);
			process.exit(78); // EX_CONFIG
		}
		throw err;
	}

	let stopping = false;
	const shutdown = (signal: string) => {
		if (stopping) return;
		stopping = true;
		node.broker.logger.info(`${signal} received: stopping`);
		node
			.stop()
			.then(() => process.exit(0))
			.catch((err) => {
				node.broker.logger.error("Shutdown failed", err);
				process.exit(1);
			});
	};
	// Node ends the process on a rejection nobody handled. Every request path answers its own errors (the
	// gateway's httpHandler catches whatever its handlers throw), so one reaching here is a bug in a single
	// request or background task: the node and every other request in flight are fine, and taking them down
	// (with the embedded database, on a single node) would turn that bug into an outage anyone could trigger.
	// It is logged with its stack instead. Uncaught exceptions still end the process: one thrown out of
	// synchronous code may have left shared state half-changed.
	process.on("unhandledRejection", (reason) => node.broker.logger.error("Unhandled rejection (the node keeps running):", reason));
	process.on("SIGINT", () => shutdown("SIGINT"));
	process.on("SIGTERM", () => shutdown("SIGTERM"));

	try {
		await node.start();
	} catch (err) {
		node.broker.logger.fatal("The node could not start:", err);
		await node.stop().catch(() => undefined);
		process.exit(err instanceof ConfigError ? 78 : 1);
	}
}

void main();
