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

/**
 * The consumer groups that have a durable consumer on a channel's stream: from its first subscription on, a
 * group gets every message of the channel, also those published while none of its nodes is up.
 */
export async function durableGroups(namespace: string, channel: string): Promise<string[]> {
	const connection = await connect({ servers: inject("testEnv").natsUrl });
	try {
		const manager = await connection.jetstreamManager();
		const name = `${namespace}.${channel}`.split(".").join("_");
		const groups: string[] = [];
		for await (const stream of manager.streams.list()) {
			if (stream.config.name !== name) continue;
			for await (const consumer of manager.consumers.list(name)) groups.push(consumer.name);
		}
		return groups;
	} finally {
		await connection.close();
	}
}
