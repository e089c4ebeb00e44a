/**
 * The shapes of the screenshot-jobs service, shared by its API (screenshot-jobs.service.ts) and the actions the
 * workers drive a job through (job-lifecycle.ts).
 */
import type { Context } from "moleculer";
import type { Transaction } from "sequelize";
import type { DbService } from "../../mixins/db.mixin";
import type { AggregateMethods } from "../../mixins/aggregate.mixin";
import type { OutboxMethods } from "../../mixins/outbox.mixin";
import type { CallerMeta } from "../../lib/caller";
import type { ForbiddenError } from "../../lib/errors";
import type { OutboundClient } from "../../lib/outbound/client";
import type { SecretBox } from "../../lib/secret-box";
import type {
	ScreenshotJobKind,
	ScreenshotJobModel,
	ScreenshotJobRow,
	ScreenshotJobStatus,
	ScreenshotResultModel,
	ScreenshotResultRow,
	ScreenshotTarget,
} from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import type { PublicScreenshotJob } from "./contracts";
import type { CaptureOptions, JobCredentials } from "./job-input";
import type { StoreSetSnapshot } from "./store-set-job";

export type JobsContext<P> = Context<P, CallerMeta & { $statusCode?: number; $responseHeaders?: Record<string, string> }>;

/** What `screenshot-jobs.claim` hands a worker: everything it needs to render the job. */
export interface RenderSpec {
	id: string;
	tenantId: string;
	kind: ScreenshotJobKind;
	/** This claim's number (1 for the first worker to take the job). */
	attempt: number;
	url: string | null;
	html: string | null;
	options: CaptureOptions;
	credentials: JobCredentials;
	targets: ScreenshotTarget[];
	/** Targets (a store set's: item keys) already stored by an earlier attempt: not rendered again. */
	done: string[];
	/** A `store_set` job's store set as it was when the render was asked for. */
	storeSet?: StoreSetSnapshot;
}

/** What `enqueue` makes a job of (a capture's request, or a store set's render). */
export interface EnqueueRequest {
	tenantId: string;
	kind: ScreenshotJobKind;
	storeSetId: string | null;
	input: Record<string, unknown>;
	html: string | null;
	credentials: JobCredentials | null;
	targets: ScreenshotTarget[];
	images: number;
}

/** `screenshot-jobs.recordResult`. */
export interface RecordResultParams {
	id: string;
	target: string;
	fileId: string;
	format: string;
	width: number;
	height: number;
	bytes: number;
	blockedRequests: number;
	/** A store set's image (target is then its item key). */
	device?: string;
	locale?: string;
	screen?: number | null;
}

/** `screenshot-jobs.recordArchive`: a store set job's ZIP. */
export interface RecordArchiveParams {
	id: string;
	fileId: string;
	bytes: number;
}

/** What the workers are told after each step: stop unless the job is still running. */
export interface JobState {
	status: ScreenshotJobStatus | "deleted";
}

/** `screenshot-jobs.finish`: without `error` the job succeeded. */
export interface FinishParams {
	id: string;
	error?: { code: string; message: string };
}

export interface JobsMethods extends AggregateMethods<ScreenshotJobRow, ScreenshotJobStatus, PublicScreenshotJob> {
	present(row: ScreenshotJobRow, transaction?: Transaction): Promise<PublicScreenshotJob>;
	presentWith(row: ScreenshotJobRow, results: ScreenshotResultRow[]): PublicScreenshotJob;
	resultsOf(jobIds: string[]): Promise<Map<string, ScreenshotResultRow[]>>;
	withDownloadUrl<T extends { fileId: string }>(result: T): Promise<T & { url?: string; expiresAt?: string }>;
	enqueue(ctx: JobsContext<unknown>, request: EnqueueRequest): Promise<PublicScreenshotJob>;
	monthlyImages(tenantId: string, transaction?: Transaction): Promise<number>;
	overQuota(maximum: number, requested: number): ForbiddenError;
	removeFile(fileId: string): Promise<void>;
	isFinal(status: ScreenshotJobStatus): boolean;
	pushProgress(job: PublicScreenshotJob): void;
	finishJob(ctx: Context, row: ScreenshotJobRow, error?: FinishParams["error"]): Promise<PublicScreenshotJob>;
}

export interface JobsLocals {
	outbound: OutboundClient;
	secretBox: SecretBox;
}

export type JobsThis = DbService<typeof ScreenshotJobModel, typeof ScreenshotResultModel> & JobsMethods & JobsLocals & OutboxMethods;
