/**
 * Readiness of a node: each dependency it was configured with must answer now, and each service's own
 * start-up work (addReadinessCheck, e.g. the bootstrap super admin) must be done. Liveness (/healthz) asks
 * nothing of dependencies, so a database outage makes nodes unready, never restarts them.
 */
import type { ServiceBroker } from "moleculer";
import { Pool } from "pg";
import { S3ObjectStore, storageConnectionOf } from "./storage/object-store";

export type CheckStatus = "up" | "down" | "not_configured";

export interface ReadinessReport {
	status: "ready" | "not_ready";
	nodeID: string;
	checks: { database: CheckStatus; transporter: CheckStatus; cacher: CheckStatus; storage: CheckStatus } & Record<string, CheckStatus>;
	errors: Record<string, string>;
}

const CHECK_TIMEOUT_MS = 2_000;

// One tiny pool per URL: probes come every few seconds and must not open a connection each time.
const probePools = new Map<string, Pool>();

function probePool(url: string): Pool {
	let pool = probePools.get(url);
	if (!pool) {
		pool = new Pool({ connectionString: url, max: 1, idleTimeoutMillis: 30_000, connectionTimeoutMillis: CHECK_TIMEOUT_MS });
		pool.on("error", () => undefined);
		probePools.set(url, pool);
	}
	return pool;
}

export async function closeProbePools(): Promise<void> {
	const pools = [...probePools.values()];
	probePools.clear();
	await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)));
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function checkDatabase(broker: ServiceBroker): Promise<CheckStatus> {
	const url = broker.options.platform?.databaseUrl;
	if (!url) return "not_configured";
	await withTimeout(probePool(url).query("SELECT 1"), "PostgreSQL");
	return "up";
}

async function checkTransporter(broker: ServiceBroker): Promise<CheckStatus> {
	if (!broker.transit) return "not_configured";
	const transit = broker.transit as unknown as { connected: boolean; tx: { client?: { isClosed?: () => boolean; flush?: () => Promise<void> } } };
	if (!transit.connected) throw new Error("not connected to the transporter");
	const client = transit.tx.client;
	if (client?.isClosed?.()) throw new Error("the NATS connection is closed");
	// A flush is a round trip to the NATS server: it proves the link carries traffic now.
	if (client?.flush) await withTimeout(client.flush(), "NATS");
	return "up";
}

async function checkCacher(broker: ServiceBroker): Promise<CheckStatus> {
	const cacher = broker.cacher as unknown as { client?: { ping?: () => Promise<string> } } | undefined;
	if (!cacher?.client?.ping) return "not_configured";
	await withTimeout(cacher.client.ping(), "Redis");
	return "up";
}

const probeStores = new WeakMap<ServiceBroker, S3ObjectStore>();

/** Nodes that keep files: the object store answers and accepts this node's credentials. */
async function checkStorage(broker: ServiceBroker): Promise<CheckStatus> {
	const connection = storageConnectionOf(broker);
	if (!connection) return "not_configured";
	let store = probeStores.get(broker);
	if (!store) {
		const bucket = (broker as ServiceBroker & { platformConfig?: { storage: { bucket: string } } }).platformConfig?.storage.bucket ?? "lattice";
		store = new S3ObjectStore(connection, bucket);
		probeStores.set(broker, store);
	}
	// A HEAD of a key that never exists: a missing object is an answer, a refused or unreachable store is not.
	await withTimeout(store.stat(".readiness-probe"), "the object store");
	return "up";
}

/** A service's own readiness: "up" when its work is done, or throws saying what it waits for. */
export type ReadinessCheck = () => CheckStatus | Promise<CheckStatus>;

const serviceChecks = new WeakMap<ServiceBroker, Map<string, ReadinessCheck>>();

/**
 * Makes the node's readiness wait for a service's own work (the bootstrap super admin exists), on the
 * gateway's /readyz and the ops listener alike. Answers the function that takes the check away again.
 */
export function addReadinessCheck(broker: ServiceBroker, name: string, check: ReadinessCheck): () => void {
	let checks = serviceChecks.get(broker);
	if (!checks) {
		checks = new Map();
		serviceChecks.set(broker, checks);
	}
	checks.set(name, check);
	return () => {
		if (serviceChecks.get(broker)?.get(name) === check) serviceChecks.get(broker)?.delete(name);
	};
}

export async function checkReadiness(broker: ServiceBroker): Promise<ReadinessReport> {
	const errors: Record<string, string> = {};
	const run = async (name: string, check: (broker: ServiceBroker) => Promise<CheckStatus>): Promise<CheckStatus> => {
		try {
			return await check(broker);
		} catch (err) {
			errors[name] = (err as Error).message;
			return "down";
		}
	};
	const [database, transporter, cacher, storage] = await Promise.all([
		run("database", checkDatabase),
		run("transporter", checkTransporter),
		run("cacher", checkCacher),
		run("storage", checkStorage),
	]);
	const contributed = await Promise.all([...(serviceChecks.get(broker) ?? new Map<string, ReadinessCheck>())].map(async ([name, check]) => [name, await run(name, async () => withTimeout(Promise.resolve(check()), name))] as const));
	const checks = { ...Object.fromEntries(contributed), database, transporter, cacher, storage };
	const ready = broker.started && Object.values(checks).every((status) => status !== "down");
	if (!broker.started) errors.broker = "the broker is not started";
	return { status: ready ? "ready" : "not_ready", nodeID: broker.nodeID, checks, errors };
}
