/**
 * `npm run migrate [-- down]`: applies (or reverts one step of) the migrations of every db-backed service
 * this node's SERVICES would run, without starting the services themselves. Nodes also migrate at start.
 */
import type { Service } from "moleculer";
import { loadConfig } from "../lib/config";
import { createNode } from "../lib/node";
import { usesDatabase, type DbMixinMethods } from "../mixins/db.mixin";

async function main(): Promise<void> {
	const direction = process.argv[2] === "down" ? "down" : "up";
	const config = loadConfig({ ...process.env, TRACING_EXPORTER: "none" });
	const node = await createNode(config);
	try {
		await node.prepareDatabase();
		const services = (node.broker.services as Service[]).filter((service) => usesDatabase(service) && typeof (service as Partial<DbMixinMethods>).migrate === "function") as Array<Service & DbMixinMethods & { connect(): Promise<void>; disconnect(): Promise<void> }>;
		for (const service of services) {
			await service.connect();
			try {
				const names = await service.migrate(direction);
				console.log(`${service.name}: ${names.length === 0 ? "up to date" : `${direction === "up" ? "applied" : "reverted"} ${names.join(", ")}`}`);
			} finally {
				await service.disconnect();
			}
		}
		if (services.length === 0) console.log("No database-backed services on this node.");
	} finally {
		await node.stop();
	}
}

main().catch((err) => {
	console.error(err instanceof Error ? err.message : err);
	process.exit(1);
});
