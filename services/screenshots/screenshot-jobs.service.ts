/**
 * Screenshot jobs of a tenant: a URL or an HTML document captured on devices (or an explicit viewport) by the
 * screenshot workers (screenshot-renderer.service.ts), each image stored as a file.
 *
 * This service owns the `screenshot_jobs` PostgreSQL schema (models/screenshots/screenshot-jobs/) and nothing
 * else. A job belongs to its tenant: every action that names one declares `scope`, so another tenant's id, a
 * malformed one and a missing one all answer 404; lists read through `this.scoped(ctx)` (DbMixin declares `owner: "tenant"`).
 *
 * A job is accepted (202) only within the tenant's monthly images (tenants.checkLimit `screenshotsPerMonth`),
 * and rides the durable channel SCREENSHOT_CHANNELS.render, written through the outbox in the transaction that
 * creates it. The workers drive it through the internal actions of job-lifecycle.ts; every status change is a
 * guarded transition (mixins/aggregate.mixin.ts).
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { Op, QueryTypes, type Transaction } from "sequelize";
import { DbMixin, PAGE_PARAMS, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AggregateMixin } from "../../mixins/aggregate.mixin";
import { OutboxMixin, outboxModel, type OutboxMethods } from "../../mixins/outbox.mixin";
import { IdempotencyMixin } from "../../mixins/idempotency.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { requireTenant, systemCall } from "../../lib/caller";
import { apiPath } from "../../lib/api-path";
import { ForbiddenError } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import { OutboundClient } from "../../lib/outbound/client";
import { SecretBox } from "../../lib/secret-box";
import { PageOf } from "../../lib/schema";
import {
	FINAL_STATUSES,
	SCREENSHOT_JOB_STATUSES,
	SCREENSHOT_JOB_TRANSITIONS,
	ScreenshotJobModel,
	ScreenshotResultModel,
	type ScreenshotJobRow,
	type ScreenshotJobStatus,
	type ScreenshotResultRow,
} from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import { SCREENSHOT_CHANNELS, SCREENSHOT_JOB_EVENTS, SCREENSHOT_JOB_SORTS, PublicScreenshotJobSchema, type PublicScreenshotJob, type ScreenshotJobSort, type ScreenshotResult } from "./contracts";
import { checkJobRequest, JOB_INPUT_ERRORS, JOB_PARAMS, targetOfDevice, type JobRequest } from "./job-input";
import { JobLifecycle } from "./job-lifecycle";
import { planStoreSetJob, type StoreSetSnapshot } from "./store-set-job";
import type { EnqueueRequest, JobsContext, JobsMethods, JobsLocals } from "./screenshot-jobs.types";

/** A screenshot job is its tenant's: another tenant's id answers 404, exactly like a missing one. */
const JOB_SCOPE = { entity: "screenshotJob", name: "Screenshot job" } as const;
const LIMIT = "screenshotsPerMonth";

type ListParams = {
	page: number;
	pageSize: number;
	sort: ScreenshotJobSort;
	status?: ScreenshotJobStatus;
	createdFrom?: Date;
	createdTo?: Date;
};

