/** The due-jobs loop on its own: bounded concurrency, kicks, and a stop that gives running jobs back. */
import { afterEach, describe, expect, it } from "vitest";
import { ServiceBroker, type Service } from "moleculer";
import { DueJobsMixin, type DueJobsMethods } from "../../mixins/due-jobs.mixin";

interface Job {
	id: number;
	/** Resolves the job's run. */
	finish?: () => void;
}

let broker: ServiceBroker | undefined;

afterEach(async () => {
	await broker?.stop();
	broker = undefined;
});

async function startLoop(options: { concurrency: number; stopGraceMs?: number; hang?: boolean }) {
	const queue: Job[] = [];
	const running = new Set<number>();
	const finished: number[] = [];
	const released: number[] = [];
	let maxRunning = 0;
	broker = new ServiceBroker({ logger: false });
	const service = broker.createService({
		name: "jobs",
		mixins: [DueJobsMixin({ name: "test jobs", claim: "claim", run: "run", pollIntervalMs: 50, concurrency: options.concurrency, stopGraceMs: options.stopGraceMs ?? 100 })],
		methods: {
			async claim(limit: number) {
				return queue.splice(0, limit);
			},
			async run(job: Job, signal: AbortSignal) {
				running.add(job.id);
				maxRunning = Math.max(maxRunning, running.size);
				await new Promise<void>((resolve) => {
					if (!options.hang) setTimeout(resolve, 20);
					signal.addEventListener("abort", () => resolve(), { once: true });
				});
				running.delete(job.id);
				(signal.aborted ? released : finished).push(job.id);
			},
		},
		started(this: Service & DueJobsMethods) {
			this.startDueJobs();
		},
		async stopped(this: Service & DueJobsMethods) {
			await this.stopDueJobs();
		},
	}) as unknown as Service & DueJobsMethods;
	await broker.start();
	return { queue, finished, released, service, maxRunning: () => maxRunning };
}

async function until(check: () => boolean, timeoutMs = 3000) {
	const started = Date.now();
	while (!check()) {
		if (Date.now() - started > timeoutMs) throw new Error("timed out");
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}

describe("DueJobsMixin", () => {
	it("runs every due job, never more at once than its concurrency", async () => {
		const loop = await startLoop({ concurrency: 3 });
		loop.queue.push(...Array.from({ length: 10 }, (_, id) => ({ id })));
		loop.service.kickDueJobs();
		await until(() => loop.finished.length === 10);
		expect(loop.finished.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
		expect(loop.maxRunning()).toBe(3);
	});

	it("picks up jobs on its own poll, without a kick", async () => {
		const loop = await startLoop({ concurrency: 2 });
		loop.queue.push({ id: 1 });
		await until(() => loop.finished.length === 1);
	});

	it("aborts jobs still running after the grace period when it stops", async () => {
		const loop = await startLoop({ concurrency: 2, hang: true, stopGraceMs: 50 });
		loop.queue.push({ id: 1 }, { id: 2 });
		loop.service.kickDueJobs();
		await until(() => loop.maxRunning() === 2);
		const stopping = Date.now();
		await broker!.stop();
		broker = undefined;
		expect(loop.released.sort()).toEqual([1, 2]);
		expect(loop.finished).toEqual([]);
		expect(Date.now() - stopping).toBeLessThan(2000);
		// Stopped: nothing more is claimed.
		loop.queue.push({ id: 3 });
		await new Promise((resolve) => setTimeout(resolve, 150));
		expect(loop.queue).toHaveLength(1);
	});
});
