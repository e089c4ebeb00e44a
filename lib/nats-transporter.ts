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

/** What a probe learnt: no subscription for the node's subject (its connection is closed), or nothing definite. */
export type ProbeResult = "gone" | "unknown";

/** Moleculer's PING packet type (its Packet class is not exported at run time). */
const PACKET_PING = "PING";

/** The NATS client's error code for a request nobody subscribes to (nats.js ErrorCode.NoResponders). */
const NO_RESPONDERS = "503";

interface NatsRequester {
	request(subject: string, data: Buffer, options: { timeout: number }): Promise<unknown>;
	publish(subject: string, data: Buffer): void;
}

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

	/**
	 * Asks the NATS server whether a node still holds its subscriptions. The probe is a PING packet sent to the
	 * node's own PING subject as a NATS request: a node that is there answers with a PONG as usual (the request
	 * itself just times out), while for a node whose connection the server has closed (the process died: the
	 * kernel closed its socket) the server answers at once that nobody listens ("no responders"). Only that
	 * answer is definite; a host that vanished without closing its connection still looks present here.
	 */
	async probeNode(nodeID: string, timeoutMs = 1_000): Promise<ProbeResult> {
		const client = this.client as NatsRequester | null;
		if (!client || !this.connected) return "unknown";
		const packet = { type: PACKET_PING, target: nodeID, payload: { time: Date.now(), id: this.broker.generateUid() } };
		const data = (this as unknown as { serialize(packet: unknown): Buffer }).serialize(packet);
		try {
			await client.request(this.getTopicName(PACKET_PING, nodeID), data, { timeout: timeoutMs });
			return "unknown";
		} catch (err) {
			return (err as { code?: string }).code === NO_RESPONDERS ? "gone" : "unknown";
		}
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
		const client = this.client as NatsRequester | null;
		if (!client) return;
		for (let index = 0; index < batch.length; index += 2) client.publish(batch[index] as string, batch[index + 1] as Buffer);
	};
}
