/**
 * What the gateway costs: one load generator, one set of settings, three targets in one run.
 *
 * - raw:    bench/raw-server.ts, a bare node:http server answering {"hello":"world"} (the baseline)
 * - floor:  bench/floor-server.ts, a bare node:http server answering with the gateway's response contract
 *           (its security, rate-limit and request-id headers, a status.ping-shaped body) and nothing else:
 *           a diagnostic that separates what the contract costs from what the platform adds
 * - local:  one platform node (SERVICES=gateway,platform, no transporter) → GET /api/v1/status/ping
 * - remote: a gateway node and a service node on NATS → the same URL, every request crossing NATS
 * - products: one platform node (gateway, platform, identity, commerce; a database of its own) → GET
 *           /api/v1/products (a cached list) with a bearer token, so each request authenticates
 * - me:     the same node → GET /api/v1/auth/me with that token (the caller, their profile and memberships)
 *
 * Every server is a child process; the bench process only generates load (autocannon, one thread) and
 * measures. It reports req/s, p50 and p99 and their ratios to the baseline, and whether the throughput
 * targets hold. It always exits 0 once it has measured: it is a benchmark, not a test.
 *
 * On a small machine the load generator competes with the servers for cores, which caps raw most of all.
 * The table therefore also shows each process's CPU share and the servers' CPU time per request, a
 * figure that does not depend on who else was running.
 *
 * Settings (environment): BENCH_DURATION (s, 10), BENCH_WARMUP (s, 3), BENCH_CONNECTIONS (50),
 * BENCH_ROUNDS (1; more rounds rotate the order and report medians), BENCH_PAUSE_MS (2000),
 * BENCH_QUIET_WAIT_S (60: how long to wait for other work on the machine to stop before each run),
 * BENCH_TARGETS (raw,floor,local,remote), BENCH_NODE_ARGS (extra node flags for every server, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"). Platform variables (LOG_LEVEL, TRACING_EXPORTER, CACHER,
 * RATE_LIMIT_*, NODE_ENV, DATABASE_URL, …) set in the environment pass through to the servers, so a
 * setting can be toggled without editing code. `--json` prints the results as JSON on stdout (the table
 * then goes to stderr).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { freePort } from "../test/helpers/net";
import { BENCH_SECRETS_KEY, databaseUrl, withAdminClient } from "./support";

const ROOT = path.resolve(__dirname, "..");
const PING_PATH = "/api/v1/status/ping";
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;
/** Idle servers and this process stay under this (percent of one core); more means someone else is busy. */
const QUIET_BUSY_PERCENT = 25;

type TargetName = "raw" | "floor" | "local" | "remote" | "products" | "me";
type GatewayTarget = Exclude<TargetName, "raw" | "floor">;
const ALL_TARGETS: readonly TargetName[] = ["raw", "floor", "local", "remote", "products", "me"];
/** Minimum throughput of each gateway target relative to raw (products and me: issue 12's targets for authenticated requests). */
const THRESHOLDS: Record<GatewayTarget, number> = { local: 0.75, remote: 0.3, products: 0.4, me: 0.25 };
const AUTH_ADMIN = { email: "bench-admin@lattice.bench", password: "bench admin password 1" };

interface BenchOptions {
	durationSeconds: number;
	warmupSeconds: number;
	connections: number;
	rounds: number;
	pauseMs: number;
	quietWaitMs: number;
	targets: TargetName[];
	nodeArgs: string[];
	json: boolean;
}

function envInteger(name: string, fallback: number, min: number, max: number): number {
	const value = process.env[name]?.trim();
	if (!value) return fallback;
	const parsed = Number(value);
	if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
		throw new Error(`${name} must be a whole number between ${min} and ${max} (got "${value}")`);
	}
	return parsed;
}

