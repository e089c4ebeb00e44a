/**
 * Does a burst of logins starve everyone else? One node (gateway + identity + platform) in a child
 * process; the bench measures a cheap route (GET /api/v1/status/ping) alone, then again while a second
 * load generator hammers POST /api/v1/auth/login with a correct password, and prints the ratio.
 * Password hashing runs on libuv's thread pool, so the ping rate should hold up. The logins go to as many
 * accounts as connections, in turn: login throttling checks at most 5 attempts for one account from one
 * address at once (services/identity/login-throttle.ts), so one account hammered by every connection would
 * measure 429s.
 *
 * Settings (environment): BENCH_DURATION (s, 10), BENCH_CONNECTIONS (ping connections, 20),
 * BENCH_LOGIN_CONNECTIONS (16), DATABASE_URL (default: a fresh database on 127.0.0.1:5432, dropped after).
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import autocannon from "autocannon";
import { freePort } from "../test/helpers/net";
import { BENCH_SECRETS_KEY, databaseUrl, waitForOk, withAdminClient } from "./support";

const ROOT = path.resolve(__dirname, "..");
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const PING_CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const LOGIN_CONNECTIONS = Number(process.env.BENCH_LOGIN_CONNECTIONS ?? 16);
const PASSWORD = "bench password 1";

interface Measured {
	requestsPerSecond: number;
	p50: number;
	p99: number;
	non2xx: number;
}

function measure(options: autocannon.Options): Promise<Measured> {
	return new Promise((resolve, reject) => {
		autocannon(options, (err, result) => {
			if (err) return reject(err);
			resolve({ requestsPerSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx });
		});
	});
}

async function main(): Promise<void> {
	const database = `lattice_bench_${Date.now().toString(36)}`;
	const ownDatabase = !process.env.DATABASE_URL;
	let serverDatabaseUrl = process.env.DATABASE_URL ?? "";
	if (ownDatabase) {
		await withAdminClient((client) => client.query(`CREATE DATABASE ${database}`));
		serverDatabaseUrl = databaseUrl(database);
	}
	const port = await freePort();
	const base = `http://127.0.0.1:${port}`;
	let server: ChildProcess | undefined;
	try {
		server = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "server.ts")], {
			cwd: ROOT,
			stdio: ["ignore", "ignore", "inherit"],
			env: { ...process.env, NODE_ENV: "production", SECRETS_KEY: BENCH_SECRETS_KEY, SERVICES: "gateway,identity,platform", DATABASE_URL: serverDatabaseUrl, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", TRACING_EXPORTER: "none", RATE_LIMIT_MAX: "1000000", RATE_LIMIT_WINDOW_MS: "1000", NAMESPACE: `bench-login-${process.pid}` },
		});
		await waitForOk(`${base}/readyz`);
		await waitForOk(`${base}/api/v1/auth/jwks`);
		const emails: string[] = [];
		for (let index = 0; index < LOGIN_CONNECTIONS; index += 1) {
			const email = `bench.${Date.now()}.${index}@example.com`;
			const registered = await fetch(`${base}/api/v1/auth/register`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password: PASSWORD, fullName: "Bench User" }) });
			if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${await registered.text()}`);
			emails.push(email);
		}
		let nextEmail = 0;

		const ping = { url: `${base}/api/v1/status/ping`, connections: PING_CONNECTIONS, duration: DURATION };
		await measure({ ...ping, duration: 2 });
		const alone = await measure(ping);
		const login: autocannon.Options = {
			url: `${base}/api/v1/auth/login`,
			connections: LOGIN_CONNECTIONS,
			duration: DURATION,
			requests: [
				{
					method: "POST",
					headers: { "content-type": "application/json" },
					// Round robin over as many accounts as connections: about one attempt per account at a time.
					setupRequest: (request) => ({ ...request, body: JSON.stringify({ email: emails[nextEmail++ % emails.length], password: PASSWORD }) }),
				},
			],
		};
		const [during, logins] = await Promise.all([measure(ping), measure(login)]);

		const row = (name: string, m: Measured) => `${name.padEnd(28)} ${m.requestsPerSecond.toFixed(0).padStart(8)} req/s   p50 ${String(m.p50).padStart(4)} ms   p99 ${String(m.p99).padStart(5)} ms   non-2xx ${m.non2xx}`;
		console.log(row("ping alone", alone));
		console.log(row("ping during a login burst", during));
		console.log(row("logins (argon2id)", logins));
		console.log(`ping throughput during logins / alone = ${(during.requestsPerSecond / alone.requestsPerSecond).toFixed(2)}; ping p99 ${alone.p99} ms → ${during.p99} ms`);
	} finally {
		server?.kill("SIGTERM");
		await new Promise((resolve) => (server?.exitCode !== null ? resolve(null) : server?.once("exit", resolve)));
		if (ownDatabase) await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
