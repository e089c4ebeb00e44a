/**
 * Durable channels (@moleculer/channels) on both adapters: PostgreSQL (embedded mode, no transporter)
 * and NATS JetStream (cluster mode). Retries until acknowledged, once per consumer group, competing
 * nodes of a group, and messages that wait for a consumer that is down or was killed.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { Client } from "pg";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { createBrokerOptions } from "../../moleculer.config";
import { loadConfig, PROJECT_ROOT } from "../../lib/config";
import type { PostgresAdapter } from "../../lib/channels/postgres.adapter";
import { baseEnv } from "../helpers/nodes";
import { removeStreams } from "../helpers/jetstream";

const testEnv = inject("testEnv");
const brokers: ServiceBroker[] = [];

function pgBroker(services: ServiceSchema[] = [], env: Record<string, string> = {}): ServiceBroker {
	const broker = new ServiceBroker(createBrokerOptions(loadConfig(baseEnv({ SERVICES: "platform", ...env }))));
	const adapter = (broker as ServiceBroker & { channelAdapter: PostgresAdapter }).channelAdapter;
	// Quick retries and polls keep the test short; the defaults are meant for production.
	Object.assign(adapter.opts.postgres, { retryDelayMs: 50, pollIntervalMs: 200 });
	for (const schema of services) broker.createService(schema);
	brokers.push(broker);
	return broker;
}

function consumer(name: string, channel: string, group: string, handler: (payload: { n: number }) => unknown, extra: object = {}): ServiceSchema {
	return { name, channels: { [channel]: { group, ...extra, handler } } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
	const started = Date.now();
	while (!check()) {
		if (Date.now() - started > timeoutMs) throw new Error("Timed out waiting for a condition");
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

async function pendingRows(channel: string): Promise<number> {
	const client = new Client({ connectionString: testEnv.databaseUrl });
	await client.connect();
	try {
		const result = await client.query("SELECT count(*)::int AS n FROM channels.messages WHERE channel = $1", [`${testEnv.namespace}.${channel}`]);
		return result.rows[0].n as number;
	} finally {
		await client.end();
	}
}

afterAll(async () => {
	await Promise.all(brokers.map((broker) => (broker.started ? broker.stop() : undefined)));
});

describe("PostgreSQL adapter (embedded mode)", () => {
	it("retries a failing handler until it succeeds, then removes the message", async () => {
		let calls = 0;
		const broker = pgBroker([
			consumer("retrying", "test.retry", "retrying", () => {
				calls += 1;
				if (calls <= 2) throw new Error(`fail ${calls}`);
			}),
		]);
		await broker.start();
		await broker.sendToChannel("test.retry", { n: 1 });
		await until(() => calls === 3);
		await sleep(500);
		expect(calls).toBe(3);
		expect(await pendingRows("test.retry")).toBe(0);
		await broker.stop();
	});

	it("drops (or dead-letters) a message past maxRetries", async () => {
		let calls = 0;
		const dead: unknown[] = [];
		const broker = pgBroker([
			consumer("doomed", "test.doomed", "doomed", () => {
				calls += 1;
				throw new Error("always");
			}, { maxRetries: 1, deadLettering: { enabled: true, queueName: "test.dead" } }),
			consumer("morgue", "test.dead", "morgue", (payload) => void dead.push(payload)),
		]);
		await broker.start();
		await broker.sendToChannel("test.doomed", { n: 7 });
		await until(() => dead.length === 1);
		expect(calls).toBe(2);
		expect(dead).toEqual([{ n: 7 }]);
		expect(await pendingRows("test.doomed")).toBe(0);
		await broker.stop();
	});

	it("gives each group every message once and shares a group's work between its nodes", async () => {
		const billing: number[] = [];
		const shipping: Array<[string, number]> = [];
		const channel = "test.fanout";
		const first = pgBroker([
			consumer("billing", channel, "billing", (payload) => void billing.push(payload.n)),
			consumer("shipping", channel, "shipping", (payload) => void shipping.push(["first", payload.n]), { maxInFlight: 2 }),
		]);
		const second = pgBroker([consumer("shipping", channel, "shipping", (payload) => void shipping.push(["second", payload.n]), { maxInFlight: 2 })]);
		await Promise.all([first.start(), second.start()]);
		for (let n = 0; n < 40; n += 1) await first.sendToChannel(channel, { n });
		await until(() => billing.length === 40 && shipping.length === 40);
		await sleep(500);
		expect([...billing].sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
		expect(shipping.map(([, n]) => n).sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
		// Both nodes of the group took part.
		expect(new Set(shipping.map(([node]) => node)).size).toBe(2);
		expect(await pendingRows(channel)).toBe(0);
		await Promise.all([first.stop(), second.stop()]);
	});

	it("keeps messages for a group while its nodes are down, and for groups that subscribe later", async () => {
		const channel = "test.durable";
		const received: number[] = [];
		const producer = pgBroker();
		await producer.start();
		// Nobody has ever subscribed: the message waits for the first group.
		await producer.sendToChannel(channel, { n: 1 });

		const firstConsumer = pgBroker([consumer("worker", channel, "workers", (payload) => void received.push(payload.n))]);
		await firstConsumer.start();
		await until(() => received.length === 1);
		await firstConsumer.stop();

		// The group is down: the message is kept for it.
		await producer.sendToChannel(channel, { n: 2 });
		expect(await pendingRows(channel)).toBeGreaterThanOrEqual(1);
		const secondConsumer = pgBroker([consumer("worker", channel, "workers", (payload) => void received.push(payload.n))]);
		await secondConsumer.start();
		await until(() => received.length === 2);
		expect(received).toEqual([1, 2]);
		await Promise.all([producer.stop(), secondConsumer.stop()]);
	});

	it("redelivers a message whose consumer process was killed mid-handler", async () => {
		const channel = "test.killed";
		const env = baseEnv({ SERVICES: "platform" });
		const script = `
			const { ServiceBroker } = require("moleculer");
			const { createBrokerOptions } = require(${JSON.stringify(path.join(PROJECT_ROOT, "moleculer.config.ts"))});
			const { loadConfig } = require(${JSON.stringify(path.join(PROJECT_ROOT, "lib/config.ts"))});
			const broker = new ServiceBroker(createBrokerOptions(loadConfig(JSON.parse(process.env.CHILD_ENV))));
			Object.assign(broker.channelAdapter.opts.postgres, { lockMs: 1500, pollIntervalMs: 200 });
			broker.createService({ name: "victim", channels: { ${JSON.stringify(channel)}: { group: "killable", handler() {
				console.log("RECEIVED");
				return new Promise(() => {});
			} } } });
			broker.start().then(() => console.log("STARTED"));
		`;
		const child = spawn(process.execPath, ["--import", "tsx", "-e", script], {
			cwd: PROJECT_ROOT,
			env: { PATH: process.env.PATH, HOME: process.env.HOME, CHILD_ENV: JSON.stringify(env) },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let output = "";
		child.stdout.on("data", (chunk) => (output += chunk.toString()));
		child.stderr.on("data", (chunk) => (output += chunk.toString()));
		const exited = new Promise((resolve) => child.once("exit", resolve));
		try {
			await until(() => output.includes("STARTED"), 30_000).catch(() => {
				throw new Error(`The child never started:\n${output.slice(-3000)}`);
			});
			const producer = pgBroker();
			await producer.start();
			await producer.sendToChannel(channel, { n: 42 });
			await until(() => output.includes("RECEIVED"));
		} finally {
			child.kill("SIGKILL");
			await exited;
		}

		const received: number[] = [];
		const survivor = pgBroker([consumer("survivor", channel, "killable", (payload) => void received.push(payload.n))]);
		await survivor.start();
		await until(() => received.length === 1);
		expect(received).toEqual([42]);
		await sleep(300);
		expect(await pendingRows(channel)).toBe(0);
		await survivor.stop();
	}, 60_000);
});

describe("NATS JetStream adapter (cluster mode)", () => {
	const namespace = `${testEnv.namespace}-ch`;
	const natsEnv = { TRANSPORTER: testEnv.natsUrl, NAMESPACE: namespace };

	function natsBroker(services: ServiceSchema[] = []): ServiceBroker {
		const broker = new ServiceBroker(createBrokerOptions(loadConfig(baseEnv({ SERVICES: "platform", ...natsEnv }))));
		for (const schema of services) broker.createService(schema);
		brokers.push(broker);
		return broker;
	}

	afterAll(async () => {
		await removeStreams(namespace);
	});

	it("delivers across nodes, retries, and keeps messages while the consumer is down", async () => {
		const channel = "test.jetstream";
		const received: number[] = [];
		let failures = 0;
		const handler = (payload: { n: number }) => {
			if (payload.n === 1 && failures < 2) {
				failures += 1;
				throw new Error("not yet");
			}
			received.push(payload.n);
		};
		const producer = natsBroker();
		const firstConsumer = natsBroker([consumer("js-worker", channel, "js-workers", handler)]);
		await Promise.all([producer.start(), firstConsumer.start()]);

		await producer.sendToChannel(channel, { n: 1 });
		await until(() => received.includes(1));
		expect(failures).toBe(2);
		await firstConsumer.stop();

		await producer.sendToChannel(channel, { n: 2 });
		const secondConsumer = natsBroker([consumer("js-worker", channel, "js-workers", handler)]);
		await secondConsumer.start();
		await until(() => received.includes(2));
		expect(received).toEqual([1, 2]);
		await Promise.all([producer.stop(), secondConsumer.stop()]);
	}, 60_000);

	it("takes a message for a channel no group has subscribed to yet, and keeps later ones for the group that does", async () => {
		const channel = "test.unsubscribed";
		const producer = natsBroker();
		await producer.start();
		// The stock adapter refused this (no stream before a subscription): an outbox relay would retry it forever.
		await expect(producer.sendToChannel(channel, { n: 1 })).resolves.toBeUndefined();

		const received: number[] = [];
		const lateConsumer = natsBroker([consumer("js-late", channel, "js-late", (payload) => void received.push(payload.n))]);
		await lateConsumer.start();
		await producer.sendToChannel(channel, { n: 2 });
		await until(() => received.includes(2));
		await lateConsumer.stop();
		// A group that has subscribed once keeps what is sent while it is down.
		await producer.sendToChannel(channel, { n: 3 });
		const returning = natsBroker([consumer("js-late", channel, "js-late", (payload) => void received.push(payload.n))]);
		await returning.start();
		await until(() => received.includes(3));
		// Sent before the group existed: the group starts with what came after it (deliver policy "new").
		expect(received).toEqual([2, 3]);
		await Promise.all([producer.stop(), returning.stop()]);
	}, 60_000);
});