function readOptions(): BenchOptions {
	const requested = (process.env.BENCH_TARGETS ?? ALL_TARGETS.join(","))
		.split(",")
		.map((item) => item.trim())
		.filter(Boolean);
	const unknown = requested.filter((item) => !(ALL_TARGETS as readonly string[]).includes(item));
	if (unknown.length > 0 || requested.length === 0) {
		throw new Error(`BENCH_TARGETS must list some of ${ALL_TARGETS.join(", ")} (got "${process.env.BENCH_TARGETS}")`);
	}
	return {
		durationSeconds: envInteger("BENCH_DURATION", 10, 1, 3_600),
		warmupSeconds: envInteger("BENCH_WARMUP", 3, 0, 600),
		connections: envInteger("BENCH_CONNECTIONS", 50, 1, 10_000),
		rounds: envInteger("BENCH_ROUNDS", 1, 1, 20),
		pauseMs: envInteger("BENCH_PAUSE_MS", 2_000, 0, 60_000),
		quietWaitMs: envInteger("BENCH_QUIET_WAIT_S", 60, 0, 3_600) * 1000,
		// Measured in the canonical order whatever order they were listed in, so rounds rotate predictably.
		targets: ALL_TARGETS.filter((name) => requested.includes(name)),
		nodeArgs: (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean),
		json: process.argv.slice(2).includes("--json"),
	};
}

// ---------------------------------------------------------------------------------------------------
// Child processes

interface Child {
	role: string;
	process: ChildProcess;
	/** The last lines it wrote, shown when it fails: LOG_LEVEL=warn keeps them few. */
	output: string[];
	exitCode: number | null | undefined;
	exited: Promise<void>;
}

const children: Child[] = [];

function startChild(role: string, script: string, env: NodeJS.ProcessEnv, nodeArgs: string[]): Child {
	const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script], {
		cwd: ROOT,
		env,
		stdio: ["ignore", "pipe", "pipe"],
	});
	const entry: Child = {
		role,
		process: child,
		output: [],
		exitCode: undefined,
		exited: new Promise((resolve) => child.once("exit", () => resolve())),
	};
	child.once("exit", (code, signal) => {
		entry.exitCode = code ?? (signal ? -1 : null);
	});
	const keep = (chunk: Buffer) => {
		for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) entry.output.push(line);
		if (entry.output.length > 60) entry.output.splice(0, entry.output.length - 60);
	};
	child.stdout?.on("data", keep);
	child.stderr?.on("data", keep);
	children.push(entry);
	return entry;
}

function describeFailure(child: Child, what: string): Error {
	const tail = child.output.slice(-25).map((line) => `    ${line}`).join("\n");
	return new Error(`${child.role} (pid ${child.process.pid}) ${what}${tail ? `; its last output:\n${tail}` : ""}`);
}

async function stopChild(child: Child): Promise<void> {
	if (child.exitCode !== undefined) return;
	child.process.kill("SIGTERM");
	const stopped = await Promise.race([child.exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
	if (!stopped) {
		child.process.kill("SIGKILL");
		await child.exited;
	}
}

// The last resort when the bench dies on a path that skipped shutdown(): no server may outlive it.
process.on("exit", () => {
	for (const child of children) if (child.exitCode === undefined) child.process.kill("SIGKILL");
});

/** Polls `url` until `accept` says yes; fails early when one of the processes behind it has exited. */
async function waitFor(url: string, accept: (status: number, body: string) => boolean, processes: Child[], what: string): Promise<void> {
	const deadline = Date.now() + READY_TIMEOUT_MS;
	let last = "no answer yet";
	while (Date.now() < deadline) {
		for (const child of processes) {
			if (child.exitCode !== undefined) throw describeFailure(child, `exited with code ${child.exitCode} before ${what}`);
		}
		try {
			const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
			const body = await response.text();
			if (accept(response.status, body)) return;
			last = `HTTP ${response.status}: ${body.slice(0, 200)}`;
		} catch (err) {
			last = (err as Error).message;
		}
		await sleep(250);
	}
	throw describeFailure(processes[0], `was not ${what} within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`);
}

function answeredBy(nodeID: string): (status: number, body: string) => boolean {
	return (status, body) => {
		if (status !== 200) return false;
		try {
			return (JSON.parse(body) as { nodeID?: string }).nodeID === nodeID;
		} catch {
			return false;
		}
	};
}

// ---------------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc; absent elsewhere, and the columns then say so)

const CLOCK_TICKS = (() => {
	try {
		return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
	} catch {
		return 100;
	}
})();

function processCpuSeconds(pid: number | undefined): number | undefined {
	if (pid === undefined) return undefined;
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
		// Fields after the parenthesised command name start at field 3 (state); utime and stime are 14 and 15.
		const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
		return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
	} catch {
		return undefined;
	}
}

interface MachineCpu {
	busy: number;
	/** Interrupt time: on loopback most of the TCP work is done here, charged to no process. */
	irq: number;
	total: number;
}

/** CPU seconds of the whole machine, all cores summed. */
function machineCpuSeconds(): MachineCpu | undefined {
	try {
		const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0];
		// user nice system idle iowait irq softirq steal
		const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
		const total = ticks.reduce((sum, value) => sum + value, 0);
		const idle = ticks[3] + ticks[4];
		return { busy: (total - idle) / CLOCK_TICKS, irq: (ticks[5] + ticks[6]) / CLOCK_TICKS, total: total / CLOCK_TICKS };
	} catch {
		return undefined;
	}
}