const ScreenshotJobsService: DbServiceSchema<DbMixinSettings, JobsMethods & OutboxMethods, JobsLocals, typeof ScreenshotJobModel, typeof ScreenshotResultModel> = {
	name: "screenshot-jobs",
	mixins: [
		DbMixin({
			schema: "screenshot_jobs",
			migrations: path.join(__dirname, "../../models/screenshots/screenshot-jobs/migrations"),
			model: ScreenshotJobModel,
			extraModels: [ScreenshotResultModel, outboxModel()],
			owner: "tenant",
			entityName: "Screenshot job",
		}),
		AggregateMixin({
			model: "screenshotJob",
			entityName: "ScreenshotJob",
			transitions: SCREENSHOT_JOB_TRANSITIONS,
			outboxExtra: (row) => ({ tenantId: row.tenantId }),
		}),
		OutboxMixin({ name: "Screenshot jobs outbox" }),
		IdempotencyMixin(),
		JobLifecycle,
	],

	actions: {
		listScreenshotJobs: {
			rest: "GET /",
			responses: { 200: { description: "A page of the tenant's screenshot jobs", body: PageOf(PublicScreenshotJobSchema) } },
			permissions: ["tenant:viewer"],
			summary: "The tenant's screenshot jobs, newest first unless `sort` says otherwise",
			params: {
				...PAGE_PARAMS,
				sort: { type: "enum", values: SCREENSHOT_JOB_SORTS, optional: true, default: "-createdAt", description: "createdAt, ascending, or with `-` descending" },
				status: { type: "enum", values: SCREENSHOT_JOB_STATUSES, optional: true },
				createdFrom: { type: "date", convert: true, optional: true, description: "Jobs created at or after this time (ISO 8601)" },
				createdTo: { type: "date", convert: true, optional: true, description: "Jobs created before this time (ISO 8601)" },
				$$strict: "remove",
			},
			async handler(ctx: JobsContext<ListParams>) {
				const { page, pageSize, sort, status, createdFrom, createdTo } = ctx.params;
				const created: Record<symbol, Date> = {};
				if (createdFrom) created[Op.gte] = createdFrom;
				if (createdTo) created[Op.lt] = createdTo;
				const where = { ...(status ? { status } : {}), ...(createdFrom || createdTo ? { createdAt: created } : {}) };
				const direction = sort === "createdAt" ? "ASC" : "DESC";
				const jobs = await this.scoped(ctx).page({ page, pageSize, where, order: [["createdAt", direction], ["id", "ASC"]] });
				const results = await this.resultsOf(jobs.rows.map((job) => job.id));
				return { ...jobs, rows: jobs.rows.map((job) => this.presentWith(job, results.get(job.id) ?? [])) };
			},
		},

		getScreenshotJob: {
			rest: "GET /:id",
			responses: { 200: { description: "The screenshot job, each result with a presigned download URL", body: PublicScreenshotJobSchema } },
			errors: { 503: ["STORAGE_UNAVAILABLE"] },
			permissions: ["tenant:viewer"],
			summary: "One screenshot job: status, progress, results (with presigned URLs) or error",
			params: { id: "string|max:64" },
			scope: JOB_SCOPE,
			async handler(ctx: JobsContext<{ id: string }>) {
				const job = await this.present(entityOf<ScreenshotJobRow>(ctx));
				job.results = await Promise.all(job.results.map((result) => this.withDownloadUrl(result)));
				if (job.archive) job.archive = await this.withDownloadUrl(job.archive);
				return job;
			},
		},

		createScreenshotJob: {
			rest: "POST /",
			idempotent: true,
			responses: { 202: { description: "Accepted: the job is queued", body: PublicScreenshotJobSchema, headers: { Location: "The job's URL, to poll" } } },
			errors: { 403: ["PLAN_LIMIT_REACHED", "TENANT_REQUIRED"], 422: [...JOB_INPUT_ERRORS] },
			permissions: ["tenant:member"],
			summary: "Capture a URL or an HTML document on devices (or a viewport): answers 202 with the queued job",
			description:
				"Each device (or the viewport) makes one image, counted against the tenant's monthly `screenshotsPerMonth` (403 PLAN_LIMIT_REACHED before anything is queued). Every request the page makes is checked by the outbound guard: private, loopback and link-local targets are refused unless OUTBOUND_ALLOW_HOSTS lists them.",
			params: JOB_PARAMS,
			async handler(ctx: JobsContext<JobRequest>) {
				const tenantId = requireTenant(ctx.meta);
				const accepted = checkJobRequest(ctx.params, this.outbound);
				return this.enqueue(ctx, {
					tenantId,
					kind: "capture",
					storeSetId: null,
					input: { url: accepted.url, ...accepted.options },
					html: accepted.html,
					credentials: accepted.credentials,
					targets: accepted.targets,
					images: accepted.targets.length,
				});
			},
		},

		/**
		 * Internal (store-sets.render): a store set's render as a job of kind `store_set`, under the same monthly
		 * images as a capture (one per image of the plan), answered 202 like one. The caller's meta is the user's,
		 * so the job is theirs (progress, notifications).
		 */
		enqueueStoreSet: {
			visibility: "public",
			// An API key was checked at the door (store-sets:write on the render); it needs no screenshot-jobs scope here.
			scopes: [],
			params: { tenantId: "uuid", snapshot: { type: "object" } },
			async handler(ctx: JobsContext<{ tenantId: string; snapshot: StoreSetSnapshot }>) {
				const { tenantId, snapshot } = ctx.params;
				return this.enqueue(ctx, {
					tenantId,
					kind: "store_set",
					storeSetId: snapshot.storeSetId,
					input: snapshot as unknown as Record<string, unknown>,
					html: null,
					credentials: null,
					targets: snapshot.targets.map((id) => targetOfDevice(id)),
					images: planStoreSetJob(snapshot).items.length,
				});
			},
		},

		cancelScreenshotJob: {
			rest: "POST /:id/cancel",
			responses: { 200: { description: "The canceled job (also when it was canceled already)", body: PublicScreenshotJobSchema } },
			errors: { 409: ["INVALID_TRANSITION"] },
			permissions: ["tenant:member"],
			summary: "Cancel a queued or running job: the worker stops, images already stored stay",
			params: { id: "string|max:64" },
			scope: JOB_SCOPE,
			async handler(ctx: JobsContext<{ id: string }>) {
				const before = entityOf<ScreenshotJobRow>(ctx);
				const { row, changed } = await this.transition(before, ["queued", "running"], { status: "canceled", finishedAt: new Date() }, { noOp: (current) => current.status === "canceled" });
				if (!changed) return this.present(row);
				const job = await this.announce(ctx, SCREENSHOT_JOB_EVENTS.canceled, row);
				this.pushProgress(job);
				return job;
			},
		},

		deleteScreenshotJob: {
			rest: "DELETE /:id",
			responses: { 204: "Deleted: the job and its images" },
			errors: { 503: ["STORAGE_UNAVAILABLE"] },
			permissions: ["tenant:member"],
			summary: "Delete a job and its images (a running job is stopped first)",
			params: { id: "string|max:64" },
			scope: JOB_SCOPE,
			async handler(ctx: JobsContext<{ id: string }>) {
				const row = entityOf<ScreenshotJobRow>(ctx);
				const results = (await this.resultsOf([row.id])).get(row.id) ?? [];
				// The row (and its results) first: a worker still on it finds no job and removes what it stores next.
				await this.model.destroy({ where: { id: row.id } });
				for (const result of results) await this.removeFile(result.fileId);
				if (row.archiveFileId) await this.removeFile(row.archiveFileId);
				await this.announce(ctx, SCREENSHOT_JOB_EVENTS.deleted, row, "removed");
				ctx.meta.$statusCode = 204;
				return null;
			},
		},
	},

	methods: {
		/**
		 * Accepts a job within the tenant's monthly images: checked first (403 PLAN_LIMIT_REACHED, nothing queued),
		 * then again under the tenant's lock with the job's insert and its outbox row; answers 202 with Location.
		 */
		async enqueue(ctx: JobsContext<unknown>, request: EnqueueRequest): Promise<PublicScreenshotJob> {
			const { tenantId, images } = request;
			const quota = await this.broker.call<{ allowed: boolean; maximum: number }, object>("tenants.checkLimit", { tenantId, limit: LIMIT, current: await this.monthlyImages(tenantId), increment: images }, systemCall());
			if (!quota.allowed) throw this.overQuota(quota.maximum, images);
			const id = randomUUID();
			const creator: Pick<ScreenshotJobRow, "createdBy" | "creatorKind"> = ctx.meta.apiKeyId
				? { createdBy: ctx.meta.apiKeyId, creatorKind: "api_key" }
				: ctx.meta.user?.id
					? { createdBy: ctx.meta.user.id, creatorKind: "user" }
					: { createdBy: null, creatorKind: "system" };
			const row = await this.adapter.db.transaction(async (transaction) => {
				// Jobs of one tenant are accepted one at a time, so two can't both take the last images of the month.
				await this.adapter.db.query("SELECT pg_advisory_xact_lock(hashtext(:key))", { replacements: { key: `screenshots-quota:${tenantId}` }, transaction });
				if (quota.maximum >= 0 && (await this.monthlyImages(tenantId, transaction)) + images > quota.maximum) throw this.overQuota(quota.maximum, images);
				const credentials = request.credentials ? this.secretBox.seal(JSON.stringify(request.credentials), `screenshot-job:${id}:credentials`) : null;
				const created = await this.model.create(
					{ id, tenantId, ...creator, kind: request.kind, storeSetId: request.storeSetId, status: "queued", input: request.input, html: request.html, credentials, targets: request.targets, images },
					{ transaction },
				);
				await this.writeOutbox(transaction, SCREENSHOT_CHANNELS.render, { screenshotjobId: id, tenantId });
				return created.get({ plain: true });
			});
			const job = await this.announce(ctx, SCREENSHOT_JOB_EVENTS.queued, row, "created");
			ctx.meta.$statusCode = 202;
			// The gateways write $location for 201 and redirects only; a 202's goes as a plain header.
			ctx.meta.$responseHeaders = { Location: apiPath("screenshot-jobs", id) };
			return job;
		},

		/** The public form, with the job's results (without URLs): answers, events and outbox rows. */
		async present(row: ScreenshotJobRow, transaction?: Transaction): Promise<PublicScreenshotJob> {
			const results = await this.models.screenshotResult.findAll({ where: { jobId: row.id }, transaction });
			return this.presentWith(row, results.map((result) => result.get({ plain: true })));
		},

		presentWith(row: ScreenshotJobRow, results: ScreenshotResultRow[]): PublicScreenshotJob {
			const { url, ...options } = row.input as { url: string | null } & Record<string, unknown>;
			const order = new Map(row.targets.map((target, index) => [target.id, index]));
			// A store set's images: by size, then locale, then screen, each with its place in the ZIP.
			const plan = row.kind === "store_set" ? planStoreSetJob(row.input as unknown as StoreSetSnapshot) : undefined;
			const locales = plan ? (row.input as unknown as StoreSetSnapshot).locales.map((locale) => locale.tag) : [];
			const rank = (result: ScreenshotResultRow) => [order.get(result.device ?? result.targetId) ?? 0, result.locale ? locales.indexOf(result.locale) : 0, result.screen ?? 0];
			const compare = (a: ScreenshotResultRow, b: ScreenshotResultRow) => {
				const [x, y] = [rank(a), rank(b)];
				return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
			};
			return {
				id: row.id,
				tenantId: row.tenantId,
				kind: row.kind,
				storeSetId: row.storeSetId,
				status: row.status,
				progress: row.progress,
				source: { url: url ?? null, html: row.html !== null },
				options: plan ? {} : options,
				targets: row.targets.map(({ userAgent: _userAgent, ...target }) => target),
				results: [...results].sort(compare).map((result) => ({
					target: result.device ?? result.targetId,
					fileId: result.fileId,
					format: result.format as ScreenshotResult["format"],
					width: result.width,
					height: result.height,
					bytes: result.bytes,
					blockedRequests: result.blockedRequests,
					...(plan ? { locale: result.locale ?? undefined, screen: result.screen, path: plan.paths.get(result.targetId) } : {}),
				})),
				archive: row.archiveFileId ? { fileId: row.archiveFileId, bytes: Number(row.archiveBytes ?? 0) } : null,
				error: row.errorCode ? { code: row.errorCode, message: row.error ?? "" } : null,
				attempts: row.attempts,
				createdBy: row.creatorKind === "user" ? row.createdBy : null,
				startedAt: row.startedAt ? new Date(row.startedAt).toISOString() : null,
				finishedAt: row.finishedAt ? new Date(row.finishedAt).toISOString() : null,
				createdAt: new Date(row.createdAt).toISOString(),
				updatedAt: new Date(row.updatedAt).toISOString(),
			};
		},

		async resultsOf(jobIds: string[]): Promise<Map<string, ScreenshotResultRow[]>> {
			const byJob = new Map<string, ScreenshotResultRow[]>();
			if (jobIds.length === 0) return byJob;
			for (const result of await this.models.screenshotResult.findAll({ where: { jobId: jobIds } })) {
				const row = result.get({ plain: true });
				byJob.set(row.jobId, [...(byJob.get(row.jobId) ?? []), row]);
			}
			return byJob;
		},

		async withDownloadUrl<T extends { fileId: string }>(result: T): Promise<T & { url?: string; expiresAt?: string }> {
			try {
				const { url, expiresAt } = await this.broker.call<{ url: string; expiresAt: string }, { id: string }>("files.presignDownload", { id: result.fileId }, systemCall());
				return { ...result, url, expiresAt };
			} catch (err) {
				// The file was deleted through the files API: the result stays listed, without a link.
				if ((err as { code?: number }).code === 404) return result;
				throw err;
			}
		},

		/**
		 * Images counted this month (UTC): every job accepted since the month began that hasn't failed or been
		 * canceled. (Billing will keep this count as its `screenshots` usage metric; see job-lifecycle.ts.)
		 */
		async monthlyImages(tenantId: string, transaction?: Transaction): Promise<number> {
			const [result] = await this.adapter.db.query<{ used: string }>(
				`SELECT COALESCE(SUM(images), 0)::text AS used FROM screenshot_jobs.screenshot_jobs
				 WHERE tenant_id = :tenantId AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND status IN ('queued', 'running', 'succeeded')`,
				{ replacements: { tenantId }, type: QueryTypes.SELECT, transaction },
			);
			return Number(result?.used ?? 0);
		},

		overQuota(maximum: number, requested: number): ForbiddenError {
			return new ForbiddenError(`The plan allows ${maximum} screenshots a month`, "PLAN_LIMIT_REACHED", { limit: LIMIT, maximum, requested });
		},

		async removeFile(fileId: string): Promise<void> {
			try {
				await this.broker.call("files.deleteFile", { id: fileId }, systemCall());
			} catch (err) {
				if ((err as { code?: number }).code !== 404) throw err;
			}
		},

		isFinal(status: ScreenshotJobStatus): boolean {
			return FINAL_STATUSES.includes(status);
		},
	},

	created() {
		const config = platformConfigOf(this.broker);
		this.outbound = new OutboundClient({ allowHosts: config.outbound.allowHosts });
		this.secretBox = new SecretBox(config.secrets.key, config.secrets.previousKeys);
	},

	started() {
		this.startOutboxRelay();
	},

	async stopped() {
		await this.stopOutboxRelay();
	},
};

export default ScreenshotJobsService;
