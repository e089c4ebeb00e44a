/**
 * The identity domain's public face: what other domains may import from it (and nothing else): its public
 * DTOs, the names of the events it emits and broadcasts and of its durable channels, and their payloads.
 */
import type { PublicUser } from "./api-schemas";

// --- Users -----------------------------------------------------------------------------------------------

export const USER_EVENTS = { statusChanged: "user.statusChanged", deleted: "user.deleted", created: "user.created" } as const;

/**
 * Durable channels the outbox relay publishes to, with `{ userId, user }` (the public user, as the
 * `user.created` event carries it); notifications consumes them.
 */
export const USER_CHANNELS = { created: "identity.user.created" } as const;

/** `identity.user.created`, from users' outbox: the public user, as the `user.created` event carries it. */
export interface UserCreatedMessage {
	userId: string;
	user: PublicUser;
}

/** `user.created` (emitted). */
export interface UserCreatedEvent {
	user: PublicUser;
}

/** `user.statusChanged` (broadcast to every node: sessions and sockets of a suspended user end). */
export interface UserStatusChangedEvent {
	userId: string;
	status: PublicUser["status"];
}

/** `user.deleted` (broadcast to every node). */
export interface UserDeletedEvent {
	userId: string;
}

// --- Auth ------------------------------------------------------------------------------------------------

/** What login, refresh, register and a tenant switch answer (with more fields of their own). */
export interface TokenSet {
	accessToken: string;
	refreshToken: string;
	tokenType: "Bearer";
	expiresIn: number;
}

/** Broadcast whenever a caller's state changes; the payload says whose (see AuthStateChange). */
export const AUTH_STATE_CHANGED = "auth.stateChanged";

/** Identity's broadcasts: `stateChanged` (AuthStateChange), `signingKeysRotated` (SigningKeysRotatedEvent). */
export const AUTH_EVENTS = { stateChanged: AUTH_STATE_CHANGED, signingKeysRotated: "auth.signingKeysRotated" } as const;

/** `auth.signingKeysRotated` (broadcast to every node: each auth service reloads its key ring). */
export interface SigningKeysRotatedEvent {
	kid: string;
}

/**
 * Which callers changed: every cached caller matching all the given fields is forgotten (a change naming
 * none forgets every caller). `reason` is for logs.
 */
export interface AuthStateChange {
	userId?: string;
	sessionId?: string;
	tenantId?: string;
	apiKeyId?: string;
	reason: string;
}

// --- API answers (in api-schemas.ts, which imports no service file, so services import them without a cycle)

export * from "./api-schemas";
