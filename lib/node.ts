/**
 * One Lattice node: a broker, the services of the domains it runs, and the database they need. The same
 * code starts the single embedded process, every role of a cluster, and the nodes that tests start.
 */
import fs from "node:fs";
import path from "node:path";
import { ServiceBroker, type BrokerOptions, type Service, type ServiceSchema } from "moleculer";
import { assertDatabaseAvailable, assertStorageAvailable, runsDomain, SERVICES_DIR, type PlatformConfig } from "./config";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./database";
import { startEmbeddedS3, type EmbeddedS3 } from "./storage/embedded-s3";
import { setStorageConnection, usesObjectStorage } from "./storage/object-store";
import { createBrokerOptions } from "../moleculer.config";
import { usesDatabase } from "../mixins/db.mixin";
import { startOpsServer, type OpsServer } from "./ops-server";
import { throttleUnavailableWarnings } from "./log-throttle";

export interface LatticeNode {
	broker: ServiceBroker;
	config: PlatformConfig;
	/** Resolves the database URL, starting the embedded PostgreSQL when this node should have one. */
	prepareDatabase(): Promise<void>;
	start(): Promise<void>;
	stop(): Promise<void>;
	/** The port of this node's ops listener (/healthz, /readyz, /metrics) once started, unless OPS_PORT is off. */
	readonly opsPort: number | undefined;
}

/** Service files of a domain: *.service.ts under tsx, *.service.js once compiled. */
export function serviceFiles(domain: string): string[] {
	const directory = path.join(SERVICES_DIR, domain);
	const extension = __filename.endsWith(".js") ? ".service.js" : ".service.ts";
	return fs
		.readdirSync(directory)
		.filter((file) => file.endsWith(extension))
		.sort()
		.map((file) => path.join(directory, file));
}

/**
 * Services are imported rather than handed to broker.loadService (a bare require): the import goes
 * through whichever loader runs this module (tsx, compiled JS, or the test runner), so a service shares
 * module instances with everything else.
 */
async function loadDomainServices(broker: ServiceBroker, entries: string[]): Promise<void> {
	for (const entry of entries) {
		const [domain, only] = entry.split("/");
		const files = serviceFiles(domain).filter((file) => only === undefined || path.basename(file).replace(/\.service\.(ts|js)$/, "") === only);
		for (const file of files) {
			const module = (await import(file)) as { default?: ServiceSchema };
			const schema = module.default;
			if (!schema || typeof schema !== "object") throw new Error(`${file} has no default export of a service schema`);
			broker.createService(schema);
		}
	}
}

export async function createNode(config: PlatformConfig, overrides: Partial<BrokerOptions> = {}): Promise<LatticeNode> {
	const broker = new ServiceBroker({ ...createBrokerOptions(config), ...overrides });
	// The runtime config travels with the broker so services read validated values, never the environment.
	(broker as ServiceBroker & { platformConfig?: PlatformConfig }).platformConfig = config;
	// A node that left would otherwise be reported once per request that wanted it.
	throttleUnavailableWarnings(broker);
	await loadDomainServices(broker, config.services);

	let embedded: EmbeddedDatabase | undefined;
	let embeddedS3: EmbeddedS3 | undefined;
	let ops: OpsServer | undefined;
	const services = broker.services as Service[];
	const needsDatabase = services.some(usesDatabase);
	const needsObjectStorage = services.some(usesObjectStorage);

	const prepareDatabase = async () => {
		assertDatabaseAvailable(config, needsDatabase);
		const platform = broker.options.platform ?? {};
		broker.options.platform = platform;
		// A single embedded node always gets its database (readiness reports it, later domains expect it);
		// a cluster node has none of its own (assertDatabaseAvailable refused the case where it needs one).
		if (!platform.databaseUrl && !config.transporter && !embedded) {
			embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort, broker.getLogger("embedded-postgres"));
			platform.databaseUrl = embedded.url;
		}
	};

	// Like the database: the configured S3 API, or on a single node an embedded one under dataDir.
	const prepareStorage = async () => {
		assertStorageAvailable(config, needsObjectStorage);
		if (!needsObjectStorage) return;
		if (config.storage.s3) {
			setStorageConnection(broker, config.storage.s3);
		} else if (!embeddedS3) {
			embeddedS3 = await startEmbeddedS3(config.dataDir, config.storage.embeddedPort, broker.getLogger("embedded-s3"));
			setStorageConnection(broker, embeddedS3.connection);
		}
	};

	return {
		broker,
		config,
		prepareDatabase,
		get opsPort() {
			return ops?.port;
		},
		async start() {
			// Once per node, where it matters: these domains store secrets that a dump of the database would then hold readable.
			if (!config.secrets.key && (runsDomain(config, "identity") || runsDomain(config, "notifications"))) {
				broker.getLogger("secrets").warn("SECRETS_KEY is not set: webhook signing secrets and JWT signing keys are stored readable in PostgreSQL (allowed outside production only)");
			}
			await prepareDatabase();
			await prepareStorage();
			await broker.start();
			// Every node answers probes and scrapes on its own small listener; /metrics lives only there, off the
			// gateway's public port (it shows every action's traffic).
			if (config.opsPort !== undefined) {
				ops = await startOpsServer(broker, config, config.opsPort);
			}
		},
		async stop() {
			await ops?.close();
			ops = undefined;
			if (broker.started) await broker.stop();
			await embedded?.stop();
			embedded = undefined;
			await embeddedS3?.stop();
			embeddedS3 = undefined;
		},
	};
}

export function platformConfigOf(broker: ServiceBroker): PlatformConfig {
	const config = (broker as ServiceBroker & { platformConfig?: PlatformConfig }).platformConfig;
	if (!config) throw new Error("This broker was not created by createNode()");
	return config;
}
