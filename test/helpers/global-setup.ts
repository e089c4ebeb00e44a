/**
 * Each test run gets its own PostgreSQL database and its own NATS/Redis namespace, and removes them at
 * the end, so runs never see each other's data and can run twice in a row.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import Redis from "ioredis";
import type { Logger } from "moleculer";
import type { TestProject } from "vitest/node";
import { startEmbeddedS3 } from "../../lib/storage/embedded-s3";

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

	// Object storage is a real S3 API too: one s3rver (the embedded server) for the run, in a temporary folder.
	const s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), `lattice-test-s3-${runId}-`));
	const quiet = { info: () => undefined, debug: () => undefined, warn: console.warn, error: console.error } as unknown as Logger;
	const s3 = await startEmbeddedS3(s3Dir, 0, quiet);

	const databaseUrl = new URL(ADMIN_URL);
	databaseUrl.pathname = `/${database}`;
	project.provide("testEnv", {
		runId,
		databaseUrl: databaseUrl.toString(),
		redisUrl: REDIS_URL,
		natsUrl: NATS_URL,
		namespace: `test-${runId}`,
		s3: { ...s3.connection, bucket: `lattice-test-${runId}` },
	});

	return async () => {
		await s3.stop();
		fs.rmSync(s3Dir, { recursive: true, force: true });
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
		testEnv: {
			runId: string;
			databaseUrl: string;
			redisUrl: string;
			natsUrl: string;
			namespace: string;
			/** The run's S3 API (s3rver), shared like the database; each test node uses its bucket unless told otherwise. */
			s3: { endpoint: string; accessKey: string; secretKey: string; region: string; bucket: string };
		};
	}
}
