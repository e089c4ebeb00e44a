/**
 * How the screenshot workers drive a job (a mixin of screenshot-jobs.service.ts): internal actions, called with
 * system rights, never on the API.
 *
 * - `claim`: queued (or running, when a worker died and the message came back) → running, one attempt more;
 *   answers the render spec with the targets an earlier attempt already stored, or null when there is nothing
 *   to do (deleted, canceled, finished, or out of attempts, which fails the job).
 * - `recordResult`: one image per (job, target), a store set's per (job, size, locale, screen): a rerun's
 *   duplicate is ignored, never doubled; answers the job's status so the worker stops when it was canceled or
 *   deleted meanwhile.
 * - `recordArchive`: a store set job's ZIP, once every image is stored (the worker checks each before it zips).
 * - `finish`: running → succeeded or failed, the finished job written to SCREENSHOT_CHANNELS.succeeded|failed
 *   through the outbox in the same transaction. Of two workers finishing one job only one gets past the guard,
 *   so the job finishes (and notifies) once.
 *
 * Every step pushes the job's progress to its owner's sockets (realtime.deliver).
 */
import type { Context, ServiceSchema } from "moleculer";
import type { DbMixinSettings, DbServiceSchema } from "../../mixins/db.mixin";
import type { OutboxMethods } from "../../mixins/outbox.mixin";
import { REALTIME_EVENT, type RealtimeDelivery } from "../notifications/contracts";
import type { ScreenshotJobModel, ScreenshotJobRow, ScreenshotResultModel } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import { SCREENSHOT_CHANNELS, SCREENSHOT_JOB_EVENTS, type PublicScreenshotJob } from "./contracts";
import type { FinishParams, JobState, JobsLocals, JobsMethods, RecordArchiveParams, RecordResultParams, RenderSpec } from "./screenshot-jobs.types";
import type { CaptureOptions, JobCredentials } from "./job-input";
import type { StoreSetSnapshot } from "./store-set-job";

/** A job taken this many times without finishing (each taker crashed, or the render kept failing on infrastructure) fails. */
export const MAX_ATTEMPTS = 5;
/** The type of the realtime frames that carry a job's progress. */
export const PROGRESS_FRAME = "screenshot.job.progress";

const ID = { type: "uuid" } as const;

