import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/**
 * queued: waiting for a worker; running: a worker renders it; succeeded / failed / canceled: final. The
 * migration's CHECK holds the same list.
 */
export const SCREENSHOT_JOB_STATUSES = ["queued", "running", "succeeded", "failed", "canceled"] as const;
export type ScreenshotJobStatus = (typeof SCREENSHOT_JOB_STATUSES)[number];
export const FINAL_STATUSES: readonly ScreenshotJobStatus[] = ["succeeded", "failed", "canceled"];

/** capture: a page on devices; store_set: a store set's screens for every locale and store size, and their ZIP. */
export const SCREENSHOT_JOB_KINDS = ["capture", "store_set"] as const;
export type ScreenshotJobKind = (typeof SCREENSHOT_JOB_KINDS)[number];

/** The moves a job's status may make (AggregateMixin's guard): a redelivered job is claimed again while running. */
export const SCREENSHOT_JOB_TRANSITIONS: Record<ScreenshotJobStatus, readonly ScreenshotJobStatus[]> = {
	queued: ["running", "failed", "canceled"],
	running: ["running", "succeeded", "failed", "canceled"],
	succeeded: [],
	failed: [],
	canceled: [],
};

/** Columns are snake_case in PostgreSQL (the shared pool defines models `underscored`), camelCase here. */
export const ScreenshotJobModel: ModelDefinition<"screenshotJob", ScreenshotJobRow, "status" | "progress" | "attempts"> = {
	name: "screenshotJob",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		/** The owning tenant: identity's tenant id, a plain value (no foreign key across services). */
		tenantId: { type: DataTypes.UUID, allowNull: false },
		/** The user who asked (progress and notifications go to them), or the API key. */
		createdBy: { type: DataTypes.UUID, allowNull: true },
		creatorKind: { type: DataTypes.STRING(16), allowNull: false },
		status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "queued" },
		/** 0–100: the share of targets rendered and stored. */
		progress: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		/** The capture options as accepted, without html, headers and cookies (see the next columns). */
		input: { type: DataTypes.JSONB, allowNull: false },
		html: { type: DataTypes.TEXT, allowNull: true },
		/** Extra headers and cookies, sealed with SECRETS_KEY (they may be the caller's session on another site). */
		credentials: { type: DataTypes.TEXT, allowNull: true },
		/** What to render on, resolved from the device catalogue when the job was accepted. */
		targets: { type: DataTypes.JSONB, allowNull: false },
		/** Images the job counts against the monthly quota (one per target). */
		images: { type: DataTypes.INTEGER, allowNull: false },
		/** Times a worker took the job. */
		attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		errorCode: { type: DataTypes.STRING(40), allowNull: true },
		error: { type: DataTypes.TEXT, allowNull: true },
		startedAt: { type: DataTypes.DATE, allowNull: true },
		finishedAt: { type: DataTypes.DATE, allowNull: true },
		kind: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "capture" },
		/** The store set a `store_set` job renders (its screens, captions and theme are copied into `input`). */
		storeSetId: { type: DataTypes.UUID, allowNull: true },
		/** A `store_set` job's ZIP in fastlane's layout, once stored. */
		archiveFileId: { type: DataTypes.UUID, allowNull: true },
		archiveBytes: { type: DataTypes.BIGINT, allowNull: true },
	},
	options: { tableName: "screenshot_jobs" },
};

/** One image of a job: one per (job, target), so a rerun finds what it already stored instead of doubling it. */
export const ScreenshotResultModel: ModelDefinition<"screenshotResult", ScreenshotResultRow, "blockedRequests"> = {
	name: "screenshotResult",
	define: {
		jobId: { type: DataTypes.UUID, primaryKey: true },
		targetId: { type: DataTypes.STRING(64), primaryKey: true },
		fileId: { type: DataTypes.UUID, allowNull: false },
		format: { type: DataTypes.STRING(8), allowNull: false },
		width: { type: DataTypes.INTEGER, allowNull: false },
		height: { type: DataTypes.INTEGER, allowNull: false },
		bytes: { type: DataTypes.INTEGER, allowNull: false },
		/** Requests of the page the outbound guard or the ad list refused (the page rendered without them). */
		blockedRequests: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		/** A store set's image: its device (targetId is then device/locale/screen), locale and screen (1, 2, …; null for the feature graphic). */
		device: { type: DataTypes.STRING(64), allowNull: true },
		locale: { type: DataTypes.STRING(16), allowNull: true },
		screen: { type: DataTypes.INTEGER, allowNull: true },
	},
	options: { tableName: "screenshot_results" },
};

export interface ScreenshotTarget {
	/** A device id of GET /devices, or "custom" for an explicit viewport. */
	id: string;
	name: string;
	viewport: { width: number; height: number };
	deviceScaleFactor: number;
	isMobile: boolean;
	hasTouch: boolean;
	userAgent?: string;
	/** The pixel size of a viewport capture (full-page and element captures are as tall or wide as what they show). */
	screenshot: { width: number; height: number };
}

/** A row as Sequelize gives it. */
export interface ScreenshotJobRow {
	id: string;
	tenantId: string;
	createdBy: string | null;
	creatorKind: "user" | "api_key" | "system";
	status: ScreenshotJobStatus;
	progress: number;
	input: Record<string, unknown>;
	html: string | null;
	credentials: string | null;
	targets: ScreenshotTarget[];
	images: number;
	attempts: number;
	errorCode: string | null;
	error: string | null;
	startedAt: Date | null;
	finishedAt: Date | null;
	kind: ScreenshotJobKind;
	storeSetId: string | null;
	archiveFileId: string | null;
	/** BIGINT: pg answers a string. */
	archiveBytes: string | number | null;
	createdAt: Date;
	updatedAt: Date;
}

export interface ScreenshotResultRow {
	jobId: string;
	targetId: string;
	fileId: string;
	format: string;
	width: number;
	height: number;
	bytes: number;
	blockedRequests: number;
	device: string | null;
	locale: string | null;
	screen: number | null;
	createdAt: Date;
	updatedAt: Date;
}
