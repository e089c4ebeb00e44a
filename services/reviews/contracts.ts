/**
 * The reviews domain's public face: what other domains may import from it (and nothing else; lint
 * enforces it). DTOs as callers receive them (a TypeBox schema, which the OpenAPI document shows, and its
 * Static type, which the service returns), the names of the events it emits and the durable channels it
 * publishes, and the payloads those carry.
 */
import { DateTime, Enum, Type, Uuid, type Static } from "../../lib/schema";
import { REVIEW_STATUSES } from "../../models/reviews/reviews/review.model";

// --- Reviews ---------------------------------------------------------------------------------------

/** A review as the API answers it and events carry it. */
export const PublicReviewSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	name: Type.String(),
	description: Type.String(),
	status: Enum(REVIEW_STATUSES),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicReview = Static<typeof PublicReviewSchema>;

/** How `GET /reviews` sorts: a field ascending, or with `-` descending. */
export const REVIEW_SORTS = ["createdAt", "-createdAt", "name", "-name"] as const;
export type ReviewSort = (typeof REVIEW_SORTS)[number];

/** Events (fire and forget: cache-like reactions, realtime pushes) a review's changes emit, with `{ review }` (ReviewEvent). */
export const REVIEW_EVENTS = {
	created: "review.created",
	updated: "review.updated",
	deleted: "review.deleted",
} as const;

/** What the `review.*` events carry; `review.updated` also names the `changed` fields. */
export interface ReviewEvent {
	review: PublicReview;
	changed?: string[];
}

/*
 * Durable channels (JetStream, written through the outbox in the same transaction as the change, see
 * mixins/outbox.mixin.ts) go here when another domain must not miss a change, with their message types:
 *
 *   export const REVIEW_CHANNELS = { archived: "reviews.review.archived" } as const;
 *   export interface ReviewMessage { reviewId: string; review: PublicReview }
 *
 * Consumers import the name and the type from here; they never spell the channel or redeclare its payload.
 */
