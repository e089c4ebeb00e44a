/**
 * Screenshot jobs of a tenant: screenshot capture jobs rendered by a Chromium pool on worker nodes.
 *
 * This service owns the `screenshot_jobs` PostgreSQL schema (models/screenshots/screenshot-jobs/) and nothing else: it
 * never reads another service's tables, and other services reach screenshot jobs through its actions and the
 * events and DTOs of ./contracts.ts. A screenshot job belongs to its tenant: every action that names one
 * declares `scope` (SCREENSHOT_JOB_SCOPE), so another tenant's id, a malformed one and a missing one all answer
 * 404; lists are scoped with `tenantFilter`. Platform callers ($system, super admins) see every tenant's.
 * Every change cleans every node's cache and emits its event through `announce` (mixins/aggregate.mixin.ts).
 */
import path from "node:path";
import type { Context } from "moleculer";
import type { Order, WhereOptions } from "sequelize";
import { DbMixin, PAGE_PARAMS, plainRow, toPage, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AggregateMixin, type AggregateMethods } from "../../mixins/aggregate.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { requireTenant, type CallerMeta } from "../../lib/caller";
import { created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";
import { SCREENSHOT_JOB_STATUSES, ScreenshotJobModel, type ScreenshotJobRow, type ScreenshotJobStatus } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import { SCREENSHOT_JOB_EVENTS, SCREENSHOT_JOB_SORTS, PublicScreenshotJobSchema, type PublicScreenshotJob, type ScreenshotJobSort } from "./contracts";

/** A screenshot job is its tenant's: another tenant's id answers 404, exactly like a missing one. */
const SCREENSHOT_JOB_SCOPE = { entity: "screenshotJob", owner: "tenant", name: "Screenshot job" } as const;

/** Each sort of the list, with the id as the last key so pages never overlap. */
const ORDER_BY: Record<ScreenshotJobSort, Order> = {
	createdAt: [["createdAt", "ASC"], ["id", "ASC"]],
	"-createdAt": [["createdAt", "DESC"], ["id", "ASC"]],
	name: [["name", "ASC"], ["id", "ASC"]],
	"-name": [["name", "DESC"], ["id", "ASC"]],
};

const nameRule = { type: "string", trim: true, min: 1, max: 200 } as const;
const descriptionRule = { type: "string", trim: true, max: 2000 } as const;

/** Params are type aliases, not interfaces: DbMixin's helpers take any params record (`tenantFilter(ctx)`). */
type ListParams = {
	page: number;
	pageSize: number;
	sort: ScreenshotJobSort;
	status?: ScreenshotJobStatus;
};

type ScreenshotJobInput = {
	name: string;
	description: string;
	status: ScreenshotJobStatus;
};

type ScreenshotJobsContext<P> = Context<P, CallerMeta>;

interface ScreenshotJobsMethods extends AggregateMethods<ScreenshotJobRow, ScreenshotJobStatus, PublicScreenshotJob> {
	present(row: ScreenshotJobRow): PublicScreenshotJob;
}

const ScreenshotJobsService: DbServiceSchema<DbMixinSettings, ScreenshotJobsMethods> = {
	name: "screenshot-jobs",
	mixins: [
		DbMixin({
			schema: "screenshot_jobs",
			migrations: path.join(__dirname, "../../models/screenshots/screenshot-jobs/migrations"),
			model: ScreenshotJobModel,
			tenantOwned: true,
			entityName: "Screenshot job",
		}),
		AggregateMixin({ model: "screenshotJob", entityName: "ScreenshotJob" }),
	],

	actions: {
		listScreenshotJobs: {
			rest: "GET /",
			responses: { 200: { description: "A page of the tenant's screenshot jobs", body: PageOf(PublicScreenshotJobSchema) } },
			permissions: ["tenant:viewer"],
			summary: "The tenant's screenshot jobs, newest first unless `sort` says otherwise",
			params: {
				...PAGE_PARAMS,
				sort: { type: "enum", values: SCREENSHOT_JOB_SORTS, optional: true, default: "-createdAt", description: "a field, ascending, or with `-` descending" },
				status: { type: "enum", values: SCREENSHOT_JOB_STATUSES, optional: true },
				$$strict: "remove",
			},
			async handler(ctx: ScreenshotJobsContext<ListParams>) {
				const { page, pageSize, sort, status } = ctx.params;
				const where = { ...this.tenantFilter(ctx), ...(status ? { status } : {}) } as WhereOptions;
				const { rows, count } = await this.model.findAndCountAll({ where, order: ORDER_BY[sort], limit: pageSize, offset: (page - 1) * pageSize });
				return toPage(rows.map((row) => this.present(plainRow<ScreenshotJobRow>(row)!)), count, page, pageSize);
			},
		},

		getScreenshotJob: {
			rest: "GET /:id",
			responses: { 200: { description: "The screenshot job", body: PublicScreenshotJobSchema } },
			permissions: ["tenant:viewer"],
			summary: "One screenshot job of the tenant",
			params: { id: "string|max:64" },
			scope: SCREENSHOT_JOB_SCOPE,
			async handler(ctx: ScreenshotJobsContext<{ id: string }>) {
				return this.present(entityOf<ScreenshotJobRow>(ctx));
			},
		},

		createScreenshotJob: {
			rest: "POST /",
			responses: { 201: { description: "The new screenshot job", body: PublicScreenshotJobSchema, headers: { Location: "The screenshot job's URL" } } },
			// A unique name per tenant (the migration's index); the DatabaseErrors middleware answers the duplicate.
			errors: { 409: ["ALREADY_EXISTS"] },
			permissions: ["tenant:member"],
			summary: "Add a screenshot job to the tenant",
			params: {
				name: nameRule,
				description: { ...descriptionRule, optional: true, default: "" },
				status: { type: "enum", values: SCREENSHOT_JOB_STATUSES, optional: true, default: "active" },
				$$strict: "remove",
			},
			async handler(ctx: ScreenshotJobsContext<ScreenshotJobInput>) {
				// Super admins pass every permission but act in no tenant: they can't create one for nobody (403).
				const tenantId = requireTenant(ctx.meta);
				const row = plainRow<ScreenshotJobRow>(await this.model.create({ ...ctx.params, tenantId }))!;
				const screenshotJob = await this.announce(ctx, SCREENSHOT_JOB_EVENTS.created, row, "created");
				created(ctx, "screenshot-jobs", screenshotJob.id);
				return screenshotJob;
			},
		},

		updateScreenshotJob: {
			rest: "PUT /:id",
			responses: { 200: { description: "The screenshot job as changed", body: PublicScreenshotJobSchema } },
			errors: { 409: ["ALREADY_EXISTS"] },
			permissions: ["tenant:member"],
			summary: "Change some fields of a screenshot job",
			params: {
				id: "string|max:64",
				name: { ...nameRule, optional: true },
				description: { ...descriptionRule, optional: true },
				status: { type: "enum", values: SCREENSHOT_JOB_STATUSES, optional: true },
				$$strict: "remove",
			},
			scope: SCREENSHOT_JOB_SCOPE,
			async handler(ctx: ScreenshotJobsContext<Partial<ScreenshotJobInput> & { id: string }>) {
				const before = entityOf<ScreenshotJobRow>(ctx);
				const { id: _id, ...changes } = ctx.params;
				if (Object.keys(changes).length === 0) return this.present(before);
				const [, rows] = await this.model.update(changes, { where: { id: before.id }, returning: true });
				return this.announce(ctx, SCREENSHOT_JOB_EVENTS.updated, plainRow<ScreenshotJobRow>(rows[0])!, "updated", { changed: Object.keys(changes) });
			},
		},

		deleteScreenshotJob: {
			rest: "DELETE /:id",
			responses: { 204: "Deleted" },
			permissions: ["tenant:admin"],
			summary: "Delete a screenshot job (tenant admins and owners)",
			params: { id: "string|max:64" },
			scope: SCREENSHOT_JOB_SCOPE,
			async handler(ctx: ScreenshotJobsContext<{ id: string }>) {
				const row = entityOf<ScreenshotJobRow>(ctx);
				await this.model.destroy({ where: { id: row.id } });
				await this.announce(ctx, SCREENSHOT_JOB_EVENTS.deleted, row, "removed");
				ctx.meta.$statusCode = 204;
				return null;
			},
		},
	},

	methods: {
		/** The public form: what answers, events (and outbox rows, once there are channels) carry. */
		present(row: ScreenshotJobRow): PublicScreenshotJob {
			return {
				id: row.id,
				tenantId: row.tenantId,
				name: row.name,
				description: row.description,
				status: row.status,
				createdAt: new Date(row.createdAt).toISOString(),
				updatedAt: new Date(row.updatedAt).toISOString(),
			};
		},
	},
};

export default ScreenshotJobsService;
