/** A counting semaphore: at most `limit` tasks run at once, the rest wait in arrival order. */
export class ConcurrencyLimit {
	private running = 0;
	private readonly waiting: Array<() => void> = [];

	constructor(private readonly limit: number) {
		if (!Number.isInteger(limit) || limit < 1) throw new Error(`A concurrency limit must be a whole number ≥ 1 (got ${limit})`);
	}

	async run<T>(task: () => Promise<T>): Promise<T> {
		if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
		this.running += 1;
		try {
			return await task();
		} finally {
			this.running -= 1;
			this.waiting.shift()?.();
		}
	}

	get pending(): number {
		return this.waiting.length;
	}
}

export interface RecurringPassOptions {
	/** One pass of the work; it may check `stopped` to end early. */
	pass: () => Promise<void>;
	/** How often a pass runs while started, on top of the ones asked for with `run()`. */
	intervalMs: number;
	/** A failed pass is reported here (not after stop) and the next pass tries again. */
	onError: (err: unknown) => void;
}

/**
 * Work done in passes by a background loop (an outbox relay, a due-jobs poller): one pass at a time, a
 * `run()` during a pass runs one more right after it (the work it was asked for may have come too late for
 * the pass in progress), and a pass every `intervalMs` for what no one asked for.
 */
export class RecurringPass {
	private timer?: NodeJS.Timeout;
	private current?: Promise<void>;
	private again = false;
	private halted = true;

	constructor(private readonly options: RecurringPassOptions) {}

	get stopped(): boolean {
		return this.halted;
	}

	/** A pass now, or right after the one in progress; resolves when that pass is over. */
	run(): Promise<void> {
		if (this.halted) return Promise.resolve();
		if (this.current) {
			this.again = true;
			return this.current;
		}
		this.current = (async () => {
			try {
				do {
					this.again = false;
					await this.options.pass();
				} while (this.again && !this.halted);
			} catch (err) {
				if (!this.halted) this.options.onError(err);
			} finally {
				this.current = undefined;
			}
		})();
		return this.current;
	}

	start(): void {
		if (!this.halted) return;
		this.halted = false;
		this.timer = setInterval(() => void this.run(), this.options.intervalMs);
		this.timer.unref();
		void this.run();
	}

	/** No pass starts after this; resolves once the one in progress is over. */
	async stop(): Promise<void> {
		this.halted = true;
		if (this.timer) clearInterval(this.timer);
		this.timer = undefined;
		await this.current;
	}
}
