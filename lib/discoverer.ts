/**
 * Moleculer's local discoverer, made to notice a node that dies without saying goodbye in seconds.
 *
 * Moleculer judges heartbeats in whole seconds of process.uptime() and only every `heartbeatTimeout`
 * seconds, so a node killed with SIGKILL stayed in the registry for up to twice the timeout (23 s with 5 s
 * heartbeats and a 15 s timeout), and every call balanced to it waited for the request timeout. Here:
 *  - a remote node's last heartbeat (or INFO) is timed to the millisecond and judged four times a second;
 *  - a node whose heartbeat is late (`suspectAfterMs`) is probed through NATS (lib/nats-transporter.ts,
 *    probeNode): when the NATS server says nobody holds the node's subscriptions any more, its connection
 *    is closed (the process died) and the node is dropped at once;
 *  - a node silent for `heartbeatTimeout` is dropped whatever the probe says (a host that vanished without
 *    closing its connections, a partition, or an event loop stuck that long).
 * Dropping a node unregisters its services and rejects the requests still waiting for it (Moleculer's
 * NodeCatalog.disconnected → Transit.removePendingRequestByNodeID, a RequestRejectedError), so nothing
 * waits for the request timeout. A node dropped while alive comes back with its next heartbeat.
 *
 * When this node's own event loop was held up, heartbeats may be waiting unread in its socket: a check that
 * runs late judges nobody, and the next one (after the waiting packets have been read) does, late or not.
 */
import { Discoverers } from "moleculer";
import type { ProbeResult } from "./nats-transporter";

const LocalDiscoverer = Discoverers.Local;

export interface QuickDiscovererOptions {
	/** How often the silence of remote nodes is judged. */
	checkIntervalMs?: number;
	/** A heartbeat this late makes the node suspect: it is probed through the transporter. */
	suspectAfterMs?: number;
	/** Between two probes of one node. */
	probeIntervalMs?: number;
}

interface Prober {
	probeNode(nodeID: string, timeoutMs?: number): Promise<ProbeResult>;
}

interface RemoteNode {
	id: string;
	local: boolean;
	available: boolean;
}

interface DiscovererOptions {
	heartbeatInterval: number;
	heartbeatTimeout: number;
	disableHeartbeatChecks?: boolean;
}

export class QuickDiscoverer extends LocalDiscoverer {
	/** Moleculer's options, heartbeat settings filled in from the broker's by init(). */
	declare opts: DiscovererOptions;
	private readonly checkIntervalMs: number;
	private readonly suspectAfterOption: number | undefined;
	private readonly probeIntervalMs: number;
	/** performance.now() of the last sign of life (heartbeat or INFO) of each remote node. */
	private readonly lastSeen = new Map<string, number>();
	/** performance.now() of the last probe sent to each node. */
	private readonly lastProbe = new Map<string, number>();
	private lastCheck = 0;
	private skippedLast = false;

	constructor(options: QuickDiscovererOptions = {}) {
		super();
		this.checkIntervalMs = options.checkIntervalMs ?? 250;
		this.suspectAfterOption = options.suspectAfterMs;
		this.probeIntervalMs = options.probeIntervalMs ?? 500;
	}

	private get intervalMs(): number {
		return this.opts.heartbeatInterval * 1000;
	}

	private get timeoutMs(): number {
		return this.opts.heartbeatTimeout * 1000;
	}

	private get suspectAfterMs(): number {
		return this.suspectAfterOption ?? Math.min(this.intervalMs * 1.5, this.timeoutMs / 2);
	}

	/** Heartbeats every heartbeatInterval ± 10 % (Moleculer's ± 500 ms would blur a 1 s interval), checks every checkIntervalMs. */
	override startHeartbeatTimers(): void {
		this.stopHeartbeatTimers();
		if (!(this.opts.heartbeatInterval > 0)) return;
		const jitter = (Math.random() - 0.5) * 0.2 * this.intervalMs;
		this.heartbeatTimer = setInterval(() => void this.beat(), Math.round(this.intervalMs + jitter));
		this.heartbeatTimer.unref();
		this.lastCheck = performance.now();
		this.checkNodesTimer = setInterval(() => this.checkRemoteNodes(), this.checkIntervalMs);
		this.checkNodesTimer.unref();
		this.offlineTimer = setInterval(() => this.checkOfflineNodes(), 60_000);
		this.offlineTimer.unref();
	}

	override heartbeatReceived(nodeID: string, payload: Record<string, unknown>): void {
		this.lastSeen.set(nodeID, performance.now());
		super.heartbeatReceived(nodeID, payload);
	}

	override processRemoteNodeInfo(nodeID: string, payload: Record<string, unknown>) {
		this.lastSeen.set(nodeID, performance.now());
		return super.processRemoteNodeInfo(nodeID, payload);
	}

	override remoteNodeDisconnected(nodeID: string, isUnexpected: boolean) {
		this.forget(nodeID);
		return super.remoteNodeDisconnected(nodeID, isUnexpected);
	}

	override checkRemoteNodes(): void {
		if (this.opts.disableHeartbeatChecks) return;
		const now = performance.now();
		const late = now - this.lastCheck - this.checkIntervalMs;
		this.lastCheck = now;
		// This node was held up: what arrived meanwhile is still unread (timers run before the loop reads its
		// sockets). Judge at the next check, which comes after a read; only once, so a node that is always
		// late still judges.
		if (late > this.checkIntervalMs * 2 && !this.skippedLast) {
			this.skippedLast = true;
			return;
		}
		this.skippedLast = false;

		for (const node of this.registry.nodes.toArray() as RemoteNode[]) {
			if (node.local || !node.available) continue;
			const seen = this.lastSeen.get(node.id);
			if (seen === undefined) {
				this.lastSeen.set(node.id, now);
				continue;
			}
			const silence = now - seen;
			if (silence > this.timeoutMs) {
				this.logger.warn(`No heartbeat from node '${node.id}' for ${Math.round(silence)} ms: dropping it`);
				this.drop(node.id);
			} else if (silence > this.suspectAfterMs) {
				this.probe(node.id, seen, now);
			}
		}
	}

	/** Asks the transporter (when it can tell) whether a silent node's connection is gone. */
	private probe(nodeID: string, seen: number, now: number): void {
		const prober = this.transit?.tx as Partial<Prober> | undefined;
		if (typeof prober?.probeNode !== "function") return;
		if (now - (this.lastProbe.get(nodeID) ?? 0) < this.probeIntervalMs) return;
		this.lastProbe.set(nodeID, now);
		prober
			.probeNode(nodeID, this.probeIntervalMs)
			.then((result) => {
				// A heartbeat that arrived while the probe was out settles the question.
				if (result !== "gone" || this.lastSeen.get(nodeID) !== seen) return;
				const node = this.registry.nodes.get(nodeID) as RemoteNode | undefined;
				if (!node?.available) return;
				this.logger.warn(`Node '${nodeID}' missed its heartbeat and its NATS connection is closed: dropping it`);
				this.drop(nodeID);
			})
			.catch((err: Error) => this.logger.debug(`Probing node '${nodeID}' failed:`, err));
	}

	private drop(nodeID: string): void {
		this.forget(nodeID);
		this.registry.nodes.disconnected(nodeID, true);
	}

	private forget(nodeID: string): void {
		this.lastSeen.delete(nodeID);
		this.lastProbe.delete(nodeID);
	}
}
