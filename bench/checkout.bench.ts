/**
 * Completed checkouts per second across nodes, next to what the same PostgreSQL does on its own.
 *
 * (a) Baseline: pgbench's default TPC-B-like script (`pgbench -i -s 1`, then `-c 8 -j 2 -T <duration> -n`)
 *     on a database of its own.
 * (b) A five-process cluster on NATS (gateway; identity + platform; commerce/catalog; commerce/orders;
 *     commerce/payments) on a fresh database and a unique namespace. C workers, each a registered user,
 *     loop for the duration: POST /orders → POST /payments (bank_transfer) → POST /payments/:id/verify (super
 *     admin) → poll GET /orders/:id every 20 ms until the payment saga (outbox → JetStream → orders) has
 *     marked it paid. A checkout counts when the order is seen paid.
 * Prints checkouts/s, p50/p99 checkout latency, pgbench TPS and their ratio. Processes and databases are
 * cleaned up whatever happens.
 *
 * Settings (environment): BENCH_DURATION (s, 10), BENCH_CONCURRENCY (workers, 8), BENCH_POSTGRES_ADMIN_URL
 * (postgres://postgres@127.0.0.1:5432/postgres), TRANSPORTER (nats://127.0.0.1:4222), CACHER
 * (redis://127.0.0.1:6379), PGBENCH (pgbench).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { freePort } from "../test/helpers/net";
import { BENCH_POSTGRES_ADMIN_URL, BENCH_SECRETS_KEY, databaseUrl, waitForOk, withAdminClient } from "./support";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "..");
const ADMIN_URL = BENCH_POSTGRES_ADMIN_URL;
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const TRANSPORTER = process.env.TRANSPORTER ?? "nats://127.0.0.1:4222";
const CACHER = process.env.CACHER ?? "redis://127.0.0.1:6379";
const PGBENCH = process.env.PGBENCH ?? "pgbench";
const ADMIN = { email: "bench.root@lattice.test", password: "bench bootstrap secret 1" };
const POLL_MS = 20;
const PAID_TIMEOUT_MS = 30_000;

/** pgbench connection flags from the admin URL. */
function pgbenchArgs(database: string): string[] {
	const url = new URL(ADMIN_URL);
	const args = ["-h", url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username || "postgres")];
	return [...args, database];
}

async function pgbenchTps(database: string): Promise<number> {
	const env = { ...process.env, PGPASSWORD: decodeURIComponent(new URL(ADMIN_URL).password) || undefined };
	await run(PGBENCH, ["-i", "-s", "1", "-q", ...pgbenchArgs(database)], { env });
	const { stdout } = await run(PGBENCH, ["-c", "8", "-j", "2", "-T", String(DURATION), "-n", ...pgbenchArgs(database)], { env, maxBuffer: 16 * 1024 * 1024 });
	const match = /tps = ([\d.]+)/.exec(stdout);
	if (!match) throw new Error(`pgbench printed no tps:\n${stdout}`);
	return Number(match[1]);
}

function startNode(env: Record<string, string>): ChildProcess {
	return spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "server.ts")], {
		cwd: ROOT,
		stdio: ["ignore", "ignore", "inherit"],
		env: { ...process.env, NODE_ENV: "production", SECRETS_KEY: BENCH_SECRETS_KEY, HOST: "127.0.0.1", LOG_LEVEL: "warn", TRACING_EXPORTER: "none", TRANSPORTER, CACHER, ...env },
	});
}

async function stopNode(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise((resolve) => child.once("exit", resolve));
	child.kill("SIGTERM");
	const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
	await exited;
	clearTimeout(timer);
}

/** JetStream streams of the bench's namespace would otherwise outlive it (max_age is 7 days). */
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

interface Reply<T> {
	status: number;
	body: T;
}

