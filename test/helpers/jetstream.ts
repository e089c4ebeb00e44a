/** JetStream streams live on the run's shared NATS server: a test removes the ones its namespaces created. */
import { connect } from "nats";
import { inject } from "vitest";

/** Streams are named after the namespace-prefixed channel, dots as underscores. */
export async function removeStreams(...namespaces: string[]): Promise<void> {
	const connection = await connect({ servers: inject("testEnv").natsUrl });
	try {
		const manager = await connection.jetstreamManager();
		const prefixes = namespaces.map((name) => `${name.split(".").join("_")}_`);
		for await (const stream of manager.streams.list()) {
			if (prefixes.some((prefix) => stream.config.name.startsWith(prefix))) await manager.streams.delete(stream.config.name);
		}
	} finally {
		await connection.close();
	}
}
