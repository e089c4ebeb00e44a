/**
 * The long form of the fuzz suite: `npm run fuzz -- --requests 50000 --seed 7`. Starts a node of its own
 * (server.ts on 127.0.0.1, a database of its own on the local PostgreSQL, an embedded S3 server in a
 * temporary folder), or fuzzes `--url http://127.0.0.1:<port>` (loopback only), sends the requests, prints
 * the figures and every failure grouped (`--json <file>`: every failure, one object each), and exits 1 when
 * there was any. Bounded by `--requests` and `--minutes`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Client } from "pg";
import { freePort } from "../test/helpers/net";
import { KNOWN_FAILURE_CLASSES } from "../test/fuzz/known-failures";
import { formatFigures, formatGroups, groupFailures, partition } from "../test/fuzz/report";
import { runFuzz } from "../test/fuzz/session";
import { existingTarget, spawnTarget, type FuzzTarget } from "../test/fuzz/target";

const ADMIN = { email: "fuzz-root@lattice.test", password: "fuzz-bootstrap-secret-1" };
const BODY_LIMIT = 1024 * 1024;

async function main(): Promise<void> {
	const { values } = parseArgs({
		options: {
			requests: { type: "string", default: "50000" },
			seed: { type: "string", default: String(Date.now() % 1_000_000) },
			concurrency: { type: "string", default: "8" },
			minutes: { type: "string", default: "30" },
			url: { type: "string" },
			json: { type: "string" },
			"admin-email": { type: "string" },
			"admin-password": { type: "string" },
		},
	});
	const requests = Number(values.requests);
	const seed = Number(values.seed);
	const concurrency = Number(values.concurrency);
	const minutes = Number(values.minutes);
	if (![requests, seed, concurrency, minutes].every((value) => Number.isFinite(value) && value >= 0) || requests > 10_000_000 || concurrency < 1 || concurrency > 256) {
		throw new Error("--requests, --seed, --concurrency (1-256) and --minutes must be non-negative numbers");
	}

	let target: FuzzTarget;
	let cleanup = async () => undefined as void;
	let admin = ADMIN;
	if (values.url) {
		target = existingTarget(values.url);
		if (!values["admin-email"] || !values["admin-password"]) throw new Error("--url needs --admin-email and --admin-password (the node's BOOTSTRAP_ADMIN_*)");
		admin = { email: values["admin-email"], password: values["admin-password"] };
	} else {
		const adminUrl = process.env.TEST_POSTGRES_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
		const runId = `${Date.now().toString(36)}${process.pid}`;
		const database = `lattice_fuzz_${runId}`;
		const pg = new Client({ connectionString: adminUrl });
		await pg.connect();
		await pg.query(`CREATE DATABASE ${database}`);
		await pg.end();
		const databaseUrl = new URL(adminUrl);
		databaseUrl.pathname = `/${database}`;
		const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lattice-fuzz-"));
		const port = await freePort();
		console.log(`Starting a node on 127.0.0.1:${port} (database ${database}, data in ${dataDir})`);
		const removeData = async () => {
			fs.rmSync(dataDir, { recursive: true, force: true });
			const client = new Client({ connectionString: adminUrl });
			await client.connect();
			await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
			await client.end();
		};
		const started = await spawnTarget({
			NODE_ENV: "test",
			PORT: String(port),
			HOST: "127.0.0.1",
			OPS_PORT: "off",
			DATABASE_URL: databaseUrl.toString(),
			DATA_DIR: dataDir,
			EMBEDDED_S3_PORT: "0",
			NAMESPACE: `fuzz-${runId}`,
			LOG_LEVEL: "fatal",
			LOG_FORMAT: "json",
			TRACING_EXPORTER: "none",
			TRUST_PROXY: "true",
			RATE_LIMIT_MAX: "1000000",
			BODY_LIMIT: "1mb",
			OUTBOUND_ALLOW_HOSTS: "127.0.0.1:9",
			WEBHOOK_RETRY_SCHEDULE: "1h",
			SECRETS_KEY: "6e".repeat(32),
			BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
			BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
		}).catch(async (err: unknown) => {
			await removeData();
			throw err;
		});
		target = started;
		cleanup = async () => {
			await started.stop();
			await removeData();
		};
	}

	let exitCode = 0;
	try {
		const run = await runFuzz(target, {
			seed,
			requests,
			concurrency,
			bodyLimit: BODY_LIMIT,
			admin,
			timeBudgetMs: minutes * 60_000,
			onRound: (round, stats) => console.log(`round ${round + 1}: ${stats.sent} sent, ${stats.failures.length} failures so far`),
		});
		console.log(`\n${formatFigures(run.stats, seed)}`);
		console.log(`  operations: ${Object.keys(run.stats.perOperation).length} of ${run.operations.length} covered, 4 callers (anonymous, user, apiKey, superAdmin)`);
		const { known, unknown } = partition(run.stats.failures, KNOWN_FAILURE_CLASSES);
		for (const [failureClass, failures] of known) console.log(`  known (${failureClass.owner}): ${failureClass.description}: ${failures.length}`);
		console.log(`  not in KNOWN_FAILURE_CLASSES: ${unknown.length}`);
		if (values.json) fs.writeFileSync(values.json, JSON.stringify({ seed, requests, ...run.stats }, null, 1));
		if (run.stats.failures.length > 0) {
			console.log(`\nFailures, grouped (reproduce with --seed ${seed}):\n${formatGroups(groupFailures(run.stats.failures), 2000)}`);
			exitCode = 1;
		}
	} finally {
		await cleanup();
	}
	process.exit(exitCode);
}

main().catch((err) => {
	console.error(err instanceof Error ? err.message : err);
	process.exit(2);
});
