/**
 * Logging a repeated condition once per window instead of once per occurrence: a service with no live node
 * fails every request for it, and a line per request (and per retry) buries everything else in the log.
 */
import type { ServiceBroker } from "moleculer";

export class LogThrottle {
	private readonly seen = new Map<string, { since: number; suppressed: number }>();

	constructor(
		readonly windowMs = 60_000,
		private readonly maxKeys = 1_000,
	) {}

	/**
	 * Whether to log `key` now, and how many occurrences went unlogged since it last was; undefined while
	 * the window of its last line lasts (the occurrence is counted).
	 */
	admit(key: string, now = Date.now()): { suppressed: number } | undefined {
		const entry = this.seen.get(key);
		if (entry && now - entry.since < this.windowMs) {
			entry.suppressed += 1;
			return undefined;
		}
		this.seen.delete(key);
		this.seen.set(key, { since: now, suppressed: 0 });
		if (this.seen.size > this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
		return { suppressed: entry?.suppressed ?? 0 };
	}
}

/**
 * Moleculer's per-call warnings about an action that no node answers: none to run it ("Service 'x' is not
 * available."), no answer in time ("Request 'x' is timed out."), and the retries of such a call. Each
 * pattern matches the part of the message that names the action, which is what they are counted by.
 */
const PER_CALL_WARNINGS = [/^Service '[^']+' is not (registered|available|found)[^.]*\./, /^Request '[^']+' is timed out\./, /^Retry to call '[^']+' action/];

/**
 * The broker warns on every call to an action without a live node, on every timed-out call and every
 * retry. Those warnings are kept, once per action and window, with the count of the ones left out; every
 * other broker warning passes as it is.
 */
export function throttleUnavailableWarnings(broker: ServiceBroker, throttle = new LogThrottle()): void {
	const logger = broker.logger;
	const warn = logger.warn.bind(logger);
	logger.warn = (...args: unknown[]) => {
		const message = args[0];
		const key = typeof message === "string" ? PER_CALL_WARNINGS.map((pattern) => pattern.exec(message)?.[0]).find(Boolean) : undefined;
		if (!key) return warn(...args);
		const admitted = throttle.admit(key);
		if (!admitted) return;
		const earlier = admitted.suppressed > 0 ? ` (${admitted.suppressed} more since the last report)` : "";
		return warn(`${String(message)}${earlier}; repeats are counted, not logged, for ${throttle.windowMs / 1000} s`, ...args.slice(1));
	};
}
