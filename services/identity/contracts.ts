/**
 * The identity domain's public face: what other domains may import from it (and nothing else).
 *
 * For now the DTOs and names are re-exported from the service files that declare them (users, auth): those
 * files are being changed elsewhere, and the declarations move here in the identity domain's own slice. The
 * payload types of what identity publishes are declared here.
 */
import type { PublicUser } from "./api-schemas";

export { USER_CHANNELS, USER_EVENTS } from "./users.service";
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

// --- API answers (in api-schemas.ts, which imports no service file, so services import them without a cycle)

export * from "./api-schemas";
