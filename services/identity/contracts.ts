/**
 * The identity domain's public face: what other domains may import from it (and nothing else).
 *
 * For now the DTOs and names are re-exported from the service files that declare them (users, auth): those
 * files are being changed elsewhere, and the declarations move here in the identity domain's own slice. The
 * payload types of what identity publishes are declared here.
 */
import type { PublicUser } from "./users.service";

export { USER_CHANNELS, USER_EVENTS } from "./users.service";
export type { PublicUser } from "./users.service";
export type { TokenSet } from "./auth.service";

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

/** Broadcast whenever a caller's state changes; the payload says whose (see AuthStateChange). */
export const AUTH_STATE_CHANGED = "auth.stateChanged";

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
