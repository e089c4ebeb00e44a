/**
 * Fixed-window rate limiting. moleculer-web's own limiter counts per process; with Redis the count is
 * shared, so a client gets the same limit however many gateway nodes sit behind the load balancer.
 */
import Redis from "ioredis";

export interface RateLimitHit {
	count: number;
	/** Epoch milliseconds at which the current window ends. */
	resetAt: number;
}

export interface RateLimitStore {
	/** Resolves once the store can count (or has given up trying for now); never rejects. */
	ready(): Promise<void>;
	hit(key: string, windowMs: number): Promise<RateLimitHit>;
	close(): Promise<void>;
}

export class MemoryRateLimitStore implements RateLimitStore {
	private readonly windows = new Map<string, RateLimitHit>();
	private readonly sweeper: NodeJS.Timeout;

	constructor(sweepEveryMs = 60_000) {
		this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
		this.sweeper.unref();
	}

	async ready(): Promise<void> {}

	async hit(key: string, windowMs: number): Promise<RateLimitHit> {
		return this.hitNow(key, windowMs);
	}

	/** hit, answered synchronously: the gateway's per-request path takes it without a promise (issue 12). */
	hitNow(key: string, windowMs: number): RateLimitHit {
		const now = Date.now();
		let window = this.windows.get(key);
		if (!window || window.resetAt <= now) {
			window = { count: 0, resetAt: now + windowMs };
			this.windows.set(key, window);
		}
		window.count += 1;
		return { ...window };
	}

	private sweep(): void {
		const now = Date.now();
		for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
	}

	async close(): Promise<void> {
		clearInterval(this.sweeper);
		this.windows.clear();
	}
}

// INCR and the first PEXPIRE must be atomic, or a crash between them leaves a key that never expires.
const HIT_SCRIPT = `
local count = redis.call("INCR", KEYS[1])
if count == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then redis.call("PEXPIRE", KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { count, ttl }
`;

export class RedisRateLimitStore implements RateLimitStore {
	private readonly redis: Redis;

	constructor(
		url: string,
		private readonly prefix: string,
	) {
		this.redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
		this.redis.on("error", () => undefined);
		this.redis.defineCommand("rateLimitHit", { numberOfKeys: 1, lua: HIT_SCRIPT });
	}

	/** Commands fail fast while disconnected (no offline queue), so wait for the first connection once. */
	ready(timeoutMs = 2_000): Promise<void> {
		if (this.redis.status === "ready") return Promise.resolve();
		return new Promise((resolve) => {
			const done = () => {
				clearTimeout(timer);
				this.redis.off("ready", done);
				resolve();
			};
			const timer = setTimeout(done, timeoutMs);
			this.redis.once("ready", done);
		});
	}

	async hit(key: string, windowMs: number): Promise<RateLimitHit> {
		const command = this.redis as Redis & { rateLimitHit(key: string, windowMs: number): Promise<[number, number]> };
		const [count, ttl] = await command.rateLimitHit(`${this.prefix}:${key}`, windowMs);
		return { count, resetAt: Date.now() + ttl };
	}

	async close(): Promise<void> {
		await this.redis.quit().catch(() => this.redis.disconnect());
	}
}

export interface RateLimitDecision {
	allowed: boolean;
	limit: number;
	remaining: number;
	/** Epoch seconds, as X-RateLimit-Reset is commonly read. */
	resetEpochSeconds: number;
	retryAfterSeconds: number;
}

export class RateLimiter {
	constructor(
		private readonly store: RateLimitStore,
		private readonly limit: number,
		private readonly windowMs: number,
		private readonly fallback: RateLimitStore = new MemoryRateLimitStore(),
	) {}

	ready(): Promise<void> {
		return this.store.ready();
	}

	/** When Redis is unreachable the gateway keeps limiting per node rather than failing every request. */
	async consume(key: string): Promise<RateLimitDecision> {
		let hit: RateLimitHit;
		try {
			hit = await this.store.hit(key, this.windowMs);
		} catch {
			hit = await this.fallback.hit(key, this.windowMs);
		}
		return this.decide(hit);
	}

	/**
	 * consume, synchronously, when the store is this process's memory (no Redis): the same count and the
	 * same decision, without the promise hops of an async store on every request. Undefined otherwise: the
	 * caller then awaits consume.
	 */
	consumeNow(key: string): RateLimitDecision | undefined {
		return this.store instanceof MemoryRateLimitStore ? this.decide(this.store.hitNow(key, this.windowMs)) : undefined;
	}

	private decide(hit: RateLimitHit): RateLimitDecision {
		const retryAfterSeconds = Math.max(1, Math.ceil((hit.resetAt - Date.now()) / 1000));
		return {
			allowed: hit.count <= this.limit,
			limit: this.limit,
			remaining: Math.max(0, this.limit - hit.count),
			resetEpochSeconds: Math.ceil(hit.resetAt / 1000),
			retryAfterSeconds,
		};
	}

	async close(): Promise<void> {
		await Promise.all([this.store.close(), this.fallback.close()]);
	}
}
