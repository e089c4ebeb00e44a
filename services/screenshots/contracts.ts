/**
 * The screenshots domain's public face: what other domains may import from it (and nothing else; lint
 * enforces it). DTOs as callers receive them (a TypeBox schema, which the OpenAPI document shows, and its
 * Static type, which the service returns), the names of the events it emits and the durable channels it
 * publishes, and the payloads those carry.
 */
import { DateTime, Enum, Type, Uuid, type Static } from "../../lib/schema";
import { SCREENSHOT_JOB_STATUSES } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";

// --- Screenshot jobs ---------------------------------------------------------------------------------------

/** A screenshot job as the API answers it and events carry it. */
export const PublicScreenshotJobSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	name: Type.String(),
	description: Type.String(),
	status: Enum(SCREENSHOT_JOB_STATUSES),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicScreenshotJob = Static<typeof PublicScreenshotJobSchema>;

/** How `GET /screenshot-jobs` sorts: a field ascending, or with `-` descending. */
export const SCREENSHOT_JOB_SORTS = ["createdAt", "-createdAt", "name", "-name"] as const;
export type ScreenshotJobSort = (typeof SCREENSHOT_JOB_SORTS)[number];

/** Events (fire and forget: cache-like reactions, realtime pushes) a screenshot job's changes emit, with `{ screenshotjob }` (ScreenshotJobEvent). */
export const SCREENSHOT_JOB_EVENTS = {
	created: "screenshot_job.created",
	updated: "screenshot_job.updated",
	deleted: "screenshot_job.deleted",
} as const;

/** What the `screenshot_job.*` events carry; `screenshot_job.updated` also names the `changed` fields. */
export interface ScreenshotJobEvent {
	screenshotjob: PublicScreenshotJob;
	changed?: string[];
}

/*
 * Durable channels (JetStream, written through the outbox in the same transaction as the change, see
 * mixins/outbox.mixin.ts) go here when another domain must not miss a change, with their message types:
 *
 *   export const SCREENSHOT_JOB_CHANNELS = { archived: "screenshots.screenshot_job.archived" } as const;
 *   export interface ScreenshotJobMessage { screenshotjobId: string; screenshotjob: PublicScreenshotJob }
 *
 * Consumers import the name and the type from here; they never spell the channel or redeclare its payload.
 */
