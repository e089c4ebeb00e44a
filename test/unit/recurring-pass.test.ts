import { describe, expect, it } from "vitest";
import { RecurringPass } from "../../lib/concurrency";

function deferred(): { promise: Promise<void>; resolve: () => void } {
	let resolve!: () => void;
	const promise = new Promise<void>((done) => (resolve = done));
	return { promise, resolve };
}

describe("RecurringPass", () => {
	it("runs one pass at a time, and once more for every burst of requests made during one", async () => {
		const gates: Array<{ promise: Promise<void>; resolve: () => void }> = [];
		let passes = 0;
		const loop = new RecurringPass({
			pass: async () => {
				passes += 1;
				const gate = deferred();
				gates.push(gate);
				await gate.promise;
			},
			intervalMs: 60_000,
			onError: () => undefined,
		});
		expect(loop.run()).toBeInstanceOf(Promise);
		expect(passes).toBe(0);
		loop.start();
		await Promise.resolve();
		expect(passes).toBe(1);
		const during = [loop.run(), loop.run(), loop.run()];
		gates[0].resolve();
		await new Promise((resolve) => setImmediate(resolve));
		expect(passes).toBe(2);
		gates[1].resolve();
		await Promise.all(during);
		expect(passes).toBe(2);
		await loop.stop();
	});

	it("reports a failed pass and keeps going; stop waits for the pass in progress and starts no other", async () => {
		const errors: unknown[] = [];
		let passes = 0;
		const gate = deferred();
		const loop = new RecurringPass({
			pass: async () => {
				passes += 1;
				if (passes === 1) throw new Error("first pass fails");
				await gate.promise;
			},
			intervalMs: 60_000,
			onError: (err) => errors.push(err),
		});
		loop.start();
		await new Promise((resolve) => setImmediate(resolve));
		expect(errors).toHaveLength(1);
		void loop.run();
		expect(passes).toBe(2);
		let stopped = false;
		const stopping = loop.stop().then(() => (stopped = true));
		void loop.run();
		await new Promise((resolve) => setImmediate(resolve));
		expect(stopped).toBe(false);
		gate.resolve();
		await stopping;
		expect(loop.stopped).toBe(true);
		await loop.run();
		expect(passes).toBe(2);
		expect(errors).toHaveLength(1);
	});
});
