/**
 * Reviews of a tenant: reviews customers wrote about a tenant's apps and businesses, with their NLP results.
 *
 * This service owns the `reviews` PostgreSQL schema (models/reviews/reviews/) and nothing else: it
 * never reads another service's tables, and other services reach reviews through its actions and the
 * events and DTOs of ./contracts.ts. A review belongs to its tenant: every action that names one
 * declares `scope` (REVIEW_SCOPE), so another tenant's id, a malformed one and a missing one all answer
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
import { REVIEW_STATUSES, ReviewModel, type ReviewRow, type ReviewStatus } from "../../models/reviews/reviews/review.model";
import { REVIEW_EVENTS, REVIEW_SORTS, PublicReviewSchema, type PublicReview, type ReviewSort } from "./contracts";

/** A review is its tenant's: another tenant's id answers 404, exactly like a missing one. */
const REVIEW_SCOPE = { entity: "review", owner: "tenant", name: "Review" } as const;

/** Each sort of the list, with the id as the last key so pages never overlap. */
const ORDER_BY: Record<ReviewSort, Order> = {
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
	sort: ReviewSort;
	status?: ReviewStatus;
};

type ReviewInput = {
	name: string;
	description: string;
	status: ReviewStatus;
};

type ReviewsContext<P> = Context<P, CallerMeta>;

interface ReviewsMethods extends AggregateMethods<ReviewRow, ReviewStatus, PublicReview> {
	present(row: ReviewRow): PublicReview;
}

const ReviewsService: DbServiceSchema<DbMixinSettings, ReviewsMethods> = {
	name: "reviews",
	mixins: [
		DbMixin({
			schema: "reviews",
			migrations: path.join(__dirname, "../../models/reviews/reviews/migrations"),
			model: ReviewModel,
			tenantOwned: true,
			entityName: "Review",
		}),
		AggregateMixin({ model: "review", entityName: "Review" }),
	],

	actions: {
		listReviews: {
			rest: "GET /",
			responses: { 200: { description: "A page of the tenant's reviews", body: PageOf(PublicReviewSchema) } },
			permissions: ["tenant:viewer"],
			summary: "The tenant's reviews, newest first unless `sort` says otherwise",
			params: {
				...PAGE_PARAMS,
				sort: { type: "enum", values: REVIEW_SORTS, optional: true, default: "-createdAt", description: "a field, ascending, or with `-` descending" },
				status: { type: "enum", values: REVIEW_STATUSES, optional: true },
				$$strict: "remove",
			},
			async handler(ctx: ReviewsContext<ListParams>) {
				const { page, pageSize, sort, status } = ctx.params;
				const where = { ...this.tenantFilter(ctx), ...(status ? { status } : {}) } as WhereOptions;
				const { rows, count } = await this.model.findAndCountAll({ where, order: ORDER_BY[sort], limit: pageSize, offset: (page - 1) * pageSize });
				return toPage(rows.map((row) => this.present(plainRow<ReviewRow>(row)!)), count, page, pageSize);
			},
		},

		getReview: {
			rest: "GET /:id",
			responses: { 200: { description: "The review", body: PublicReviewSchema } },
			permissions: ["tenant:viewer"],
			summary: "One review of the tenant",
			params: { id: "string|max:64" },
			scope: REVIEW_SCOPE,
			async handler(ctx: ReviewsContext<{ id: string }>) {
				return this.present(entityOf<ReviewRow>(ctx));
			},
		},

		createReview: {
			rest: "POST /",
			responses: { 201: { description: "The new review", body: PublicReviewSchema, headers: { Location: "The review's URL" } } },
			// A unique name per tenant (the migration's index); the DatabaseErrors middleware answers the duplicate.
			errors: { 409: ["ALREADY_EXISTS"] },
			permissions: ["tenant:member"],
			summary: "Add a review to the tenant",
			params: {
				name: nameRule,
				description: { ...descriptionRule, optional: true, default: "" },
				status: { type: "enum", values: REVIEW_STATUSES, optional: true, default: "active" },
				$$strict: "remove",
			},
			async handler(ctx: ReviewsContext<ReviewInput>) {
				// Super admins pass every permission but act in no tenant: they can't create one for nobody (403).
				const tenantId = requireTenant(ctx.meta);
				const row = plainRow<ReviewRow>(await this.model.create({ ...ctx.params, tenantId }))!;
				const review = await this.announce(ctx, REVIEW_EVENTS.created, row, "created");
				created(ctx, "reviews", review.id);
				return review;
			},
		},

		updateReview: {
			rest: "PUT /:id",
			responses: { 200: { description: "The review as changed", body: PublicReviewSchema } },
			errors: { 409: ["ALREADY_EXISTS"] },
			permissions: ["tenant:member"],
			summary: "Change some fields of a review",
			params: {
				id: "string|max:64",
				name: { ...nameRule, optional: true },
				description: { ...descriptionRule, optional: true },
				status: { type: "enum", values: REVIEW_STATUSES, optional: true },
				$$strict: "remove",
			},
			scope: REVIEW_SCOPE,
			async handler(ctx: ReviewsContext<Partial<ReviewInput> & { id: string }>) {
				const before = entityOf<ReviewRow>(ctx);
				const { id: _id, ...changes } = ctx.params;
				if (Object.keys(changes).length === 0) return this.present(before);
				const [, rows] = await this.model.update(changes, { where: { id: before.id }, returning: true });
				return this.announce(ctx, REVIEW_EVENTS.updated, plainRow<ReviewRow>(rows[0])!, "updated", { changed: Object.keys(changes) });
			},
		},

		deleteReview: {
			rest: "DELETE /:id",
			responses: { 204: "Deleted" },
			permissions: ["tenant:admin"],
			summary: "Delete a review (tenant admins and owners)",
			params: { id: "string|max:64" },
			scope: REVIEW_SCOPE,
			async handler(ctx: ReviewsContext<{ id: string }>) {
				const row = entityOf<ReviewRow>(ctx);
				await this.model.destroy({ where: { id: row.id } });
				await this.announce(ctx, REVIEW_EVENTS.deleted, row, "removed");
				ctx.meta.$statusCode = 204;
				return null;
			},
		},
	},

	methods: {
		/** The public form: what answers, events (and outbox rows, once there are channels) carry. */
		present(row: ReviewRow): PublicReview {
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

export default ReviewsService;