/** The NATS server is not ours, but its CPU is part of what a remote call costs on this machine. */
function findNatsServerPid(): number | undefined {
	try {
		for (const entry of fs.readdirSync("/proc")) {
			if (!/^\d+$/.test(entry)) continue;
			try {
				if (fs.readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "nats-server") return Number(entry);
			} catch {
				// The process ended while we looked.
			}
		}
	} catch {
		// No /proc.
	}
	return undefined;
}

interface CpuSample {
	wall: number;
	loadgen: NodeJS.CpuUsage;
	processes: Record<string, number | undefined>;
	machine?: MachineCpu;
}

function sampleCpu(processes: Record<string, number | undefined>): CpuSample {
	const sample: Record<string, number | undefined> = {};
	for (const [role, pid] of Object.entries(processes)) sample[role] = processCpuSeconds(pid);
	return { wall: performance.now(), loadgen: process.cpuUsage(), processes: sample, machine: machineCpuSeconds() };
}

/**
 * Percent of one core each process used between two samples. "machine" is everything (out of cores × 100),
 * "irq" the kernel's interrupt work and "other" what neither our processes nor interrupts explain.
 */
function cpuPercent(before: CpuSample, after: CpuSample): Record<string, number> {
	const seconds = (after.wall - before.wall) / 1000;
	const result: Record<string, number> = {};
	for (const role of Object.keys(before.processes)) {
		const start = before.processes[role];
		const end = after.processes[role];
		if (start !== undefined && end !== undefined) result[role] = ((end - start) / seconds) * 100;
	}
	const loadgen = process.cpuUsage(before.loadgen);
	result.loadgen = ((loadgen.user + loadgen.system) / 1e6 / seconds) * 100;
	if (before.machine && after.machine) {
		const total = after.machine.total - before.machine.total;
		if (total > 0) {
			const scale = (os.cpus().length * 100) / total;
			const ours = Object.values(result).reduce((sum, value) => sum + value, 0);
			result.machine = (after.machine.busy - before.machine.busy) * scale;
			result.irq = (after.machine.irq - before.machine.irq) * scale;
			// Whatever else ran meanwhile (tests, builds) took cores from the servers: the figures then lie.
			// Process system time already holds part of the interrupt work, so small negatives are clipped.
			result.other = Math.max(0, result.machine - ours - result.irq);
		}
	}
	return result;
}

/** CPU busy on the whole machine over `ms`, in percent of one core. */
async function machineBusyPercent(ms: number): Promise<number | undefined> {
	const before = machineCpuSeconds();
	await sleep(ms);
	const after = machineCpuSeconds();
	if (!before || !after || after.total <= before.total) return undefined;
	return ((after.busy - before.busy) / (after.total - before.total)) * os.cpus().length * 100;
}

/**
 * Two cores leave no room for anything else: a test suite running meanwhile would halve a target's
 * figures. Waits (bounded) until the machine is nearly idle before a measured run.
 */
async function waitForQuietMachine(maxWaitMs: number, say: (text: string) => void): Promise<void> {
	const deadline = Date.now() + maxWaitMs;
	let warned = false;
	for (;;) {
		const busy = await machineBusyPercent(1_000);
		if (busy === undefined || busy <= QUIET_BUSY_PERCENT) return;
		if (Date.now() >= deadline) {
			say(`  machine still ${Math.round(busy)}% busy after ${maxWaitMs / 1000} s: measuring anyway (see "other" CPU)`);
			return;
		}
		if (!warned) say(`  machine ${Math.round(busy)}% busy with other work: waiting up to ${maxWaitMs / 1000} s for it to settle`);
		warned = true;
	}
}

