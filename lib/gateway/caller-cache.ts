/**
 * The caller's auth state as every gateway node holds it: what `auth.resolveCredentials` answered for a
 * credential (a bearer token or an API key), remembered by the credential's SHA-256 so the next request with
 * it skips the round trip to the identity node, and dropped the moment something it depends on changes.
 *
 * Whatever changes a caller's state is announced by the identity domain as a broker *broadcast*
 * (`auth.stateChanged`, AUTH_STATE_CHANGED in services/identity/contracts.ts): every gateway forgets the
 * affected callers (`CallerCache.invalidate`) within the time the event takes over NATS. An event a node
 * misses (it was cut off from NATS) is bounded by the TTL: no entry outlives AUTH_STATE_TTL_MS, nor the
 * token it was resolved from. A gateway that reconnects to NATS forgets everything, since it may have
 * missed events meanwhile.
 */
import { hash } from "node:crypto";
import type { CallerMeta } from "../caller";
import { ExpiringMap } from "../expiring-map";

/** The safety net for a missed event: a resolved caller is asked again after this long at the latest. */
export const AUTH_STATE_TTL_MS = 10_000;
/** Callers a gateway node remembers; the oldest go first. */
export const AUTH_STATE_MAX_ENTRIES = 20_000;

/**
 * Which callers changed: every cached caller matching all the given fields is forgotten (a change naming
 * none forgets every caller); identity's AuthStateChange is one. `reason` is for logs.
 */
export interface CallerChange {
	userId?: string;
	sessionId?: string;
	tenantId?: string;
	apiKeyId?: string;
	reason?: string;
}

/** SHA-256 of the credential, by kind (one-shot `crypto.hash`: half the cost of a Hash object per request). */
export function credentialHash(kind: "token" | "key", credential: string): string {
	return hash("sha256", `${kind}\0${credential}`, "base64url");
}

/** The `exp` of a JWT in ms, read without verifying: only used to cap how long an already verified answer is kept. */
export function tokenExpiryMs(token: string): number | undefined {
	try {
		const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: unknown };
		return typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
	} catch {
		return undefined;
	}
}

function matches(caller: CallerMeta, change: CallerChange): boolean {
	if (change.userId !== undefined && caller.user?.id !== change.userId) return false;
	if (change.sessionId !== undefined && caller.sessionId !== change.sessionId) return false;
	if (change.tenantId !== undefined && caller.tenantId !== change.tenantId) return false;
	if (change.apiKeyId !== undefined && caller.apiKeyId !== change.apiKeyId) return false;
	return true;
}

/**
 * Resolved callers by credential hash. A resolution that was under way when a change arrived is not
 * stored (it may have read the state from before the change): every change bumps an epoch, and an answer
 * is kept only if the epoch it started in is still the current one. Concurrent requests with one
 * credential share a single resolution.
 */
export class CallerCache {
	private readonly entries: ExpiringMap<CallerMeta>;
	private readonly pending = new Map<string, Promise<CallerMeta>>();
	private epoch = 0;

	constructor(
		private readonly ttlMs = AUTH_STATE_TTL_MS,
		maxEntries = AUTH_STATE_MAX_ENTRIES,
	) {
		this.entries = new ExpiringMap(maxEntries);
	}

	get size(): number {
		return this.entries.size;
	}

	/**
	 * The caller for a credential: remembered, or resolved by `resolve` and remembered until `notAfter()` (ms,
	 * the token's expiry; asked only when resolving) or the TTL, whichever is first. Failures are not remembered.
	 */
	get(key: string, resolve: () => Promise<CallerMeta>, notAfter?: () => number | undefined): Promise<CallerMeta> {
		const known = this.peek(key);
		if (known) return Promise.resolve(known);
		const inFlight = this.pending.get(key);
		if (inFlight) return inFlight;
		const startedIn = this.epoch;
		const settle = () => {
			// A change meanwhile may have let a newer resolution of this credential take the slot.
			if (this.pending.get(key) === resolution) this.pending.delete(key);
		};
		const resolution: Promise<CallerMeta> = resolve().then(
			(caller) => {
				settle();
				if (startedIn === this.epoch) this.store(key, caller, Math.min(Date.now() + this.ttlMs, notAfter?.() ?? Number.POSITIVE_INFINITY));
				return caller;
			},
			(err: unknown) => {
				settle();
				throw err;
			},
		);
		this.pending.set(key, resolution);
		return resolution;
	}

	/**
	 * The remembered caller for a credential, if any and still fresh, without resolving: the gateway answers
	 * most requests from here synchronously, saving the promise hops of `get` on every request.
	 */
	peek(key: string): CallerMeta | undefined {
		return this.entries.get(key);
	}

	/** Forgets every caller the change concerns, and keeps resolutions under way from storing what they read. */
	invalidate(change: CallerChange): number {
		this.epoch += 1;
		// Resolutions under way were started before the change: later requests must not join them.
		this.pending.clear();
		const everyone = change.userId === undefined && change.sessionId === undefined && change.tenantId === undefined && change.apiKeyId === undefined;
		return everyone ? this.entries.clear() : this.entries.deleteWhere((caller) => matches(caller, change));
	}

	clear(): void {
		this.invalidate({ reason: "clear" });
	}

	private store(key: string, caller: CallerMeta, expiresAt: number): void {
		if (expiresAt <= Date.now()) return;
		// Frozen: on a single node the same object is handed to every request with this credential.
		if (caller.user) Object.freeze(caller.user);
		if (caller.scopes) Object.freeze(caller.scopes);
		Object.freeze(caller);
		this.entries.set(key, caller, expiresAt);
	}
}
