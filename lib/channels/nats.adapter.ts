/**
 * @moleculer/channels' NATS JetStream adapter, with a channel's stream made by whoever publishes first.
 *
 * The stock adapter creates a channel's stream only when a consumer group subscribes. Until then a
 * publish has no stream to land in and fails (JetStream answers "no responders"), every time. Producers
 * that publish from a transactional outbox retry a failed row forever and hold back the rows behind it,
 * so a cluster that doesn't run some consumer (a role without notifications, a test cluster) would stall
 * its producer's outbox and log an error every second. Here the first publish to a channel from this
 * process makes its stream exactly as a subscription would (same name, subject and the adapter's stream
 * configuration, so retention is the same), and the message is kept there.
 *
 * A consumer group that subscribes later starts at the messages published after it subscribed (the
 * adapter's deliver policy "new"), as it would have anyway; a group that has subscribed once keeps its
 * durable consumer and gets everything published while it was down.
 */
import { Adapters } from "@moleculer/channels";
import type NatsAdapterType from "@moleculer/channels/types/src/adapters/nats";

type NatsAdapterClass = typeof NatsAdapterType;
const NatsAdapter = (Adapters as unknown as { NATS: NatsAdapterClass }).NATS;

export class StreamEnsuringNatsAdapter extends NatsAdapter {
	/** Channels whose stream this process has made sure of; a stream outlives processes, so once is enough. */
	private readonly ensuredStreams = new Map<string, Promise<unknown>>();

	override async publish(channelName: string, payload: unknown, opts?: Parameters<NatsAdapterType["publish"]>[2]): Promise<void> {
		// Not connected (or stopping): the stock publish answers that with its own error (or silence).
		if (this.connected && !this.stopping) await this.ensureStream(channelName);
		return super.publish(channelName, payload, opts);
	}

	private ensureStream(channelName: string): Promise<unknown> {
		let ensured = this.ensuredStreams.get(channelName);
		if (!ensured) {
			// The stream name subscribe() gives the channel: NATS stream names can't contain dots.
			ensured = this.createStream(channelName.split(".").join("_"), [channelName], {} as never).catch((err: unknown) => {
				// Not remembered, so the next publish tries again; the publish itself reports the failure.
				this.ensuredStreams.delete(channelName);
				this.logger.warn(`Could not create the stream of channel ${channelName}:`, (err as Error).message);
			});
			this.ensuredStreams.set(channelName, ensured);
		}
		return ensured;
	}
}
