/**
 * Screenshot jobs end to end, next to a plain Playwright loop rendering the same page at the same size and
 * concurrency, in the same run on the same machine.
 *
 * (a) Baseline: Chromium (SCREENSHOT_CHROMIUM_PATH, the pool's switches) driven by Playwright directly: C loops,
 *     each with a context of its own, each render a new page → goto → screenshot (PNG) → close. Renders/s.
 * (b) The platform: one node process (gateway, identity, files, notifications, screenshots) on NATS, so jobs ride
 *     JetStream, with its own database, namespace and S3 server (s3rver), SCREENSHOT_CONCURRENCY = C. Clients
 *     (BENCH_CLIENTS, 2 × C by default, so the workers never wait for the next job) each loop: POST
 *     /screenshot-jobs (the page, one viewport of the same size) → the owner's WebSocket says it succeeded
 *     (claimed, rendered, stored in S3, recorded, finished through the outbox) → GET /screenshot-jobs/:id answers
 *     it with its presigned URL. Jobs/s, and the p50/p99 of a job's latency (POST to the push) under that load.
 * (c) One job at a time (BENCH_SINGLE jobs): the p50/p99 of a job's latency alone.
 * Prints the ratio (b) ÷ (a); the goal is ≥ 0.85. Everything listens on 127.0.0.1, runs for a bounded time and is
 * removed at the end (processes, database, streams, S3 folder).
 *
 * Settings (environment): BENCH_DURATION (s, 15), BENCH_CONCURRENCY (C, 2), BENCH_CLIENTS (2 × C), BENCH_SINGLE
 * (20), BENCH_WIDTH × BENCH_HEIGHT (1280 × 720), SCREENSHOT_CHROMIUM_PATH (/usr/bin/chromium), TRANSPORTER
 * (nats://127.0.0.1:4222), BENCH_POSTGRES_ADMIN_URL.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { spawn, type ChildProcess } from "node:child_process";
import { ServiceBroker, type Logger } from "moleculer";
import { connect } from "nats";
import { chromium } from "playwright";
import { WebSocket } from "ws";
import { CHROMIUM_ARGS } from "../lib/browser-pool";
import { startEmbeddedS3 } from "../lib/storage/embedded-s3";
import { freePort } from "../test/helpers/net";
import { BENCH_SECRETS_KEY, databaseUrl, waitForOk, withAdminClient } from "./support";

const ROOT = path.resolve(__dirname, "..");
const DURATION = Number(process.env.BENCH_DURATION ?? 15);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? CONCURRENCY * 2);
const SINGLE = Number(process.env.BENCH_SINGLE ?? 20);
const WIDTH = Number(process.env.BENCH_WIDTH ?? 1280);
const HEIGHT = Number(process.env.BENCH_HEIGHT ?? 720);
const CHROMIUM = process.env.SCREENSHOT_CHROMIUM_PATH ?? "/usr/bin/chromium";
const TRANSPORTER = process.env.TRANSPORTER ?? "nats://127.0.0.1:4222";
const JOB_TIMEOUT_MS = 60_000;

/** A page with some layout, text and a gradient, so a render has real work: the same for both sides. */
const PAGE = `<!doctype html><html><head><meta name="viewport" content="width=device-width"><title>Bench</title><style>
body { margin: 0; font: 16px/1.5 sans-serif; color: #1d2330 }
header { padding: 24px 32px; background: linear-gradient(90deg, #3b6fd8, #7b4fd6); color: white }
main { display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; padding: 32px }
article { padding: 16px; border-radius: 12px; box-shadow: 0 2px 8px rgba(0,0,0,.15) }
</style></head><body><header><h1>AppScreens bench</h1><p>Store screenshots, rendered on demand.</p></header><main>
${Array.from({ length: 9 }, (_, i) => `<article><h2>Card ${i + 1}</h2><p>${"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(3)}</p></article>`).join("")}
</main></body></html>`;

function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function baseline(url: string): Promise<{ perSecond: number; count: number }> {
	const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
	try {
		const contexts = await Promise.all(Array.from({ length: CONCURRENCY }, () => browser.newContext({ viewport: { width: WIDTH, height: HEIGHT }, deviceScaleFactor: 1 })));
		const render = async (index: number) => {
			const page = await contexts[index].newPage();
			await page.goto(url, { waitUntil: "load" });
			await page.screenshot({ type: "png" });
			await page.close();
		};
		for (let index = 0; index < CONCURRENCY; index += 1) await render(index);
		let count = 0;
		const deadline = Date.now() + DURATION * 1000;
		const began = Date.now();
		await Promise.all(
			contexts.map(async (_, index) => {
				while (Date.now() < deadline) {
					await render(index);
					count += 1;
				}
			}),
		);
		return { perSecond: count / ((Date.now() - began) / 1000), count };
	} finally {
		await browser.close();
	}
}

function startNode(env: Record<string, string>): ChildProcess {
	return spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "server.ts")], {
		cwd: ROOT,
		stdio: ["ignore", "ignore", "inherit"],
		env: { ...process.env, NODE_ENV: "production", SECRETS_KEY: BENCH_SECRETS_KEY, HOST: "127.0.0.1", LOG_LEVEL: "warn", TRACING_EXPORTER: "none", TRANSPORTER, ...env },
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

function client(base: string, token?: string) {
	return async function call<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
		const headers: Record<string, string> = {};
		if (body !== undefined) headers["Content-Type"] = "application/json";
		if (token) headers.Authorization = `Bearer ${token}`;
		const response = await fetch(`${base}/api/v1${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
		const text = await response.text();
		return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
	};
}

