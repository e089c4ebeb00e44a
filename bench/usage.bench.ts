/**
 * Usage metering: events per second through the gateway, next to what the same PostgreSQL takes as plain
 * multi-row INSERTs of the same rows, and how long aggregating one period of 1,000,000 events takes.
 *
 * (a) Baseline: BENCH_PG_CONNECTIONS clients (pg, from this process) loop `INSERT INTO … VALUES (…), (…)`
 *     of BENCH_BATCH rows (tenant, transaction id, metric, value, occurred_at, properties), as a named
 *     prepared statement (the strongest plain form: parsed and planned once per connection), for
 *     BENCH_DURATION seconds into a copy of usage.usage_events (same columns, keys and indexes) on the same
 *     database.
 * (b) Through the gateway: a gateway node, an identity node and a billing node (usage, plans and the
 *     billing engine) on NATS, each its own process, on a fresh database and namespace. wrk (BENCH_WRK_THREADS threads,
 *     BENCH_WRK_CONNECTIONS connections, a Lua script that makes every transaction id unique) POSTs
 *     `{ events: [BENCH_BATCH events] }` to /api/v1/usage-events with an API key (scope usage:write) for
 *     BENCH_DURATION seconds, after a BENCH_WARMUP-second warm-up. Events/s is the rows the run stored,
 *     counted in the database, over wrk's elapsed time. (a) and (b) alternate for BENCH_ROUNDS rounds and
 *     their medians are compared.
 * (c) Aggregation: 1,000,000 events of one tenant in one period (400k count, 250k sum, 100k max, 250k
 *     unique_count over 50k users; plus 200k in the period before) generated in SQL, then the usage
 *     service's own aggregation (services/billing/usage-store.ts aggregateUsage, every kind side by side) is
 *     timed just after the insert (cold: no vacuum has run yet) and after VACUUM ANALYZE (what autovacuum
 *     leaves by a period's end; median of 3). Then the worst case: 1,000,000 events of one unique_count
 *     metric (200k distinct values). BENCH_AGGREGATE=0 skips (c).
 *
 * Prints events/s of both, their ratio (goal ≥ 0.5) and whether ≥ 10,000 events/s holds, p50/p99 latency of
 * a batch, and the aggregation times (goal < 2 s). Everything listens on 127.0.0.1; processes, databases and
 * JetStream streams are removed whatever happens. A benchmark, not a test: it exits 0 once it has measured.
 *
 * Settings (environment): BENCH_DURATION (s, 10), BENCH_ROUNDS (2), BENCH_WARMUP (s, 3), BENCH_BATCH (100),
 * BENCH_WRK_THREADS (2), BENCH_WRK_CONNECTIONS (64), BENCH_PG_CONNECTIONS (10: the usage node's pool),
 * BENCH_AGGREGATE (1), BENCH_NODE_ARGS (extra node flags for every server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_POSTGRES_ADMIN_URL, TRANSPORTER (nats://127.0.0.1:4222), CACHER
 * (redis://127.0.0.1:6379), WRK (/usr/bin/wrk).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { Client } from "pg";
import { freePort } from "../test/helpers/net";
import { acquireSequelize, releaseSequelize } from "../lib/database";
import { aggregateUsage } from "../services/billing/usage-store";
import { STORAGE_METRIC, type Aggregation } from "../services/billing/contracts";
import { BENCH_SECRETS_KEY, databaseUrl, waitForOk, withAdminClient } from "./support";

const run = promisify(execFile);

/** The metrics the bench records and aggregates, created in the plans service's registry before it starts. */
const BENCH_METRICS: ReadonlyArray<{ code: string; aggregation: Aggregation; field: string | null }> = [
	{ code: "bench_calls", aggregation: "count", field: null },
	{ code: "bench_bytes", aggregation: "sum", field: null },
	{ code: "bench_seats", aggregation: "max", field: null },
	{ code: "bench_users", aggregation: "unique_count", field: "user" },
	{ code: STORAGE_METRIC, aggregation: "max", field: null },
];
const ROOT = path.resolve(__dirname, "..");
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const WRK_THREADS = Number(process.env.BENCH_WRK_THREADS ?? 2);
const WRK_CONNECTIONS = Number(process.env.BENCH_WRK_CONNECTIONS ?? 64);
const PG_CONNECTIONS = Number(process.env.BENCH_PG_CONNECTIONS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const AGGREGATE = process.env.BENCH_AGGREGATE !== "0";
const TRANSPORTER = process.env.TRANSPORTER ?? "nats://127.0.0.1:4222";
const CACHER = process.env.CACHER ?? "redis://127.0.0.1:6379";
const WRK = process.env.WRK ?? "/usr/bin/wrk";
const METRIC = "bench_calls";
/** Extra node flags for every server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
const GOAL_RATIO = 0.5;
const GOAL_EVENTS_PER_SECOND = 10_000;
const GOAL_AGGREGATE_MS = 2_000;

/** CPU seconds a process has used so far (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number | undefined): number {
	try {
		const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
		// utime and stime (fields 14 and 15 of stat, 12 and 13 after the command), in clock ticks of 1/100 s.
		return (Number(fields[11]) + Number(fields[12])) / 100;
	} catch {
		return 0;
	}
}

const roles = new Map<ChildProcess, string>();

function startNode(role: string, env: Record<string, string>, script = "server.ts"): ChildProcess {
	const child = spawn(process.execPath, [...NODE_ARGS, "--import", "tsx", path.join(ROOT, script)], {
		cwd: ROOT,
		stdio: ["ignore", "ignore", "inherit"],
		env: { ...process.env, NODE_ENV: "production", SECRETS_KEY: BENCH_SECRETS_KEY, HOST: "127.0.0.1", LOG_LEVEL: "warn", TRACING_EXPORTER: "none", TRANSPORTER, CACHER, ...env },
	});
	child.once("exit", (code, signal) => {
		if (code !== 0 && signal === null) console.error(`${role} node exited with ${code}`);
	});
	roles.set(child, role);
	return child;
}

async function stopNode(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise((resolve) => child.once("exit", resolve));
	child.kill("SIGTERM");
	const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
	await exited;
	clearTimeout(timer);
}

async function dropStreams(namespace: string): Promise<void> {
	const nc = await connect({ servers: TRANSPORTER });
	try {
		const jsm = await nc.jetstreamManager();
		for await (const stream of jsm.streams.list()) {
			const { name, subjects = [] } = stream.config;
			if (name.includes(namespace) || subjects.some((subject) => subject.includes(namespace))) await jsm.streams.delete(name);
		}
	} finally {
		await nc.close();
	}
}

async function call<T>(base: string, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
	const response = await fetch(`${base}/api/v1${route}`, {
		method,
		headers: { ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await response.text();
	return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

/** The rows a run stores: what wrk's script sends, and what the baseline inserts. */
function eventProperties(index: number): string {
	return `{"region":"eu","user":"u${index % 50}"}`;
}

/** wrk's request generator: a batch per request, every transaction id unique (run, thread, request, position). */
function wrkScript(apiKey: string, runId: string): string {
	return `
local threads = 0
function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "${apiKey}"
local n = 0
request = function()
	n = n + 1
	local parts = {}
	for i = 1, ${BATCH} do
		parts[i] = '{"transactionId":"${runId}-' .. tid .. '-' .. n .. '-' .. i .. '","metric":"${METRIC}","value":' .. i .. ',"properties":{"region":"eu","user":"u' .. (i % 50) .. '"}}'
	end
	return wrk.format(nil, "/api/v1/usage-events", nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
`;
}

interface WrkResult {
	requests: number;
	seconds: number;
	non2xx: number;
	socketErrors: string;
	p50: string;
	p99: string;
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function seconds(value: string, unit: string): number {
	return Number(value) * ({ us: 1e-6, ms: 1e-3, s: 1, m: 60 } as Record<string, number>)[unit];
}

async function runWrk(base: string, scriptPath: string, durationSeconds: number): Promise<WrkResult> {
	const { stdout } = await run(WRK, ["-t", String(WRK_THREADS), "-c", String(WRK_CONNECTIONS), "-d", `${durationSeconds}s`, "--latency", "-s", scriptPath, `${base}/api/v1/usage-events`], {
		maxBuffer: 16 * 1024 * 1024,
	});
	const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(stdout);
	if (!total) throw new Error(`wrk printed no totals:\n${stdout}`);
	return {
		requests: Number(total[1]),
		seconds: seconds(total[2], total[3]),
		non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
		socketErrors: /Socket errors: (.*)/.exec(stdout)?.[1] ?? "none",
		p50: /\s50%\s+(\S+)/.exec(stdout)?.[1] ?? "?",
		p99: /\s99%\s+(\S+)/.exec(stdout)?.[1] ?? "?",
	};
}

/**
 * (a): plain multi-row INSERTs of the same rows (a prepared statement), from PG_CONNECTIONS clients, for the
 * duration. The clients connect and insert once each before the clock starts, as the usage node's pool has
 * its connections open and warm.
 */
async function baselineEventsPerSecond(url: string, tenantId: string, runId: string): Promise<number> {
	const columns = 6;
	const values = Array.from({ length: BATCH }, (_, row) => `(${Array.from({ length: columns }, (_, column) => `$${row * columns + column + 1}`).join(", ")})`).join(", ");
	const sql = `INSERT INTO bench_baseline.usage_events (tenant_id, transaction_id, metric, value, occurred_at, properties) VALUES ${values}`;
	const insert = (client: Client, worker: number, n: number) => {
		const now = new Date().toISOString();
		const params: unknown[] = [];
		for (let i = 1; i <= BATCH; i += 1) params.push(tenantId, `${runId}-${worker}-${n}-${i}`, METRIC, i, now, eventProperties(i));
		// A named statement: PostgreSQL parses and plans the 600-parameter INSERT once per connection.
		return client.query({ name: "baseline_insert", text: sql, values: params });
	};
	const clients = await Promise.all(
		Array.from({ length: PG_CONNECTIONS }, async (_, worker) => {
			const client = new Client({ connectionString: url });
			await client.connect();
			await insert(client, worker, 0);
			return client;
		}),
	);
	let rows = 0;
	const deadline = Date.now() + DURATION * 1000;
	const started = Date.now();
	try {
		await Promise.all(
			clients.map(async (client, worker) => {
				for (let n = 1; Date.now() < deadline; n += 1) {
					// Awaited first: `rows += await …` would read `rows` before the wait and lose the other clients' additions.
					const inserted = await insert(client, worker, n);
					rows += inserted.rowCount ?? 0;
				}
			}),
		);
		return rows / ((Date.now() - started) / 1000);
	} finally {
		await Promise.all(clients.map((client) => client.end()));
	}
}

async function withDatabase<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: url });
	await client.connect();
	try {
		return await work(client);
	} finally {
		await client.end();
	}
}

