/**
 * The node under fuzz: server.ts as its own OS process on a fixed loopback port, so a request that ends
 * the process is seen as exactly that (and doesn't take the test runner with it), and the node can be
 * started again on the same address to go on. Free of vitest, so scripts/fuzz.ts uses it too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

const PROJECT_ROOT = path.resolve(__dirname, "../..");

export interface FuzzTarget {
	url: string;
	/** Whether the process the target started is still running (always true for a target it didn't start). */
	running(): boolean;
	/** GET /healthz answers 200 within five seconds (a loaded 2-core CI machine is slow, not dead). */
	healthy(): Promise<boolean>;
	/** Starts the node again after it exited; absent when the target was given as a URL. */
	restart?: () => Promise<void>;
	/** How many times the process exited by itself. */
	exits(): number;
	/** The last lines the process wrote, for a crash report. */
	output(): string;
	stop(): Promise<void>;
}

export async function healthy(url: string, timeoutMs = 5000): Promise<boolean> {
	try {
		const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
		await response.arrayBuffer();
		return response.status === 200;
	} catch {
		return false;
	}
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
	const started = Date.now();
	while (Date.now() - started < timeoutMs) {
		if (child.exitCode !== null) throw new Error(`The fuzz node exited with ${child.exitCode} while starting:\n${output().slice(-3000)}`);
		try {
			const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
			await response.arrayBuffer();
			if (response.status === 200) return;
		} catch {
			// not listening yet
		}
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
	throw new Error(`The fuzz node at ${url} was not ready within ${timeoutMs} ms:\n${output().slice(-3000)}`);
}

/** Starts server.ts with exactly this environment (PORT must be a fixed port, HOST a loopback address). */
export async function spawnTarget(env: Record<string, string | undefined>, startTimeoutMs = 90_000): Promise<FuzzTarget> {
	const url = `http://${env.HOST ?? "127.0.0.1"}:${env.PORT}`;
	let child: ChildProcess;
	let log = "";
	let exits = 0;
	let stopping = false;
	const output = () => log;

	const start = async () => {
		child = spawn(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, "server.ts")], {
			cwd: PROJECT_ROOT,
			env: Object.fromEntries(Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME, ...env }).filter(([, value]) => value !== undefined)) as NodeJS.ProcessEnv,
			stdio: ["ignore", "pipe", "pipe"],
		});
		const keep = (chunk: Buffer) => {
			log = (log + chunk.toString()).slice(-200_000);
		};
		child.stdout?.on("data", keep);
		child.stderr?.on("data", keep);
		child.once("exit", () => {
			if (!stopping) exits += 1;
		});
		try {
			await waitReady(url, child, startTimeoutMs, output);
		} catch (err) {
			// A node that never got ready isn't left running behind the error.
			stopping = true;
			child.kill("SIGKILL");
			throw err;
		}
	};
	await start();

	return {
		url,
		running: () => child.exitCode === null && child.signalCode === null,
		healthy: () => healthy(url),
		restart: start,
		exits: () => exits,
		output,
		async stop() {
			stopping = true;
			if (child.exitCode !== null || child.signalCode !== null) return;
			const exited = new Promise((resolve) => child.once("exit", resolve));
			child.kill("SIGTERM");
			const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
			await exited;
			clearTimeout(timer);
		},
	};
}

/** A node somebody else started, on a loopback address only: the fuzz suite never aims at another host. */
export function existingTarget(url: string): FuzzTarget {
	const parsed = new URL(url);
	const host = parsed.hostname.replace(/^\[|\]$/g, "");
	if (!["127.0.0.1", "localhost", "::1"].includes(host) && !/^127\.\d+\.\d+\.\d+$/.test(host)) {
		throw new Error(`Refusing to fuzz ${url}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed`);
	}
	const base = `${parsed.protocol}//${parsed.host}`;
	return { url: base, running: () => true, healthy: () => healthy(base), exits: () => 0, output: () => "", stop: async () => undefined };
}
