/**
 * Starting Lattice nodes from tests: in process (createNode, exactly what server.ts runs) or as separate
 * OS processes (server.ts itself), always against the real PostgreSQL, Redis and NATS of the run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { inject } from "vitest";
import { loadConfig, PROJECT_ROOT } from "../../lib/config";
import { createNode, type LatticeNode } from "../../lib/node";
export { freePort } from "./net";

export type EnvOverrides = Record<string, string | undefined>;

let sequence = 0;

/**
 * Every test node seals secrets at rest as production does (SECRETS_KEY is required there). One fixed key for
 * all of them: nodes of different test files share the run's database and read each other's rows.
 */
export const TEST_SECRETS_KEY = "5d".repeat(32);

/** The environment a test node starts from: the run's database and object store, quiet logs, no tracing output. */
export function baseEnv(overrides: EnvOverrides = {}): Record<string, string | undefined> {
	const testEnv = inject("testEnv");
	sequence += 1;
	return {
		NODE_ENV: "test",
		DATABASE_URL: testEnv.databaseUrl,
		S3_ENDPOINT: testEnv.s3.endpoint,
		S3_ACCESS_KEY: testEnv.s3.accessKey,
		S3_SECRET_KEY: testEnv.s3.secretKey,
		S3_REGION: testEnv.s3.region,
		S3_BUCKET: testEnv.s3.bucket,
		NAMESPACE: testEnv.namespace,
		NODE_ID: `test-node-${process.pid}-${sequence}`,
		LOG_LEVEL: "warn",
		LOG_FORMAT: "json",
		PORT: "0",
		HOST: "127.0.0.1",
		OPS_PORT: "0",
		TRACING_EXPORTER: "none",
		SECRETS_KEY: TEST_SECRETS_KEY,
		...overrides,
	};
}

/** Overrides for a node with its own embedded object store (s3rver under dataDir, on a free port). */
export function embeddedStorageEnv(dataDir: string): EnvOverrides {
	return { S3_ENDPOINT: undefined, S3_ACCESS_KEY: undefined, S3_SECRET_KEY: undefined, S3_REGION: undefined, DATA_DIR: dataDir, EMBEDDED_S3_PORT: "0" };
}

export interface RunningNode extends LatticeNode {
	/** http://127.0.0.1:<port> of the gateway, when this node runs it. */
	url: string;
	/** http://127.0.0.1:<port> of the node's ops listener (/healthz, /readyz, /metrics). */
	opsUrl: string;
}

export async function startNode(overrides: EnvOverrides = {}): Promise<RunningNode> {
	const node = await createNode(loadConfig(baseEnv(overrides)));
	await node.start();
	const gateway = node.broker.getLocalService("api") as unknown as { server?: Server } | undefined;
	const address = gateway?.server?.address() as AddressInfo | null | undefined;
	return Object.assign(node, {
		url: address ? `http://127.0.0.1:${address.port}` : "",
		opsUrl: node.opsPort !== undefined ? `http://127.0.0.1:${node.opsPort}` : "",
	});
}

export interface NodeProcess {
	child: ChildProcess;
	output(): string;
	waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
	stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** server.ts as its own OS process, run by the same Node that runs the tests. */
export function spawnNode(env: Record<string, string | undefined>, script = "server.ts"): NodeProcess {
	const child = spawn(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, script)], {
		cwd: PROJECT_ROOT,
		env: Object.fromEntries(Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME, ...env }).filter(([, value]) => value !== undefined)),
		stdio: ["pipe", "pipe", "pipe"],
	});
	let output = "";
	child.stdout?.on("data", (chunk) => (output += chunk.toString()));
	child.stderr?.on("data", (chunk) => (output += chunk.toString()));
	const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
	return {
		child,
		output: () => output,
		waitFor(pattern, timeoutMs = 30_000) {
			return new Promise((resolve, reject) => {
				const started = Date.now();
				const timer = setInterval(() => {
					if (pattern.test(output)) {
						clearInterval(timer);
						resolve();
					} else if (child.exitCode !== null || Date.now() - started > timeoutMs) {
						clearInterval(timer);
						reject(new Error(`Waiting for ${pattern} failed (exit ${child.exitCode}). Output:\n${output.slice(-4000)}`));
					}
				}, 50);
			});
		},
		async stop(signal: NodeJS.Signals = "SIGTERM") {
			if (child.exitCode === null) child.kill(signal);
			const timeout = setTimeout(() => child.kill("SIGKILL"), 15_000);
			const code = await exited;
			clearTimeout(timeout);
			return code;
		},
	};
}

/** Polls a URL until it answers the wanted status. */
export async function waitForHttp(url: string, status = 200, timeoutMs = 30_000): Promise<Response> {
	const started = Date.now();
	let last = "";
	while (Date.now() - started < timeoutMs) {
		try {
			const response = await fetch(url);
			if (response.status === status) return response;
			last = `${response.status} ${await response.text()}`;
		} catch (err) {
			last = (err as Error).message;
		}
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
	throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}