async function countRows(url: string, table: string, tenantId: string): Promise<number> {
	return withDatabase(url, async (client) => Number((await client.query<{ count: string }>(`SELECT count(*) AS count FROM ${table} WHERE tenant_id = $1`, [tenantId])).rows[0].count));
}

/** (c): one period of a million events, generated in SQL, aggregated by the usage service's own code. */
async function aggregationTimings(url: string): Promise<void> {
	const client = new Client({ connectionString: url });
	await client.connect();
	const sequelize = acquireSequelize(url);
	const periodStart = new Date(Date.UTC(2026, 0, 1));
	const periodEnd = new Date(Date.UTC(2026, 1, 1));
	const periodMs = periodEnd.getTime() - periodStart.getTime();
	const time = async (tenantId: string, metrics = BENCH_METRICS) => {
		const started = performance.now();
		const quantities = await aggregateUsage(sequelize, tenantId, periodStart, periodEnd, metrics);
		return { ms: performance.now() - started, quantities };
	};
	const median = async (tenantId: string, metrics = BENCH_METRICS) => {
		const runs = [await time(tenantId, metrics), await time(tenantId, metrics), await time(tenantId, metrics)];
		return runs.sort((a, b) => a.ms - b.ms)[1];
	};
	const verdict = (ms: number) => `${ms.toFixed(0).padStart(6)} ms  ${ms < GOAL_AGGREGATE_MS ? "(goal < 2 s: met)" : "(goal < 2 s: missed)"}`;
	try {
		const mixed = randomUUID();
		console.log("aggregation: generating 1,000,000 events of one tenant in one period (and 200,000 in the period before) …");
		// Events spread evenly over the period; kinds by position: 40 % count, 25 % sum, 10 % max, 25 % unique_count.
		await client.query(
			`INSERT INTO usage.usage_events (tenant_id, transaction_id, metric, value, occurred_at, properties)
			 SELECT $1::uuid, 'agg-' || g,
			   CASE WHEN g % 20 < 8 THEN 'bench_calls' WHEN g % 20 < 13 THEN 'bench_bytes' WHEN g % 20 < 15 THEN 'bench_seats' ELSE 'bench_users' END,
			   g % 5000, $2::timestamptz + (g * ($3::bigint / 1000000.0)) * interval '1 millisecond', jsonb_build_object('region', 'eu', 'user', 'u' || (g % 50000))
			 FROM generate_series(0, 999999) g`,
			[mixed, periodStart.toISOString(), periodMs],
		);
		await client.query(
			`INSERT INTO usage.usage_events (tenant_id, transaction_id, metric, value, occurred_at, properties)
			 SELECT $1::uuid, 'prev-' || g, 'bench_calls', 1, $2::timestamptz - (1 + g) * interval '10 seconds', '{}'
			 FROM generate_series(0, 199999) g`,
			[mixed, periodStart.toISOString()],
		);
		const cold = await time(mixed);
		await client.query("VACUUM ANALYZE usage.usage_events");
		const warm = await median(mixed);
		console.log(`1,000,000 events, 4 kinds, just inserted (no vacuum yet)   ${verdict(cold.ms)}`);
		console.log(`1,000,000 events, 4 kinds, after VACUUM ANALYZE (median)   ${verdict(warm.ms)}   ${JSON.stringify(warm.quantities)}`);

		const unique = randomUUID();
		console.log("aggregation: generating 1,000,000 events of one unique_count metric (200,000 distinct values) …");
		await client.query(
			`INSERT INTO usage.usage_events (tenant_id, transaction_id, metric, value, occurred_at, properties)
			 SELECT $1::uuid, 'uniq-' || g, 'bench_users', 1, $2::timestamptz + (g * ($3::bigint / 1000000.0)) * interval '1 millisecond', jsonb_build_object('user', 'u' || (g % 200000))
			 FROM generate_series(0, 999999) g`,
			[unique, periodStart.toISOString(), periodMs],
		);
		const users = BENCH_METRICS.filter((metric) => metric.code === "bench_users");
		const uniqueCold = await time(unique, users);
		await client.query("VACUUM ANALYZE usage.usage_events");
		const uniqueWarm = await median(unique, users);
		console.log(`1,000,000 unique_count events, just inserted               ${verdict(uniqueCold.ms)}`);
		console.log(`1,000,000 unique_count events, after VACUUM ANALYZE        ${verdict(uniqueWarm.ms)}   ${JSON.stringify(uniqueWarm.quantities)}`);
	} finally {
		await client.end();
		await releaseSequelize(url);
	}
}

