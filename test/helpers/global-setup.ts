/**
 * Each test run gets its own PostgreSQL database and its own NATS/Redis namespace, and removes them at
 * the end, so runs never see each other's data and can run twice in a row.
 */
import { randomBytes } from "node:crypto";
import { Client } from "pg";
import Redis from "ioredis";
import type { TestProject } from "vitest/node";

const ADMIN_URL = process.env.TEST_POSTGRES_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";

export default async function setup(project: TestProject) {
	const runId = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
	const database = `lattice_test_${runId}`;
	const admin = new Client({ connectionString: ADMIN_URL });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${database}`);
	await admin.end();

	const databaseUrl = new URL(ADMIN_URL);
	databaseUrl.pathname = `/${database}`;
	project.provide("testEnv", {
		runId,
		databaseUrl: databaseUrl.toString(),
		redisUrl: REDIS_URL,
		natsUrl: NATS_URL,
		namespace: `test-${runId}`,
	});

	return async () => {
		const client = new Client({ connectionString: ADMIN_URL });
		await client.connect();
		await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
		await client.end();
		const redis = new Redis(REDIS_URL);
		const keys = await redis.keys(`*test-${runId}*`);
		if (keys.length > 0) await redis.del(...keys);
		await redis.quit();
	};
}

declare module "vitest" {
	export interface ProvidedContext {
		testEnv: { runId: string; databaseUrl: string; redisUrl: string; natsUrl: string; namespace: string };
	}
}
