/**
 * A bounded map whose entries each carry their own expiry: read as missing once expired, and the oldest
 * entries dropped first once it holds more than `maxEntries`. The gateway's caller cache and the auth
 * service's verified tokens both keep what they know this way.
 */
export class ExpiringMap<V> {
	private readonly entries = new Map<string, { value: V; expiresAt: number }>();

	constructor(private readonly maxEntries: number) {}

	get size(): number {
		return this.entries.size;
	}

	/** The value, if present and not expired (an expired entry is removed on the way). */
	get(key: string): V | undefined {
		const entry = this.entries.get(key);
		if (!entry) return undefined;
		if (entry.expiresAt > Date.now()) return entry.value;
		this.entries.delete(key);
		return undefined;
	}

	/** Keeps the value until `expiresAt` (ms); a value already expired is not kept. Setting a key makes it the newest. */
	set(key: string, value: V, expiresAt: number): void {
		if (expiresAt <= Date.now()) return;
		this.entries.delete(key);
		this.entries.set(key, { value, expiresAt });
		if (this.entries.size > this.maxEntries) {
			// Map keeps insertion order: the first keys are the oldest.
			for (const oldest of this.entries.keys()) {
				this.entries.delete(oldest);
				if (this.entries.size <= this.maxEntries) break;
			}
		}
	}

	/** Removes one entry; answers whether it was there. */
	delete(key: string): boolean {
		return this.entries.delete(key);
	}

	/** Removes every entry whose value `matches`; answers how many went. */
	deleteWhere(matches: (value: V) => boolean): number {
		let count = 0;
		for (const [key, entry] of this.entries) {
			if (matches(entry.value)) {
				this.entries.delete(key);
				count += 1;
			}
		}
		return count;
	}

	clear(): number {
		const count = this.entries.size;
		this.entries.clear();
		return count;
	}
}