async function main(): Promise<void> {
	const id = `${Date.now().toString(36)}${process.pid.toString(36)}`;
	const database = `lattice_bench_shots_${id}`;
	const namespace = `bench-shots-${id}`;
	const s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), "lattice-bench-shots-"));
	const site = http.createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(PAGE));
	await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
	const pageUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
	const quiet = { info: () => undefined, debug: () => undefined, warn: console.warn, error: console.error } as unknown as Logger;
	const s3 = await startEmbeddedS3(s3Dir, 0, quiet);
	let node: ChildProcess | undefined;
	let broker: ServiceBroker | undefined;
	let socket: WebSocket | undefined;
	try {
		console.log(`(a) plain Playwright: ${CONCURRENCY} loops, ${WIDTH} × ${HEIGHT}, ${DURATION} s …`);
		const plain = await baseline(pageUrl);

		await withAdminClient((pg) => pg.query(`CREATE DATABASE ${database}`));
		const [port, ops] = await Promise.all([freePort(), freePort()]);
		node = startNode({
			SERVICES: "gateway,identity,platform,files,notifications,screenshots",
			DATABASE_URL: databaseUrl(database),
			NAMESPACE: namespace,
			NODE_ID: `shots-${id}`,
			PORT: String(port),
			OPS_PORT: String(ops),
			RATE_LIMIT_MAX: "1000000",
			S3_ENDPOINT: s3.connection.endpoint,
			S3_ACCESS_KEY: s3.connection.accessKey,
			S3_SECRET_KEY: s3.connection.secretKey,
			S3_BUCKET: "lattice-bench",
			OUTBOUND_ALLOW_HOSTS: new URL(pageUrl).host,
			SCREENSHOT_CONCURRENCY: String(CONCURRENCY),
			SCREENSHOT_CHROMIUM_PATH: CHROMIUM,
		});
		const base = `http://127.0.0.1:${port}`;
		await waitForOk(`http://127.0.0.1:${ops}/readyz`, 120_000);
		await waitForOk(`${base}/api/v1/auth/jwks`, 60_000);
		const registered = await client(base)<{ accessToken: string; tenant: { id: string } }>("POST", "/auth/register", { email: `bench.shots.${id}@example.com`, password: "bench screenshots password", fullName: "Bench Shots" });
		if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
		// The monthly images of a free plan would end the bench early: an operator node lifts the limit, as billing would.
		broker = new ServiceBroker({ namespace, nodeID: `bench-op-${id}`, transporter: { type: "NATS", options: { url: TRANSPORTER } }, logger: false });
		await broker.start();
		await broker.waitForServices(["tenants"], 30_000);
		await broker.call("tenants.setLimitOverrides", { tenantId: registered.body.tenant.id, limits: { screenshotsPerMonth: -1 } }, { meta: { $system: true } });
		await broker.stop();
		broker = undefined;
		const call = client(base, registered.body.accessToken);

		// A job is done when its owner's socket says so (the push that follows the guarded finish), as a client
		// would learn it; then GET /screenshot-jobs/:id confirms it with its presigned URL.
		socket = new WebSocket(`ws://127.0.0.1:${port}/ws?access_token=${encodeURIComponent(registered.body.accessToken)}`);
		const waiting = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
		const finished = new Map<string, string>();
		socket.on("message", (raw) => {
			const frame = JSON.parse(raw.toString()) as { type?: string; data?: { id: string; status: string } };
			if (frame.type !== "screenshot.job.progress" || !frame.data || !["succeeded", "failed", "canceled"].includes(frame.data.status)) return;
			finished.set(frame.data.id, frame.data.status);
			const waiter = waiting.get(frame.data.id);
			if (!waiter) return;
			if (frame.data.status === "succeeded") waiter.resolve();
			else waiter.reject(new Error(`job ${frame.data.id} ${frame.data.status}`));
		});
		await new Promise((resolve, reject) => socket!.once("open", resolve).once("error", reject));

		const job = async (): Promise<number> => {
			const started = performance.now();
			const created = await call<{ id: string }>("POST", "/screenshot-jobs", { url: pageUrl, viewport: { width: WIDTH, height: HEIGHT } });
			if (created.status !== 202) throw new Error(`POST /screenshot-jobs answered ${created.status}: ${JSON.stringify(created.body)}`);
			const jobId = created.body.id;
			await new Promise<void>((resolve, reject) => {
				const timer = setTimeout(() => reject(new Error(`job ${jobId} not done after ${JOB_TIMEOUT_MS} ms`)), JOB_TIMEOUT_MS);
				const settle = (err?: Error) => {
					clearTimeout(timer);
					waiting.delete(jobId);
					if (err) reject(err);
					else resolve();
				};
				waiting.set(jobId, { resolve: () => settle(), reject: settle });
				const early = finished.get(jobId);
				if (early) settle(early === "succeeded" ? undefined : new Error(`job ${jobId} ${early}`));
			});
			const latency = performance.now() - started;
			const seen = await call<{ status: string; results: Array<{ url?: string }> }>("GET", `/screenshot-jobs/${jobId}`);
			if (seen.body.status !== "succeeded" || !seen.body.results[0]?.url) throw new Error(`job ${jobId} answered ${JSON.stringify(seen.body)}`);
			return latency;
		};

		// Warm-up: the browser's launch, the contexts, JIT and connection pools.
		await Promise.all(Array.from({ length: CLIENTS }, () => job()));

		console.log(`(b) jobs through the platform: ${CLIENTS} clients, SCREENSHOT_CONCURRENCY ${CONCURRENCY}, ${DURATION} s …`);
		const latencies: number[] = [];
		let errors = 0;
		let firstError = "";
		const deadline = Date.now() + DURATION * 1000;
		const began = Date.now();
		await Promise.all(
			Array.from({ length: CLIENTS }, async () => {
				while (Date.now() < deadline) {
					try {
						latencies.push(await job());
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

		console.log(`(c) one job at a time: ${SINGLE} jobs …`);
		const alone: number[] = [];
		for (let index = 0; index < SINGLE; index += 1) alone.push(await job());
		alone.sort((a, b) => a - b);

		console.log(`plain Playwright loop (${CONCURRENCY} at once)            ${plain.perSecond.toFixed(2).padStart(7)} renders/s (${plain.count} in ${DURATION} s)`);
		console.log(
			`jobs end to end (API → JetStream → render → S3)  ${perSecond.toFixed(2).padStart(7)} jobs/s    (${latencies.length} in ${elapsed.toFixed(1)} s, ` +
				`p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms under load, errors ${errors})`,
		);
		console.log(`one job alone                                    p50 ${percentile(alone, 50).toFixed(0)} ms, p99 ${percentile(alone, 99).toFixed(0)} ms (${SINGLE} jobs)`);
		console.log(`jobs/s ÷ plain renders/s = ${(perSecond / plain.perSecond).toFixed(2)} (goal ≥ 0.85)`);
		if (firstError) console.log(`first error: ${firstError}`);
	} finally {
		socket?.close();
		await broker?.stop().catch(() => undefined);
		if (node) await stopNode(node);
		await withAdminClient((pg) => pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch((err) => console.error(err));
		await dropStreams(namespace).catch((err) => console.error(`could not drop JetStream streams: ${(err as Error).message}`));
		await s3.stop();
		fs.rmSync(s3Dir, { recursive: true, force: true });
		await new Promise((resolve) => site.close(resolve));
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
