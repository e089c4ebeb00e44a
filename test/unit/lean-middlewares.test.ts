/**
 * The per-call middlewares that replace Moleculer's stock Metrics and Bulkhead keep the stock behaviour:
 * the same counts reach the metric registry (published when it is read), and the bulkhead limits calls
 * exactly as before. Also the NATS transporter that writes a loop turn's packets together keeps their order.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Errors, ServiceBroker, type Middleware } from "moleculer";
import { LeanMetricsMiddleware } from "../../middlewares/lean-metrics.middleware";
import { LeanBulkheadMiddleware } from "../../middlewares/lean-bulkhead.middleware";
import { CoalescingNatsTransporter } from "../../lib/nats-transporter";

type MetricValue = { labels: Record<string, unknown>; value?: number; count?: number; sum?: number; buckets?: Record<string, number> };
type MetricList = Array<{ name: string; values: MetricValue[] }>;

const broker = new ServiceBroker({
	logger: false,
	metrics: { enabled: true, reporter: [] },
	bulkhead: { enabled: true, concurrency: 2, maxQueueSize: 1 },
	internalMiddlewares: false,
	middlewares: [LeanBulkheadMiddleware as unknown as Middleware, LeanMetricsMiddleware as unknown as Middleware],
});

/** Resolvers of the running `slow` calls, oldest first. */
const running: Array<() => void> = [];

broker.createService({
	name: "work",
	actions: {
		quick: { handler: () => "done" },
		broken: {
			handler: () => {
				throw new Errors.MoleculerClientError("no", 422, "NOPE");
			},
		},
		slow: { handler: () => new Promise<string>((resolve) => running.push(() => resolve("slow"))) },
	},
});

beforeAll(() => broker.start());
afterAll(() => broker.stop());

function valuesOf(name: string, action: string): MetricValue[] {
	const list = broker.metrics.list({ includes: [name] }) as unknown as MetricList;
	return (list.find((metric) => metric.name === name)?.values ?? []).filter((value) => value.labels.action === action);
}

describe("lean metrics", () => {
	it("counts and times calls as the registry reports them when read", async () => {
		for (let index = 0; index < 3; index++) await broker.call("work.quick");
		await expect(broker.call("work.broken")).rejects.toThrow("no");

		expect(valuesOf("moleculer.request.total", "work.quick")[0]).toMatchObject({ value: 3, labels: { service: "work", type: "local" } });
		expect(valuesOf("moleculer.request.total", "work.broken")[0].value).toBe(1);
		expect(valuesOf("moleculer.request.error.total", "work.broken")[0]).toMatchObject({ value: 1, labels: { errorCode: 422, errorType: "NOPE" } });
		const timing = valuesOf("moleculer.request.time", "work.quick")[0];
		expect(timing.count).toBe(3);
		// Buckets are cumulative, as Prometheus reads them: every quick call is within 10 s.
		expect(timing.buckets?.["10000"]).toBe(3);
		expect(Object.values(timing.buckets ?? {}).every((count, index, all) => index === 0 || count >= all[index - 1])).toBe(true);

		// Counts already published are not counted twice.
		await broker.call("work.quick");
		expect(valuesOf("moleculer.request.total", "work.quick")[0].value).toBe(4);
		expect(valuesOf("moleculer.request.time", "work.quick")[0].count).toBe(4);
	});
});

describe("lean bulkhead", () => {
	it("runs `concurrency` calls at once, queues `maxQueueSize` more in order, and refuses the rest", async () => {
		const calls = [broker.call("work.slow"), broker.call("work.slow"), broker.call("work.slow")];
		await new Promise((resolve) => setImmediate(resolve));
		expect(valuesOf("moleculer.request.bulkhead.inflight", "work.slow")[0].value).toBe(2);
		expect(valuesOf("moleculer.request.bulkhead.queue.size", "work.slow")[0].value).toBe(1);

		await expect(broker.call("work.slow")).rejects.toBeInstanceOf(Errors.QueueIsFullError);

		expect(running).toHaveLength(2);
		running.shift()!();
		await new Promise((resolve) => setImmediate(resolve));
		// The queued call starts as soon as one finishes.
		expect(running).toHaveLength(2);
		while (running.length > 0) running.shift()!();
		await expect(Promise.all(calls)).resolves.toEqual(["slow", "slow", "slow"]);
		expect(valuesOf("moleculer.request.bulkhead.inflight", "work.slow")[0].value).toBe(0);
		expect(valuesOf("moleculer.request.bulkhead.queue.size", "work.slow")[0].value).toBe(0);
	});
});

describe("coalescing NATS transporter", () => {
	it("hands a turn's packets to the client together, in order, and flushes them before disconnecting", async () => {
		const transporter = new CoalescingNatsTransporter({ url: "nats://127.0.0.1:4222" });
		const published: string[] = [];
		const client = {
			publish: vi.fn((subject: string, data: Buffer) => published.push(`${subject}:${data.toString()}`)),
			flush: vi.fn(async () => undefined),
			close: vi.fn(async () => undefined),
		};
		(transporter as unknown as { client: typeof client }).client = client;

		await transporter.send("A", Buffer.from("1"));
		await transporter.send("B", Buffer.from("2"));
		expect(published).toEqual([]);
		await new Promise((resolve) => setImmediate(resolve));
		expect(published).toEqual(["A:1", "B:2"]);

		await transporter.send("C", Buffer.from("3"));
		await transporter.disconnect();
		expect(published).toEqual(["A:1", "B:2", "C:3"]);
		expect(client.flush).toHaveBeenCalled();
		expect(client.close).toHaveBeenCalled();
	});
});