function client(base: string) {
	return async function call<T = Record<string, unknown>>(method: string, route: string, body?: unknown, token?: string, ip?: string): Promise<Reply<T>> {
		const headers: Record<string, string> = {};
		if (body !== undefined) headers["Content-Type"] = "application/json";
		if (token) headers.Authorization = `Bearer ${token}`;
		if (ip) headers["X-Forwarded-For"] = ip;
		const response = await fetch(`${base}/api/v1${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
		const text = await response.text();
		return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
	};
}

function expectStatus(reply: Reply<unknown>, status: number, what: string): void {
	if (reply.status !== status) throw new Error(`${what} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
}

function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
	const id = `${Date.now().toString(36)}${process.pid.toString(36)}`;
	const pgbenchDb = `lattice_bench_pgb_${id}`;
	const latticeDb = `lattice_bench_co_${id}`;
	const namespace = `bench-co-${id}`;
	const children: ChildProcess[] = [];
	const created: string[] = [];
	try {
		// (a) the database on its own
		await withAdminClient((pg) => pg.query(`CREATE DATABASE ${pgbenchDb}`));
		created.push(pgbenchDb);
		console.log(`pgbench: -s 1, 8 clients, 2 threads, ${DURATION} s …`);
		const tps = await pgbenchTps(pgbenchDb);
		await withAdminClient((pg) => pg.query(`DROP DATABASE IF EXISTS ${pgbenchDb} WITH (FORCE)`));
		created.splice(created.indexOf(pgbenchDb), 1);

		// (b) the cluster
		await withAdminClient((pg) => pg.query(`CREATE DATABASE ${latticeDb}`));
		created.push(latticeDb);
		const [port, ...opsPorts] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
		const common = { DATABASE_URL: databaseUrl(latticeDb), NAMESPACE: namespace, TRUST_PROXY: "true" };
		children.push(startNode({ ...common, SERVICES: "gateway", NODE_ID: `gw-${id}`, PORT: String(port), OPS_PORT: "0", RATE_LIMIT_MAX: "1000000", RATE_LIMIT_WINDOW_MS: "1000" }));
		children.push(startNode({ ...common, SERVICES: "identity,platform", NODE_ID: `id-${id}`, OPS_PORT: String(opsPorts[0]), BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password }));
		children.push(startNode({ ...common, SERVICES: "commerce/catalog", NODE_ID: `cat-${id}`, OPS_PORT: String(opsPorts[1]) }));
		children.push(startNode({ ...common, SERVICES: "commerce/orders", NODE_ID: `ord-${id}`, OPS_PORT: String(opsPorts[2]) }));
		children.push(startNode({ ...common, SERVICES: "commerce/payments", NODE_ID: `pay-${id}`, OPS_PORT: String(opsPorts[3]) }));
		const base = `http://127.0.0.1:${port}`;
		await Promise.all(opsPorts.map((ops) => waitForOk(`http://127.0.0.1:${ops}/readyz`, 90_000)));
		await waitForOk(`${base}/api/v1/products`, 90_000);
		await waitForOk(`${base}/api/v1/auth/jwks`, 90_000);
		const call = client(base);

		let adminToken = "";
		for (let attempt = 0; attempt < 50 && !adminToken; attempt += 1) {
			const login = await call<{ accessToken: string }>("POST", "/auth/login", ADMIN, undefined, "203.0.113.250");
			if (login.status === 200) adminToken = login.body.accessToken;
			else await sleep(200);
		}
		if (!adminToken) throw new Error("the bootstrap super admin could not log in");

		const products: string[] = [];
		for (const [name, price] of [["Bench Invoicer", 1900], ["Bench Timetracker", 4900]] as const) {
			const product = await call<{ id: string }>("POST", "/products", { name, category: "bench-apps", currency: "USD", status: "active", priceAmount: price }, adminToken);
			expectStatus(product, 201, "POST /products");
			products.push(product.body.id);
		}
		const tokens: string[] = [];
		for (let index = 0; index < CONCURRENCY; index += 1) {
			const registered = await call<{ accessToken: string }>(
				"POST",
				"/auth/register",
				{ email: `bench.buyer.${id}.${index}@example.com`, password: "bench buyer password", fullName: `Bench Buyer ${index}` },
				undefined,
				`203.0.113.${index % 250}`,
			);
			expectStatus(registered, 201, "POST /auth/register");
			tokens.push(registered.body.accessToken);
		}

		const checkout = async (token: string, worker: number, round: number): Promise<void> => {
			const productId = products[(worker + round) % products.length];
			const order = await call<{ id: string }>("POST", "/orders", { items: [{ productId, quantity: 1 }] }, token);
			expectStatus(order, 201, "POST /orders");
			const payment = await call<{ id: string }>("POST", "/payments", { orderId: order.body.id, method: "bank_transfer" }, token);
			expectStatus(payment, 201, "POST /payments");
			const verified = await call("POST", `/payments/${payment.body.id}/verify`, {}, adminToken);
			expectStatus(verified, 200, "POST /payments/:id/verify");
			const started = Date.now();
			for (;;) {
				const seen = await call<{ status: string }>("GET", `/orders/${order.body.id}`, undefined, token);
				expectStatus(seen, 200, "GET /orders/:id");
				if (seen.body.status === "paid") return;
				if (Date.now() - started > PAID_TIMEOUT_MS) throw new Error(`order ${order.body.id} not paid after ${PAID_TIMEOUT_MS} ms`);
				await sleep(POLL_MS);
			}
		};

		// Warm-up: one checkout per worker (JIT, connection pools, JetStream consumers).
		await Promise.all(tokens.map((token, worker) => checkout(token, worker, 0)));

		console.log(`checkouts: 5 processes, ${CONCURRENCY} workers, ${DURATION} s …`);
		const latencies: number[] = [];
		let errors = 0;
		let firstError = "";
		const deadline = Date.now() + DURATION * 1000;
		const began = Date.now();
		await Promise.all(
			tokens.map(async (token, worker) => {
				for (let round = 1; Date.now() < deadline; round += 1) {
					const started = performance.now();
					try {
						await checkout(token, worker, round);
						latencies.push(performance.now() - started);
					} catch (err) {
						errors += 1;
						firstError ||= (err as Error).message;
					}
				}
			}),
		);
		const elapsed = (Date.now() - began) / 1000;
		latencies.sort((a, b) => a - b);
		const perSecond = latencies.length / elapsed;
		console.log(`pgbench TPC-B-like (-c 8 -j 2 -T ${DURATION})   ${tps.toFixed(0).padStart(7)} tps`);
		console.log(
			`completed checkouts across 5 nodes          ${perSecond.toFixed(1).padStart(7)} /s   (${latencies.length} in ${elapsed.toFixed(1)} s, ` +
				`p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, errors ${errors})`,
		);
		console.log(`checkouts/s ÷ pgbench TPS = ${(perSecond / tps).toFixed(3)}`);
		if (firstError) console.log(`first error: ${firstError}`);
	} finally {
		await Promise.all(children.map((child) => stopNode(child)));
		for (const database of created) await withAdminClient((pg) => pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch((err) => console.error(err));
		await dropStreams(namespace).catch((err) => console.error(`could not drop JetStream streams: ${(err as Error).message}`));
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
