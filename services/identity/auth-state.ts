/**
 * How the identity domain announces that a caller's state changed (an account suspended, deleted, its persona
 * or password changed, a session ended, a membership removed or its role changed, an API key revoked): a
 * broker *broadcast* of AUTH_STATE_CHANGED (services/identity/contracts.ts), so every gateway forgets the
 * callers it cached (lib/gateway/caller-cache.ts). And the auth service's own cache of verified tokens.
 */
import type { ServiceBroker } from "moleculer";
import { ExpiringMap } from "../../lib/expiring-map";
import { AUTH_STATE_CHANGED, type AuthStateChange } from "./contracts";

/** Announces a change to every node; never throws (the TTL still bounds what a lost announcement leaves). */
export function broadcastAuthStateChange(broker: ServiceBroker, change: AuthStateChange): void {
	try {
		void Promise.resolve(broker.broadcast(AUTH_STATE_CHANGED, change)).catch((err: Error) => broker.logger.warn("Broadcasting an auth state change failed:", err.message));
	} catch (err) {
		broker.logger.warn("Broadcasting an auth state change failed:", (err as Error).message);
	}
}

/** Verified tokens an auth node remembers (as many as a gateway remembers callers); the oldest go first. */
const VERIFIED_TOKENS_MAX_ENTRIES = 20_000;

/** Verified token claims by token hash until the token expires, so a signature is checked once per token. */
export class VerifiedTokens<T> extends ExpiringMap<T> {
	constructor(maxEntries = VERIFIED_TOKENS_MAX_ENTRIES) {
		super(maxEntries);
	}
}