// ---------------------------------------------------------------------------------------------------
// Load

let currentLoad: autocannon.Instance | undefined;
let interrupted = false;

interface LoadRun {
	result: autocannon.Result;
	/** Microseconds. autocannon's own latency histogram keeps whole milliseconds, too coarse here. */
	latency: RecordableHistogram;
}

function fire(url: string, seconds: number, connections: number, headers?: Record<string, string>): Promise<LoadRun> {
	return new Promise((resolve, reject) => {
		if (interrupted) return reject(new Error("interrupted"));
		const latency = createHistogram();
		const instance = autocannon({ url, connections, pipelining: 1, duration: seconds, timeout: 10, headers }, (err: unknown, result) => {
			currentLoad = undefined;
			if (err) reject(err instanceof Error ? err : new Error(String(err)));
			else if (interrupted) reject(new Error("interrupted"));
			else resolve({ result, latency });
		});
		// Only 2xx answers count, as in autocannon's own figures: a fast 429 or 503 is not a served request.
		instance.on("response", (_client, statusCode, _bytes, responseTime) => {
			if (statusCode >= 200 && statusCode < 300) latency.record(Math.max(1, Math.round(responseTime * 1000)));
		});
		currentLoad = instance;
	});
}

interface Measurement {
	requestsPerSecond: number;
	p50Ms: number;
	p99Ms: number;
	meanMs: number;
	maxMs: number;
	requests2xx: number;
	non2xx: number;
	errors: number;
	timeouts: number;
	statusCodes: Record<string, number>;
	seconds: number;
	/** Percent of one core per process during the run; "machine" is out of (cores × 100). */
	cpu: Record<string, number>;
	/**
	 * CPU time our server processes spent per answered request (NATS excluded). Unlike req/s it hardly
	 * depends on how the cores are shared with the load generator.
	 */
	serverCpuMicrosPerRequest: number;
}

function toMeasurement(run: LoadRun, cpu: Record<string, number>): Measurement {
	const { result, latency } = run;
	const statusCodes: Record<string, number> = {};
	for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0;
	const empty = latency.count === 0;
	return {
		requestsPerSecond: result["2xx"] / result.duration,
		p50Ms: empty ? NaN : latency.percentile(50) / 1000,
		p99Ms: empty ? NaN : latency.percentile(99) / 1000,
		meanMs: empty ? NaN : latency.mean / 1000,
		maxMs: empty ? NaN : latency.max / 1000,
		requests2xx: result["2xx"],
		non2xx: result.non2xx,
		errors: result.errors,
		timeouts: result.timeouts,
		statusCodes,
		seconds: result.duration,
		cpu,
		serverCpuMicrosPerRequest: serverCpuMicros(cpu, result.duration, result["2xx"]),
	};
}

function serverCpuMicros(cpu: Record<string, number>, seconds: number, requests: number): number {
	const percent = Object.entries(cpu)
		.filter(([role]) => !NON_SERVER_CPU.includes(role) && role !== "nats")
		.reduce((sum, [, value]) => sum + value, 0);
	return requests > 0 ? ((percent / 100) * seconds * 1e6) / requests : NaN;
}

