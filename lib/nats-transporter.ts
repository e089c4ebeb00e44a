/**
 * Moleculer's NATS transporter, with the packets a node sends in one turn of the event loop written to
 * the NATS socket together.
 *
 * The NATS client flushes its outgoing buffer at the end of the current microtask queue, so every packet
 * sent from its own I/O callback (each HTTP request on the gateway, each request the gateway answers)
 * became its own socket write. On loopback and on a real network alike, a write is a system call that
 * also wakes the NATS server to read it, and the server in turn writes to the receiving node: with one
 * packet per write, those per-write costs dominated a remote call (bench/gateway.bench.ts: the gateway
 * spent more time in socket writes than in everything else it does). Here packets wait for the check
 * phase of the loop (setImmediate), after all the I/O callbacks of this turn have run, and are handed to
 * the client in one go, so they leave in one write, and the NATS server forwards them in few.
 *
 * Order is kept (one queue per node). The added wait is the remainder of the current loop turn: nothing
 * when the node is idle, a fraction of a millisecond under load, which is when the batching pays.
 */
import { Transporters } from "moleculer";

const NatsTransporter = Transporters.NATS;

export class CoalescingNatsTransporter extends NatsTransporter {
	private pending: Array<string | Buffer> = [];
	private flushScheduled = false;

	override send(topic: string, data: Buffer): Promise<void> {
		if (!this.client) return Promise.resolve();
		this.pending.push(topic, data);
		if (!this.flushScheduled) {
			this.flushScheduled = true;
			setImmediate(this.flush);
		}
		return Promise.resolve();
	}

	override disconnect(): Promise<void> {
		// The last packets (DISCONNECT among them) leave before the client flushes and closes.
		this.flush();
		return super.disconnect();
	}

	private readonly flush = (): void => {
		this.flushScheduled = false;
		const batch = this.pending;
		if (batch.length === 0) return;
		this.pending = [];
		const client = this.client as { publish(subject: string, data: Buffer): void } | null;
		if (!client) return;
		for (let index = 0; index < batch.length; index += 2) client.publish(batch[index] as string, batch[index + 1] as Buffer);
	};
}
