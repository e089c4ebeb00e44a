/**
 * The screenshots domain's public face: what other domains may import from it (and nothing else; lint
 * enforces it). DTOs as callers receive them (a TypeBox schema, which the OpenAPI document shows, and its
 * Static type, which the services return), the events the jobs emit, the durable channels they publish, and
 * the payloads those carry.
 */
import { DateTime, Enum, Nullable, Type, Uuid, type Static } from "../../lib/schema";
import { SCREENSHOT_JOB_STATUSES } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";

export { SCREENSHOT_JOB_STATUSES, type ScreenshotJobStatus } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";

// --- Devices ----------------------------------------------------------------------------------------------

const Size = Type.Object({ width: Type.Integer({ minimum: 1 }), height: Type.Integer({ minimum: 1 }) });

/** A device a screenshot can be taken on (GET /devices). */
export const PublicDeviceSchema = Type.Object({
	id: Type.String({ description: "What `devices` of a job names" }),
	name: Type.String(),
	kind: Enum(["device", "store"] as const, { description: "device: Playwright's descriptor of a real device; store: a size the App Store or Google Play requires" }),
	viewport: Type.Object({ width: Type.Number({ exclusiveMinimum: 0 }), height: Type.Number({ exclusiveMinimum: 0 }) }, { description: "CSS pixels" }),
	deviceScaleFactor: Type.Number({ exclusiveMinimum: 0 }),
	isMobile: Type.Boolean(),
	hasTouch: Type.Boolean(),
	userAgent: Type.String(),
	screenshot: Type.Object({ width: Type.Integer({ minimum: 1 }), height: Type.Integer({ minimum: 1 }) }, { description: "Pixels of a viewport capture: viewport × scale, rounded" }),
});
export type PublicDevice = Static<typeof PublicDeviceSchema>;

export const DeviceListSchema = Type.Object({ devices: Type.Array(PublicDeviceSchema) });

// --- Screenshot jobs ---------------------------------------------------------------------------------------

export const SCREENSHOT_FORMATS = ["png", "jpeg", "webp"] as const;
export type ScreenshotFormat = (typeof SCREENSHOT_FORMATS)[number];
export const WAIT_UNTIL = ["load", "domcontentloaded", "networkidle"] as const;

/** One image of a job. */
export const ScreenshotResultSchema = Type.Object({
	target: Type.String({ description: "The device id, or `custom` for an explicit viewport" }),
	fileId: Uuid,
	format: Enum(SCREENSHOT_FORMATS),
	width: Type.Integer({ minimum: 1 }),
	height: Type.Integer({ minimum: 1 }),
	bytes: Type.Integer({ minimum: 0 }),
	blockedRequests: Type.Integer({ minimum: 0, description: "Requests the outbound guard or the ad list refused; the page rendered without them" }),
	url: Type.Optional(Type.String({ description: "A presigned download URL (GET /screenshot-jobs/:id only)" })),
	expiresAt: Type.Optional(DateTime),
});
export type ScreenshotResult = Static<typeof ScreenshotResultSchema>;

/** What a job renders on: a device of GET /devices, or the explicit viewport (`custom`). */
export const ScreenshotTargetSchema = Type.Object({
	id: Type.String(),
	name: Type.String(),
	viewport: Size,
	deviceScaleFactor: Type.Number(),
	isMobile: Type.Boolean(),
	hasTouch: Type.Boolean(),
	screenshot: Size,
});

/** A screenshot job as the API answers it and events carry it. */
export const PublicScreenshotJobSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	status: Enum(SCREENSHOT_JOB_STATUSES),
	progress: Type.Integer({ minimum: 0, maximum: 100, description: "Percent of the targets rendered and stored" }),
	source: Type.Object({ url: Nullable(Type.String()), html: Type.Boolean({ description: "True when the job renders posted HTML" }) }),
	options: Type.Record(Type.String(), Type.Unknown(), { description: "The capture options as accepted (header and cookie values are not shown)" }),
	targets: Type.Array(ScreenshotTargetSchema),
	results: Type.Array(ScreenshotResultSchema),
	error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
	attempts: Type.Integer({ minimum: 0 }),
	createdBy: Nullable(Uuid),
	startedAt: Nullable(DateTime),
	finishedAt: Nullable(DateTime),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicScreenshotJob = Static<typeof PublicScreenshotJobSchema>;

/** How `GET /screenshot-jobs` sorts. */
export const SCREENSHOT_JOB_SORTS = ["createdAt", "-createdAt"] as const;
export type ScreenshotJobSort = (typeof SCREENSHOT_JOB_SORTS)[number];

/** Events (fire and forget: caches, realtime pushes, a worker abandoning a canceled job) with `{ screenshotjob }`. */
export const SCREENSHOT_JOB_EVENTS = {
	queued: "screenshot_job.queued",
	progressed: "screenshot_job.progressed",
	succeeded: "screenshot_job.succeeded",
	failed: "screenshot_job.failed",
	canceled: "screenshot_job.canceled",
	deleted: "screenshot_job.deleted",
} as const;

/** What the `screenshot_job.*` events carry. */
export interface ScreenshotJobEvent {
	screenshotjob: PublicScreenshotJob;
}

/**
 * Durable channels. `render` carries work to the screenshot workers (the job's id; the worker claims the job and
 * reads everything else from it); `succeeded` and `failed` announce a finished job to other domains
 * (notifications). All three are written through the jobs' outbox in the transaction that changes the job.
 */
export const SCREENSHOT_CHANNELS = {
	render: "screenshots.job.render",
	succeeded: "screenshots.job.succeeded",
	failed: "screenshots.job.failed",
} as const;

export interface ScreenshotRenderMessage {
	screenshotjobId: string;
	tenantId: string;
}

/** `screenshots.job.succeeded|failed`: the job as it finished. */
export interface ScreenshotJobMessage {
	screenshotjobId: string;
	screenshotjob: PublicScreenshotJob;
}