const JobLifecycleSchema: Partial<DbServiceSchema<DbMixinSettings, JobsMethods & OutboxMethods, JobsLocals, typeof ScreenshotJobModel, typeof ScreenshotResultModel>> = {
	actions: {
		claim: {
			visibility: "public",
			params: { id: ID },
			async handler(ctx: Context<{ id: string }>): Promise<RenderSpec | null> {
				const row = await this.loadRow(ctx.params.id);
				if (!row || this.isFinal(row.status)) return null;
				if (row.attempts >= MAX_ATTEMPTS) {
					await this.finishJob(ctx, row, { code: "GAVE_UP", message: `The job was started ${row.attempts} times without finishing` });
					return null;
				}
				const claimed = await this.guardedUpdate(row.id, row.status, { status: "running", attempts: row.attempts + 1, startedAt: row.startedAt ?? new Date() }, { where: { attempts: row.attempts } });
				// Canceled, deleted or claimed by another worker in the meantime: that one renders it.
				if (!claimed) return null;
				this.pushProgress(await this.present(claimed));
				const results = await this.models.screenshotResult.findAll({ where: { jobId: row.id }, attributes: ["targetId"] });
				const storeSet = claimed.kind === "store_set" ? (claimed.input as unknown as StoreSetSnapshot) : undefined;
				const { url, ...options } = (storeSet ? { url: null } : claimed.input) as unknown as { url: string | null } & CaptureOptions;
				return {
					id: claimed.id,
					tenantId: claimed.tenantId,
					kind: claimed.kind,
					attempt: claimed.attempts,
					url,
					html: claimed.html,
					options,
					storeSet,
					credentials: claimed.credentials ? (JSON.parse(this.secretBox.open(claimed.credentials, `screenshot-job:${claimed.id}:credentials`)) as JobCredentials) : { headers: {}, cookies: [] },
					targets: claimed.targets,
					done: results.map((result) => result.get({ plain: true }).targetId),
				};
			},
		},

		recordResult: {
			visibility: "public",
			params: {
				id: ID,
				target: "string|min:1|max:64",
				fileId: ID,
				format: "string|max:8",
				width: "number|integer|min:1",
				height: "number|integer|min:1",
				bytes: "number|integer|min:0",
				blockedRequests: "number|integer|min:0",
				device: { type: "string", max: 64, optional: true },
				locale: { type: "string", max: 16, optional: true },
				screen: { type: "number", integer: true, min: 1, optional: true, nullable: true },
			},
			async handler(ctx: Context<RecordResultParams>): Promise<JobState> {
				const { id, target, ...result } = ctx.params;
				const row = await this.loadRow(id);
				if (!row) return { status: "deleted" };
				if (row.status !== "running") return { status: row.status };
				try {
					await this.models.screenshotResult.bulkCreate([{ jobId: id, targetId: target, ...result }], { ignoreDuplicates: true });
				} catch (err) {
					// Deleted between the read and the insert (the results' foreign key).
					if ((err as Error).name === "SequelizeForeignKeyConstraintError") return { status: "deleted" };
					throw err;
				}
				const stored = await this.models.screenshotResult.count({ where: { jobId: id } });
				// 100 % only once the job has succeeded: storing the last image is not yet finishing.
				const progress = Math.min(99, Math.floor((stored / row.images) * 100));
				const updated = await this.guardedUpdate(id, "running", { status: "running", progress });
				if (!updated) return { status: (await this.loadRow(id))?.status ?? "deleted" };
				this.pushProgress(await this.present(updated));
				await this.entityChanged("updated", { id }, ctx);
				return { status: "running" };
			},
		},

		recordArchive: {
			visibility: "public",
			params: { id: ID, fileId: ID, bytes: "number|integer|min:0" },
			async handler(ctx: Context<RecordArchiveParams>): Promise<JobState> {
				const row = await this.loadRow(ctx.params.id);
				if (!row) return { status: "deleted" };
				if (row.status !== "running") return { status: row.status };
				const updated = await this.guardedUpdate(row.id, "running", { status: "running", archiveFileId: ctx.params.fileId, archiveBytes: ctx.params.bytes });
				return { status: updated ? "running" : ((await this.loadRow(row.id))?.status ?? "deleted") };
			},
		},

		finish: {
			visibility: "public",
			params: { id: ID, error: { type: "object", optional: true, props: { code: "string|min:1|max:40", message: "string|max:2000" } } },
			async handler(ctx: Context<FinishParams>): Promise<PublicScreenshotJob | null> {
				const row = await this.loadRow(ctx.params.id);
				if (!row) return null;
				return this.finishJob(ctx, row, ctx.params.error);
			},
		},
	},

	methods: {
		async finishJob(ctx: Context, row: ScreenshotJobRow, error?: FinishParams["error"]): Promise<PublicScreenshotJob> {
			const finishedAt = new Date();
			const changes = error
				? { status: "failed" as const, errorCode: error.code, error: error.message, finishedAt }
				: { status: "succeeded" as const, progress: 100, finishedAt };
			// A job fails from either state (a claim that gave up fails it while queued); it succeeds only from running.
			const { row: finished, changed } = await this.transition(row, error ? ["queued", "running"] : ["running"], changes, {
				channel: error ? SCREENSHOT_CHANNELS.failed : SCREENSHOT_CHANNELS.succeeded,
				// Finished (or canceled) by someone else first: that is the job's end, answered as it is.
				noOp: (current) => this.isFinal(current.status),
			});
			if (!changed) return this.present(finished);
			// USAGE (billing's `screenshots` metric, built on another branch): record `finished.images` images of
			// tenant `finished.tenantId` here, once per succeeded job (this branch runs once per job: the guard above).
			const job = await this.announce(ctx, error ? SCREENSHOT_JOB_EVENTS.failed : SCREENSHOT_JOB_EVENTS.succeeded, finished);
			this.pushProgress(job);
			return job;
		},

		/** The job's owner (the user who created it) sees its progress on every socket they have open. */
		pushProgress(job: PublicScreenshotJob) {
			if (!job.createdBy) return;
			const delivery: RealtimeDelivery = {
				users: [
					{
						userId: job.createdBy,
						message: {
							kind: "event",
							type: PROGRESS_FRAME,
							eventId: `${PROGRESS_FRAME}:${job.id}:${job.status}:${job.progress}`,
							tenantId: job.tenantId,
							data: { id: job.id, status: job.status, progress: job.progress, images: job.results.length, targets: job.targets.length, error: job.error },
						},
					},
				],
			};
			this.broker.broadcast(REALTIME_EVENT, delivery, { groups: ["realtime"] });
		},
	},
};

/** Typed against the jobs service it joins; a mixin is a plain schema part to the service that lists it. */
export const JobLifecycle = JobLifecycleSchema as Partial<ServiceSchema>;
