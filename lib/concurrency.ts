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
