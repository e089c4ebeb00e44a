/**
 * The screenshots domain's public face: what other domains may import from it (and nothing else; lint
 * enforces it). DTOs as callers receive them (a TypeBox schema, which the OpenAPI document shows, and its
 * Static type, which the services return), the events the jobs emit, the durable channels they publish, and
 * the payloads those carry.
 */
import { DateTime, Enum, Nullable, Type, Uuid, type Static } from "../../lib/schema";
import { SCREENSHOT_JOB_KINDS, SCREENSHOT_JOB_STATUSES } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import { APP_PLATFORMS, CAPTION_POSITIONS, FRAME_STYLES } from "../../models/screenshots/store-sets/store-set.model";

export { SCREENSHOT_JOB_KINDS, SCREENSHOT_JOB_STATUSES, type ScreenshotJobKind, type ScreenshotJobStatus } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
export { APP_PLATFORMS, CAPTION_POSITIONS, FRAME_STYLES, type AppPlatform, type StoreTheme } from "../../models/screenshots/store-sets/store-set.model";

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
	locale: Type.Optional(Type.String({ description: "A store set's image: its locale" })),
	screen: Type.Optional(Nullable(Type.Integer({ minimum: 1, description: "A store set's image: its screen (1, 2, …); null for the feature graphic" }))),
	path: Type.Optional(Type.String({ description: "A store set's image: where it is in the ZIP" })),
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
	kind: Enum(SCREENSHOT_JOB_KINDS, { description: "capture: a page on devices; store_set: a store set rendered for every locale and store size" }),
	storeSetId: Nullable(Uuid),
	status: Enum(SCREENSHOT_JOB_STATUSES),
	progress: Type.Integer({ minimum: 0, maximum: 100, description: "Percent of the targets rendered and stored" }),
	source: Type.Object({ url: Nullable(Type.String()), html: Type.Boolean({ description: "True when the job renders posted HTML" }) }),
	options: Type.Record(Type.String(), Type.Unknown(), { description: "The capture options as accepted (header and cookie values are not shown)" }),
	targets: Type.Array(ScreenshotTargetSchema),
	results: Type.Array(ScreenshotResultSchema),
	archive: Nullable(
		Type.Object(
			{
				fileId: Uuid,
				bytes: Type.Integer({ minimum: 0 }),
				url: Type.Optional(Type.String({ description: "A presigned download URL (GET /screenshot-jobs/:id only)" })),
				expiresAt: Type.Optional(DateTime),
			},
			{ description: "A store set job's ZIP, laid out as fastlane deliver and supply read it; null until stored (and for capture jobs)" },
		),
	),
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

// --- Apps and store sets ------------------------------------------------------------------------------------

/** An app of a tenant (GET /apps/:id). */
export const PublicAppSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	name: Type.String(),
	bundleId: Nullable(Type.String({ description: "iOS bundle id" })),
	packageName: Nullable(Type.String({ description: "Android package name" })),
	appStoreId: Nullable(Type.String({ description: "The App Store's numeric id" })),
	platforms: Type.Array(Enum(APP_PLATFORMS)),
	iconFileId: Nullable(Uuid),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicApp = Static<typeof PublicAppSchema>;

const Color = Type.String({ pattern: "^#[0-9A-Fa-f]{6}$" });

export const StoreThemeSchema = Type.Object({
	backgroundColor: Color,
	gradient: Nullable(Type.Object({ from: Color, to: Color, angle: Type.Integer({ minimum: 0, maximum: 360 }) })),
	backgroundImageFileId: Nullable(Uuid),
	font: Type.String({ description: "A bundled open font: inter or lora" }),
	captionPosition: Enum(CAPTION_POSITIONS),
	captionColor: Color,
	frameColor: Color,
});

/** One screen of a store set. */
export const PublicStoreScreenSchema = Type.Object({
	id: Uuid,
	position: Type.Integer({ minimum: 1 }),
	fileId: Uuid,
	tabletFileId: Nullable(Uuid),
	captions: Type.Record(Type.String(), Type.String(), { description: "locale → caption" }),
});
export type PublicStoreScreen = Static<typeof PublicStoreScreenSchema>;

/** A store set (GET /store-sets/:id): an app's screens, captions per locale, theme and frame. */
export const PublicStoreSetSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	appId: Uuid,
	name: Type.String(),
	locales: Type.Array(Type.String(), { description: "BCP 47 tags" }),
	storeLocales: Type.Array(Type.Object({ tag: Type.String(), appStore: Type.String(), googlePlay: Type.String() }), { description: "Each locale's folder for deliver (App Store) and supply (Google Play)" }),
	theme: StoreThemeSchema,
	frame: Enum(FRAME_STYLES, { description: "device: a phone or tablet frame drawn in CSS; none: the bare screenshot" }),
	screens: Type.Array(PublicStoreScreenSchema),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicStoreSet = Static<typeof PublicStoreSetSchema>;

/** What POST /apps/:id/import answers. */
export const StoreImportSchema = Type.Object({
	app: PublicAppSchema,
	storeSet: PublicStoreSetSchema,
	source: Type.Object({ store: Enum(["app_store", "google_play"] as const), id: Type.String(), country: Type.String(), url: Type.String() }),
	screenshots: Type.Array(Type.Object({ device: Enum(["iphone", "ipad", "phone"] as const), fileId: Uuid, url: Type.String({ description: "Where the store serves it" }) })),
});
export type StoreImport = Static<typeof StoreImportSchema>;

/** Events (fire and forget) with `{ app }` / `{ storeset }`. */
export const APP_EVENTS = { created: "app.created", updated: "app.updated", deleted: "app.deleted" } as const;
export const STORE_SET_EVENTS = { created: "store_set.created", updated: "store_set.updated", deleted: "store_set.deleted" } as const;

export interface AppEvent {
	app: PublicApp;
}

export interface StoreSetEvent {
	storeset: PublicStoreSet;
}
