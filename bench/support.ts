/** What the benchmarks share: their own PostgreSQL databases, and waiting for a server to answer. */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "pg";

export const BENCH_POSTGRES_ADMIN_URL = process.env.BENCH_POSTGRES_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Servers run with NODE_ENV=production, which requires SECRETS_KEY; what they seal lives only in the bench's own databases. */
export const BENCH_SECRETS_KEY = process.env.SECRETS_KEY ?? randomBytes(32).toString("hex");

/** Runs `work` on a connection to the admin database (to create and drop the bench's own databases). */
export async function withAdminClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: BENCH_POSTGRES_ADMIN_URL });
	await client.connect();
	try {
		return await work(client);
	} finally {
		await client.end();
	}
}

/** The admin URL pointed at another database. */
export function databaseUrl(name: string): string {
	const url = new URL(BENCH_POSTGRES_ADMIN_URL);
	url.pathname = `/${name}`;
	return url.toString();
}

/** Polls until the URL answers 2xx. */
export async function waitForOk(url: string, timeoutMs = 60_000): Promise<void> {
	const started = Date.now();
	while (Date.now() - started < timeoutMs) {
		try {
			if ((await fetch(url)).ok) return;
		} catch {
			// not listening yet
		}
		await sleep(200);
	}
	throw new Error(`${url} did not become ready`);
}