function median(values: number[]): number {
	const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
	if (sorted.length === 0) return NaN;
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One figure per target: a single round as measured, several as the median of each figure. */
function combine(rounds: Measurement[]): Measurement {
	if (rounds.length === 1) return rounds[0];
	const pick = (get: (m: Measurement) => number) => median(rounds.map(get));
	const sum = (get: (m: Measurement) => number) => rounds.reduce((total, m) => total + get(m), 0);
	const statusCodes: Record<string, number> = {};
	for (const round of rounds) for (const [code, count] of Object.entries(round.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + count;
	const cpu: Record<string, number> = {};
	for (const role of Object.keys(rounds[0].cpu)) cpu[role] = pick((m) => m.cpu[role] ?? NaN);
	return {
		requestsPerSecond: pick((m) => m.requestsPerSecond),
		p50Ms: pick((m) => m.p50Ms),
		p99Ms: pick((m) => m.p99Ms),
		meanMs: pick((m) => m.meanMs),
		maxMs: Math.max(...rounds.map((m) => m.maxMs)),
		requests2xx: sum((m) => m.requests2xx),
		non2xx: sum((m) => m.non2xx),
		errors: sum((m) => m.errors),
		timeouts: sum((m) => m.timeouts),
		statusCodes,
		seconds: sum((m) => m.seconds),
		cpu,
		serverCpuMicrosPerRequest: pick((m) => m.serverCpuMicrosPerRequest),
	};
}

// ---------------------------------------------------------------------------------------------------
// Targets

interface Target {
	name: TargetName;
	url: string;
	description: string;
	/** Processes whose CPU is charged to this target, by role. */
	pids: Record<string, number | undefined>;
	/** Request headers (a bearer token). */
	headers?: Record<string, string>;
}

/** Databases the bench created, dropped when it ends. */
const createdDatabases: string[] = [];

async function postJson<T>(url: string, body: unknown, token?: string): Promise<T> {
	const response = await fetch(url, {
		method: "POST",
		headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
		body: JSON.stringify(body),
	});
	const text = await response.text();
	if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${text.slice(0, 300)}`);
	return JSON.parse(text) as T;
}

/**
 * The authenticated targets' node: a user signs up (the bench's bearer token), and the bootstrap super admin
 * adds a few active products so the cached list has something in it.
 */
async function prepareAuthenticatedNode(base: string): Promise<string> {
	let admin: string | undefined;
	for (let attempt = 0; attempt < 100 && !admin; attempt += 1) {
		admin = await postJson<{ accessToken: string }>(`${base}/api/v1/auth/login`, AUTH_ADMIN).then(
			(session) => session.accessToken,
			() => sleep(200).then(() => undefined),
		);
	}
	if (!admin) throw new Error("the bench's super admin could not log in");
	for (let index = 1; index <= 5; index += 1) {
		await postJson(`${base}/api/v1/products`, { name: `Bench product ${index}`, category: "bench", priceAmount: 1000 * index, currency: "EUR", status: "active" }, admin);
	}
	const user = await postJson<{ accessToken: string }>(`${base}/api/v1/auth/register`, { email: `bench-${Date.now().toString(36)}@lattice.bench`, password: "bench user password 1", fullName: "Bench User" });
	return user.accessToken;
}

function platformEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {
		...process.env,
		NODE_ENV: process.env.NODE_ENV ?? "production",
		SECRETS_KEY: BENCH_SECRETS_KEY,
		LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
		TRACING_EXPORTER: process.env.TRACING_EXPORTER ?? "none",
		DATABASE_URL: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
		// lib/config.ts caps RATE_LIMIT_MAX at 1,000,000 per window; a one-second window makes that a
		// limit no run here can reach, while the limiter still does all of its per-request work.
		RATE_LIMIT_MAX: process.env.RATE_LIMIT_MAX ?? "1000000",
		RATE_LIMIT_WINDOW_MS: process.env.RATE_LIMIT_WINDOW_MS ?? "1000",
		HOST: "127.0.0.1",
		...overrides,
	};
	// A transporter in the caller's environment would turn the local target into a cluster node.
	if (!overrides.TRANSPORTER) delete env.TRANSPORTER;
	return env;
}

async function startTargets(options: BenchOptions): Promise<Target[]> {
	const tag = `${process.pid}-${Date.now().toString(36)}`;
	const natsUrl = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
	const targets: Target[] = [];
	const waits: Promise<void>[] = [];

	if (options.targets.includes("raw")) {
		const port = await freePort();
		const raw = startChild("raw", "bench/raw-server.ts", { ...process.env, PORT: String(port), HOST: "127.0.0.1" }, options.nodeArgs);
		const url = `http://127.0.0.1:${port}/`;
		targets.push({ name: "raw", url, description: "node:http {\"hello\":\"world\"}", pids: { server: raw.process.pid } });
		waits.push(waitFor(url, (status) => status === 200, [raw], "listening"));
	}

	if (options.targets.includes("floor")) {
		const port = await freePort();
		const floor = startChild("floor", "bench/floor-server.ts", { ...process.env, PORT: String(port), HOST: "127.0.0.1" }, options.nodeArgs);
		const url = `http://127.0.0.1:${port}${PING_PATH}`;
		targets.push({ name: "floor", url, description: "node:http with the gateway's response headers, no gateway", pids: { server: floor.process.pid } });
		waits.push(waitFor(url, (status) => status === 200, [floor], "listening"));
	}

	if (options.targets.includes("local")) {
		const port = await freePort();
		const nodeID = `bench-local-${tag}`;
		const local = startChild("local", "server.ts", platformEnv({ PORT: String(port), NODE_ID: nodeID, NAMESPACE: `bench-local-${tag}`, SERVICES: "gateway,platform", OPS_PORT: "0" }), options.nodeArgs);
		const base = `http://127.0.0.1:${port}`;
		targets.push({ name: "local", url: base + PING_PATH, description: "gateway → local action", pids: { gateway: local.process.pid } });
		waits.push(
			(async () => {
				await waitFor(`${base}/readyz`, (status) => status === 200, [local], "ready");
				await waitFor(base + PING_PATH, answeredBy(nodeID), [local], "answering the ping");
			})(),
		);
	}

	if (options.targets.includes("remote")) {
		const port = await freePort();
		const namespace = `bench-${tag}`;
		const serviceID = `bench-svc-${tag}`;
		const cluster = { TRANSPORTER: natsUrl, NAMESPACE: namespace };
		const service = startChild("remote-service", "server.ts", platformEnv({ ...cluster, NODE_ID: serviceID, SERVICES: "platform", PORT: "0", OPS_PORT: "0" }), options.nodeArgs);
		const gateway = startChild("remote-gateway", "server.ts", platformEnv({ ...cluster, NODE_ID: `bench-gw-${tag}`, SERVICES: "gateway", PORT: String(port), OPS_PORT: "0" }), options.nodeArgs);
		const base = `http://127.0.0.1:${port}`;
		targets.push({
			name: "remote",
			url: base + PING_PATH,
			description: "gateway → NATS → service node",
			pids: { gateway: gateway.process.pid, service: service.process.pid, nats: findNatsServerPid() },
		});
		waits.push(
			(async () => {
				await waitFor(`${base}/readyz`, (status) => status === 200, [gateway, service], "ready");
				// The gateway has no status service of its own: an answer naming the service node crossed NATS.
				await waitFor(base + PING_PATH, answeredBy(serviceID), [gateway, service], "answering the ping through NATS");
			})(),
		);
	}

	if (options.targets.includes("products") || options.targets.includes("me")) {
		const port = await freePort();
		const nodeID = `bench-auth-${tag}`;
		const database = `lattice_bench_auth_${tag.replace(/[^a-z0-9]/gi, "_")}`.toLowerCase();
		await withAdminClient((pg) => pg.query(`CREATE DATABASE ${database}`));
		createdDatabases.push(database);
		const node = startChild(
			"auth",
			"server.ts",
			platformEnv({
				PORT: String(port),
				NODE_ID: nodeID,
				NAMESPACE: `bench-auth-${tag}`,
				SERVICES: "gateway,platform,identity,commerce",
				DATABASE_URL: databaseUrl(database),
				BOOTSTRAP_ADMIN_EMAIL: AUTH_ADMIN.email,
				BOOTSTRAP_ADMIN_PASSWORD: AUTH_ADMIN.password,
			}),
			options.nodeArgs,
		);
		const base = `http://127.0.0.1:${port}`;
		const headers: Record<string, string> = {};
		if (options.targets.includes("products")) {
			targets.push({ name: "products", url: `${base}/api/v1/products`, description: "gateway → cached product list, with a bearer token", pids: { gateway: node.process.pid }, headers });
		}
		if (options.targets.includes("me")) {
			targets.push({ name: "me", url: `${base}/api/v1/auth/me`, description: "gateway → /auth/me, with a bearer token", pids: { gateway: node.process.pid }, headers });
		}
		waits.push(
			(async () => {
				await waitFor(`${base}/readyz`, (status) => status === 200, [node], "ready");
				// Shared by both targets: filled in once the node can answer.
				headers.Authorization = `Bearer ${await prepareAuthenticatedNode(base)}`;
			})(),
		);
	}

	await Promise.all(waits);
	return targets;
}

// ---------------------------------------------------------------------------------------------------
// Report

interface TargetReport {
	target: TargetName;
	url: string;
	description: string;
	measurement: Measurement;
	rounds: Measurement[];
	/** Each figure divided by raw's: above 1 is more throughput, or more latency. */
	ratio?: { requestsPerSecond: number; p50: number; p99: number };
}

interface Verdict {
	name: string;
	ratio: number;
	minimum: number;
	met: boolean;
}

function fixed(value: number, digits: number): string {
	return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

const NON_SERVER_CPU = ["loadgen", "machine", "irq", "other"];

function cpuText(cpu: Record<string, number>): string {
	const roles = Object.keys(cpu).filter((role) => !NON_SERVER_CPU.includes(role));
	const servers = roles.map((role) => `${role} ${Math.round(cpu[role])}%`).join(" + ");
	const parts = [servers || "n/a", `loadgen ${Math.round(cpu.loadgen)}%`];
	if (cpu.irq !== undefined) parts.push(`irq ${Math.round(cpu.irq)}%`);
	if (cpu.other !== undefined) parts.push(`other ${Math.round(cpu.other)}%`);
	if (cpu.machine !== undefined) parts.push(`machine ${Math.round(cpu.machine)}/${os.cpus().length * 100}%`);
	return parts.join(", ");
}

function renderTable(reports: TargetReport[]): string {
	const header = ["target", "req/s", "p50 ms", "p99 ms", "mean ms", "×raw req/s", "×raw p50", "×raw p99", "srv CPU µs/req", "non2xx", "errors", "CPU (% of one core)"];
	const rows = reports.map((report) => {
		const m = report.measurement;
		return [
			report.target,
			Math.round(m.requestsPerSecond).toLocaleString("en-US"),
			fixed(m.p50Ms, 2),
			fixed(m.p99Ms, 2),
			fixed(m.meanMs, 2),
			report.ratio ? fixed(report.ratio.requestsPerSecond, 2) : "n/a",
			report.ratio ? fixed(report.ratio.p50, 2) : "n/a",
			report.ratio ? fixed(report.ratio.p99, 2) : "n/a",
			fixed(m.serverCpuMicrosPerRequest, 0),
			String(m.non2xx),
			String(m.errors),
			cpuText(m.cpu),
		];
	});
	const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
	const line = (cells: string[]) => cells.map((cell, column) => (column === 0 || column === cells.length - 1 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join("  ").trimEnd();
	return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
	const options = readOptions();
	const say = (text: string) => process.stderr.write(`${text}\n`);
	const print = options.json ? say : (text: string) => process.stdout.write(`${text}\n`);

	say(
		`gateway bench: ${options.connections} connections, pipelining 1, warm-up ${options.warmupSeconds} s, ` +
			`${options.rounds} round(s) of ${options.durationSeconds} s per target; ${os.cpus().length} CPU(s), node ${process.version}`,
	);
	say("starting servers…");
	const startedAt = performance.now();
	const targets = await startTargets(options);
	say(
		`servers ready in ${((performance.now() - startedAt) / 1000).toFixed(1)} s: ` +
			children.map((child) => `${child.role} pid ${child.process.pid}`).join(", "),
	);

	for (const target of targets) {
		if (options.warmupSeconds === 0) break;
		say(`warm-up ${target.name} (${options.warmupSeconds} s)`);
		await fire(target.url, options.warmupSeconds, options.connections, target.headers);
		await sleep(options.pauseMs);
	}

	const measured = new Map<TargetName, Measurement[]>(targets.map((target) => [target.name, []]));
	for (let round = 0; round < options.rounds; round++) {
		// Each round starts one target later, so no target always runs first (or right after the heaviest).
		const order = targets.map((_, index) => targets[(index + round) % targets.length]);
		for (const target of order) {
			say(`round ${round + 1}/${options.rounds}: ${target.name} → ${target.url} (${options.durationSeconds} s)`);
			await waitForQuietMachine(options.quietWaitMs, say);
			const before = sampleCpu(target.pids);
			const run = await fire(target.url, options.durationSeconds, options.connections, target.headers);
			const cpu = cpuPercent(before, sampleCpu(target.pids));
			const measurement = toMeasurement(run, cpu);
			measured.get(target.name)?.push(measurement);
			say(`  ${Math.round(measurement.requestsPerSecond)} req/s, p50 ${fixed(measurement.p50Ms, 2)} ms, p99 ${fixed(measurement.p99Ms, 2)} ms; ${cpuText(cpu)}`);
			await sleep(options.pauseMs);
		}
	}

	const reports: TargetReport[] = targets.map((target) => {
		const rounds = measured.get(target.name) ?? [];
		return { target: target.name, url: target.url, description: target.description, measurement: combine(rounds), rounds };
	});
	const raw = reports.find((report) => report.target === "raw")?.measurement;
	if (raw) {
		for (const report of reports) {
			const m = report.measurement;
			report.ratio = { requestsPerSecond: m.requestsPerSecond / raw.requestsPerSecond, p50: m.p50Ms / raw.p50Ms, p99: m.p99Ms / raw.p99Ms };
		}
	}
	const verdicts: Verdict[] = reports
		.filter((report): report is TargetReport & { target: GatewayTarget; ratio: NonNullable<TargetReport["ratio"]> } => report.target in THRESHOLDS && report.ratio !== undefined)
		.map((report) => ({
			name: `${report.target}/raw`,
			ratio: report.ratio.requestsPerSecond,
			minimum: THRESHOLDS[report.target],
			met: report.ratio.requestsPerSecond >= THRESHOLDS[report.target],
		}));

	print("");
	print(renderTable(reports));
	print("");
	for (const report of reports) {
		const m = report.measurement;
		const codes = Object.entries(m.statusCodes).map(([code, count]) => `${code}×${count}`).join(" ");
		print(`${report.target.padEnd(8)} ${report.description}; ${m.requests2xx.toLocaleString("en-US")} × 2xx in ${fixed(m.seconds, 1)} s; status ${codes || "none"}; max ${fixed(m.maxMs, 1)} ms`);
		if (m.non2xx > 0 || m.errors > 0) print(`       WARNING: ${m.non2xx} non-2xx answers and ${m.errors} errors: figures for this target are not comparable`);
		if ((m.cpu.other ?? 0) > QUIET_BUSY_PERCENT) print(`       WARNING: other processes used ${Math.round(m.cpu.other)}% of a core during this run: its figures are understated`);
	}
	print("");
	print("The load generator (autocannon) runs in this process on the same cores as the servers: see loadgen above.");
	const capacity = os.cpus().length * 100;
	if (raw?.cpu.machine !== undefined && raw.cpu.machine >= capacity * 0.9) {
		print(
			`During raw the machine was saturated (${Math.round(raw.cpu.machine)}/${capacity}%, load generator ${Math.round(raw.cpu.loadgen)}%): ` +
				"raw is bounded by the cores it shares with the load generator, so with a separate client it would answer more and every " +
				"ratio would be lower. srv CPU µs/req compares the servers without that bias.",
		);
	}
	for (const verdict of verdicts) {
		print(`${verdict.name.padEnd(10)} = ${verdict.ratio.toFixed(2)} (target >= ${verdict.minimum.toFixed(2)})  ${verdict.met ? "MET" : "MISSED"}`);
	}
	if (verdicts.length > 0) {
		const missed = verdicts.filter((verdict) => !verdict.met);
		print(missed.length === 0 ? "All throughput targets met." : `Targets missed: ${missed.map((verdict) => verdict.name).join(", ")}.`);
	} else {
		print("No ratios: the raw baseline was not measured (BENCH_TARGETS).");
	}

	if (options.json) {
		const document = {
			settings: {
				connections: options.connections,
				pipelining: 1,
				durationSeconds: options.durationSeconds,
				warmupSeconds: options.warmupSeconds,
				rounds: options.rounds,
				loadGenerator: "autocannon, in the bench process (one thread)",
			},
			environment: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}` },
			results: reports,
			targets: verdicts,
		};
		process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
	}
}

let shuttingDown: Promise<void> | undefined;

function shutdown(code: number): Promise<void> {
	shuttingDown ??= (async () => {
		await Promise.all(children.map((child) => stopChild(child).catch(() => undefined)));
		for (const database of createdDatabases) await withAdminClient((pg) => pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch(() => undefined);
		process.exit(code);
	})();
	return shuttingDown;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.on(signal, () => {
		if (interrupted) return;
		interrupted = true;
		process.stderr.write(`\n${signal}: stopping the servers…\n`);
		currentLoad?.stop();
		void shutdown(130);
	});
}

main().then(
	() => shutdown(0),
	(err: unknown) => {
		if (!interrupted) console.error(`gateway bench failed: ${err instanceof Error ? err.message : String(err)}`);
		return shutdown(interrupted ? 130 : 1);
	},
);