async function main(): Promise<void> {
	const id = `${Date.now().toString(36)}${process.pid.toString(36)}`;
	const database = `lattice_bench_usage_${id}`;
	const namespace = `bench-usage-${id}`;
	const url = databaseUrl(database);
	const children: ChildProcess[] = [];
	let createdDatabase = false;
	const scriptPath = path.join(os.tmpdir(), `lattice-usage-bench-${id}.lua`);
	try {
		await withAdminClient((pg) => pg.query(`CREATE DATABASE ${database}`));
		createdDatabase = true;
		const [port, ...opsPorts] = await Promise.all([freePort(), freePort(), freePort()]);
		const common = { DATABASE_URL: url, NAMESPACE: namespace, TRUST_PROXY: "true" };
		children.push(startNode("gateway", { ...common, SERVICES: "gateway", NODE_ID: `gw-${id}`, PORT: String(port), OPS_PORT: "0", RATE_LIMIT_MAX: "1000000", RATE_LIMIT_WINDOW_MS: "1000" }));
		children.push(startNode("identity", { ...common, SERVICES: "identity,platform", NODE_ID: `id-${id}`, OPS_PORT: String(opsPorts[0]) }));
		children.push(startNode("billing", { ...common, SERVICES: "billing", NODE_ID: `bill-${id}`, OPS_PORT: String(opsPorts[1]) }));
		const base = `http://127.0.0.1:${port}`;
		await Promise.all(opsPorts.slice(0, 2).map((ops) => waitForOk(`http://127.0.0.1:${ops}/readyz`, 90_000)));
		await waitForOk(`${base}/readyz`, 90_000);
		// The gateway learns the identity domain's routes once it has discovered its node.
		await waitForOk(`${base}/api/v1/auth/jwks`, 90_000);
		// The bench's metrics, as a super admin would create them (nothing has read the registry yet).
		await withDatabase(url, async (client) => {
			for (const metric of BENCH_METRICS) {
				await client.query(
					`INSERT INTO plans.metrics (id, code, name, description, aggregation, field, created_at, updated_at) VALUES ($1, $2, $2, '', $3, $4, now(), now()) ON CONFLICT (code) DO NOTHING`,
					[randomUUID(), metric.code, metric.aggregation, metric.field],
				);
			}
		});

		const registered = await call<{ accessToken: string; tenant: { id: string } }>(base, "POST", "/auth/register", { email: `bench.usage.${id}@example.com`, password: "bench usage password", fullName: "Bench Meter", organization: "Bench Meter" });
		if (registered.status !== 201) throw new Error(`POST /auth/register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
		const tenantId = registered.body.tenant.id;
		const key = await call<{ key: string }>(base, "POST", "/api-keys", { name: "bench", scopes: ["usage:write"] }, { Authorization: `Bearer ${registered.body.accessToken}` });
		if (key.status !== 201) throw new Error(`POST /api-keys answered ${key.status}: ${JSON.stringify(key.body)}`);
		// The route appears once the gateway has learnt of the usage service.
		for (let attempt = 0; ; attempt += 1) {
			const smoke = await call(base, "POST", "/usage-events", { transactionId: `smoke-${id}`, metric: METRIC }, { "X-API-Key": key.body.key });
			if (smoke.status === 202) break;
			if (attempt > 150) throw new Error(`POST /usage-events answered ${smoke.status}: ${JSON.stringify(smoke.body)}`);
			await sleep(200);
		}
		const baselineTenant = randomUUID();
		await withDatabase(url, (client) => client.query("CREATE SCHEMA bench_baseline; CREATE TABLE bench_baseline.usage_events (LIKE usage.usage_events INCLUDING ALL)"));

		fs.writeFileSync(scriptPath, wrkScript(key.body.key, `w${id}`));
		if (WARMUP > 0) await runWrk(base, scriptPath, WARMUP);

		// Rounds alternate the two, so a neighbour's burst on a shared machine hits both alike; medians are reported.
		const baselines: number[] = [];
		const gateways: Array<{ perSecond: number; stored: number; wrk: WrkResult }> = [];
		for (let round = 1; round <= ROUNDS; round += 1) {
			console.log(`round ${round}/${ROUNDS}: plain multi-row INSERTs of ${BATCH} rows, ${PG_CONNECTIONS} connections, ${DURATION} s …`);
			baselines.push(await baselineEventsPerSecond(url, baselineTenant, `b${round}${id}`));
			console.log(`round ${round}/${ROUNDS}: POST /usage-events, batches of ${BATCH}, wrk ${WRK_THREADS} threads × ${WRK_CONNECTIONS} connections, ${DURATION} s …`);
			fs.writeFileSync(scriptPath, wrkScript(key.body.key, `r${round}${id}`));
			const before = await countRows(url, "usage.usage_events", tenantId);
			const cpuBefore = children.map((child) => cpuSeconds(child.pid));
			const wrk = await runWrk(base, scriptPath, DURATION);
			const cpu = children.map((child, index) => `${roles.get(child)} ${((cpuSeconds(child.pid) - cpuBefore[index]) / wrk.seconds).toFixed(2)}`).join(", ");
			// Requests wrk had in flight when it stopped may still be storing.
			await sleep(500);
			const stored = (await countRows(url, "usage.usage_events", tenantId)) - before;
			gateways.push({ perSecond: stored / wrk.seconds, stored, wrk });
			console.log(`  plain INSERT ${baselines.at(-1)!.toFixed(0)} events/s, gateway ${gateways.at(-1)!.perSecond.toFixed(0)} events/s (cores used: ${cpu})`);
		}
		const baseline = median(baselines);
		const typical = [...gateways].sort((a, b) => a.perSecond - b.perSecond)[Math.floor((gateways.length - 1) / 2)];
		const perSecond = median(gateways.map((item) => item.perSecond));
		const ratio = perSecond / baseline;
		const { wrk, stored } = typical;

		console.log(`plain multi-row INSERT (same rows, same PostgreSQL)   ${baseline.toFixed(0).padStart(8)} events/s   (median of ${ROUNDS})`);
		console.log(
			`POST /usage-events through the gateway               ${perSecond.toFixed(0).padStart(8)} events/s   (median of ${ROUNDS}; its round: ${stored} stored from ${wrk.requests} requests in ${wrk.seconds.toFixed(1)} s, ` +
				`batch p50 ${wrk.p50}, p99 ${wrk.p99}, non-2xx ${wrk.non2xx}, socket errors ${wrk.socketErrors})`,
		);
		console.log(`gateway ÷ plain INSERT = ${ratio.toFixed(3)}  (goal ≥ ${GOAL_RATIO}: ${ratio >= GOAL_RATIO ? "met" : "missed"}); ≥ ${GOAL_EVENTS_PER_SECOND} events/s: ${perSecond >= GOAL_EVENTS_PER_SECOND ? "met" : "missed"}`);
		if (gateways.some((item) => item.wrk.non2xx > 0)) console.log(`note: ${gateways.reduce((sum, item) => sum + item.wrk.non2xx, 0)} requests were refused: their events are not counted`);

		if (AGGREGATE) await aggregationTimings(url);
	} finally {
		fs.rmSync(scriptPath, { force: true });
		await Promise.all(children.map((child) => stopNode(child)));
		if (createdDatabase) await withAdminClient((pg) => pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch((err) => console.error(err));
		await dropStreams(namespace).catch((err) => console.error(`could not drop JetStream streams: ${(err as Error).message}`));
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
