/**
 * Reviews of a tenant: what customers wrote about the tenant's apps and businesses, stored once per
 * (tenant, source, external id) with their raw payload and edits (review-store.ts: `reviews.store` for
 * collectors), and the NLP results the nlp service writes beside each one (`reviews.saveAnalysis`).
 *
 * This service owns the `reviews` PostgreSQL schema (models/reviews/reviews/) and nothing else: other
 * services reach reviews through its actions and the channels and DTOs of ./contracts.ts. A review belongs to
 * its tenant: every action that names one declares `scope` (REVIEW_SCOPE), so another tenant's id, a malformed
 * one and a missing one all answer 404; lists are scoped with `tenantFilter`. Members tag a review, assign it to
 * a member (identity says who is one) and label its topic, which trains the tenant's classifiers.
 */
import path from "node:path";
import type { Context } from "moleculer";
import { Op, Sequelize, type Order, type WhereOptions } from "sequelize";
import { DbMixin, PAGE_PARAMS, plainRow, toPage, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AggregateMixin } from "../../mixins/aggregate.mixin";
import { OutboxMixin, outboxModel, type OutboxMethods } from "../../mixins/outbox.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { systemCall, type CallerMeta, type TenantRole } from "../../lib/caller";
import { BadRequestError, UnprocessableEntityError } from "../../lib/errors";
import { PageOf } from "../../lib/schema";
import { ReviewModel, type ReviewRow } from "../../models/reviews/reviews/review.model";
import { ReviewStore } from "./review-store";
import {
	REVIEW_EVENTS,
	REVIEW_SORTS,
	SENTIMENT_LABELS,
	TOPIC_PATTERN,
	PublicReviewSchema,
	ReviewDetailSchema,
	type PublicReview,
	type ReviewDetail,
	type ReviewSort,
	type SentimentLabel,
} from "./contracts";

/** A review is its tenant's: another tenant's id answers 404, exactly like a missing one. */
const REVIEW_SCOPE = { entity: "review", owner: "tenant", name: "Review" } as const;

/** Each sort of the list, with the id as the last key so pages never overlap. */
const ORDER_BY: Record<ReviewSort, Order> = {
	publishedAt: [Sequelize.literal("published_at ASC NULLS FIRST"), ["id", "ASC"]],
	"-publishedAt": [Sequelize.literal("published_at DESC NULLS LAST"), ["id", "ASC"]],
	rating: [Sequelize.literal("rating ASC NULLS LAST"), ["id", "ASC"]],
	"-rating": [Sequelize.literal("rating DESC NULLS LAST"), ["id", "ASC"]],
	sentiment: [Sequelize.literal("sentiment_score ASC NULLS LAST"), ["id", "ASC"]],
	"-sentiment": [Sequelize.literal("sentiment_score DESC NULLS LAST"), ["id", "ASC"]],
	createdAt: [["createdAt", "ASC"], ["id", "ASC"]],
	"-createdAt": [["createdAt", "DESC"], ["id", "ASC"]],
};

const MAX_TAGS = 20;
const tagRule = { type: "string", trim: true, min: 1, max: 50, pattern: "^[^\\u0000-\\u001f]+$" } as const;

/** Params are type aliases, not interfaces: DbMixin's helpers take any params record (`tenantFilter(ctx)`). */
type ListParams = {
	page: number;
	pageSize: number;
	sort: ReviewSort;
	sourceId?: string;
	rating?: number;
	sentiment?: SentimentLabel;
	topic?: string;
	language?: string;
	tag?: string;
	assigneeId?: string;
	from?: Date;
	to?: Date;
};

type UpdateParams = { id: string; tags?: string[]; assigneeId?: string | null };

type ReviewsContext<P> = Context<P, CallerMeta>;

interface ReviewsMethods extends OutboxMethods {
	present(row: ReviewRow): PublicReview;
	presentDetail(row: ReviewRow): ReviewDetail;
	announce(ctx: Context, event: string, row: ReviewRow, type?: "created" | "updated" | "removed", extra?: Record<string, unknown>): Promise<PublicReview>;
	assertMember(tenantId: string, userId: string): Promise<void>;
}

function iso(value: Date | string | null): string | null {
	return value ? new Date(value).toISOString() : null;
}

/** The list's filters as a WHERE, beside the tenant's. */
function listWhere(params: ListParams): WhereOptions[] {
	const where: WhereOptions[] = [];
	if (params.sourceId) where.push({ sourceId: params.sourceId });
	if (params.rating !== undefined) where.push({ rating: params.rating });
	if (params.sentiment) where.push({ sentimentLabel: params.sentiment });
	if (params.topic) where.push({ topics: { [Op.contains]: [params.topic] } });
	if (params.tag) where.push({ tags: { [Op.contains]: [params.tag] } });
	if (params.assigneeId) where.push({ assigneeId: params.assigneeId });
	// The language detected from the text, or the source's while the review waits for its analysis.
	if (params.language) where.push(Sequelize.where(Sequelize.fn("COALESCE", Sequelize.col("detected_language"), Sequelize.col("language")), params.language));
	if (params.from) where.push({ publishedAt: { [Op.gte]: params.from } });
	if (params.to) where.push({ publishedAt: { [Op.lt]: params.to } });
	return where;
}

const ReviewsService: DbServiceSchema<DbMixinSettings, ReviewsMethods> = {
	name: "reviews",
	mixins: [
		DbMixin({
			schema: "reviews",
			migrations: path.join(__dirname, "../../models/reviews/reviews/migrations"),
			model: ReviewModel,
			extraModels: [outboxModel()],
			tenantOwned: true,
			entityName: "Review",
		}),
		OutboxMixin({ name: "Reviews outbox" }),
		AggregateMixin({ model: "review", entityName: "Review" }),
		ReviewStore,
	],

	actions: {
		listReviews: {
			rest: "GET /",
			responses: { 200: { description: "A page of the tenant's reviews", body: PageOf(PublicReviewSchema) } },
			errors: { 400: ["INVALID_DATE_RANGE"] },
			permissions: ["tenant:viewer"],
			summary: "The tenant's reviews with their NLP results, newest published first unless `sort` says otherwise",
			params: {
				...PAGE_PARAMS,
				sort: { type: "enum", values: REVIEW_SORTS, optional: true, default: "-publishedAt", description: "a field, ascending, or with `-` descending" },
				sourceId: { type: "uuid", optional: true, description: "reviews of one source" },
				rating: { type: "number", integer: true, min: 1, max: 5, convert: true, optional: true, description: "reviews with this many stars" },
				sentiment: { type: "enum", values: SENTIMENT_LABELS, optional: true, description: "analysed reviews with this sentiment" },
				topic: { type: "string", pattern: TOPIC_PATTERN, optional: true, description: "analysed reviews with this topic among theirs" },
				language: { type: "string", pattern: "^[a-z]{2}$", optional: true, description: "ISO 639-1: the detected language, or the source's until analysed" },
				tag: { ...tagRule, optional: true },
				assigneeId: { type: "uuid", optional: true },
				from: { type: "date", convert: true, optional: true, description: "published at or after" },
				to: { type: "date", convert: true, optional: true, description: "published before" },
				$$strict: "remove",
			},
			async handler(ctx: ReviewsContext<ListParams>) {
				const { page, pageSize, sort, from, to } = ctx.params;
				if (from && to && from >= to) throw new BadRequestError("`from` must be before `to`", "INVALID_DATE_RANGE");
				const where = { [Op.and]: [this.tenantFilter(ctx), ...listWhere(ctx.params)] } as WhereOptions;
				const { rows, count } = await this.model.findAndCountAll({
					where,
					attributes: { exclude: ["raw", "previousVersions"] },
					order: ORDER_BY[sort],
					limit: pageSize,
					offset: (page - 1) * pageSize,
				});
				return toPage(rows.map((row) => this.present(plainRow<ReviewRow>(row)!)), count, page, pageSize);
			},
		},

		getReview: {
			rest: "GET /:id",
			responses: { 200: { description: "The review, with its raw payload and earlier versions", body: ReviewDetailSchema } },
			permissions: ["tenant:viewer"],
			summary: "One review of the tenant",
			params: { id: "string|max:64" },
			scope: REVIEW_SCOPE,
			async handler(ctx: ReviewsContext<{ id: string }>) {
				return this.presentDetail(entityOf<ReviewRow>(ctx));
			},
		},

		updateReview: {
			rest: "PUT /:id",
			responses: { 200: { description: "The review as changed", body: PublicReviewSchema } },
			errors: { 422: ["ASSIGNEE_NOT_MEMBER"] },
			permissions: ["tenant:member"],
			summary: "Tag a review or assign it to a member (`assigneeId: null` unassigns)",
			params: {
				id: "string|max:64",
				tags: { type: "array", max: MAX_TAGS, items: tagRule, optional: true, description: "the review's tags (replaces them all)" },
				assigneeId: { type: "uuid", optional: true, nullable: true, description: "a member of the tenant" },
				$$strict: "remove",
			},
			scope: REVIEW_SCOPE,
			async handler(ctx: ReviewsContext<UpdateParams>) {
				const before = entityOf<ReviewRow>(ctx);
				const changes: Partial<Pick<ReviewRow, "tags" | "assigneeId">> = {};
				if (ctx.params.tags !== undefined) changes.tags = [...new Set(ctx.params.tags)];
				if (ctx.params.assigneeId !== undefined) {
					if (ctx.params.assigneeId !== null) await this.assertMember(before.tenantId, ctx.params.assigneeId.toLowerCase());
					changes.assigneeId = ctx.params.assigneeId?.toLowerCase() ?? null;
				}
				if (Object.keys(changes).length === 0) return this.present(before);
				const [, rows] = await this.model.update(changes, { where: { id: before.id }, returning: true });
				return this.announce(ctx, REVIEW_EVENTS.updated, plainRow<ReviewRow>(rows[0])!, "updated", { changed: Object.keys(changes) });
			},
		},

		labelReview: {
			rest: "PUT /:id/topic",
			responses: { 200: { description: "The review with its label", body: PublicReviewSchema } },
			permissions: ["tenant:member"],
			summary: "Label a review's topic (`null` removes the label): the examples a tenant's classifiers learn from",
			description: "A default topic (bugs, performance, ux, pricing, support, feature_request, praise, other) or one of the tenant's own.",
			params: {
				id: "string|max:64",
				topic: { type: "string", pattern: TOPIC_PATTERN, nullable: true },
				$$strict: "remove",
			},
			scope: REVIEW_SCOPE,
			async handler(ctx: ReviewsContext<{ id: string; topic: string | null }>) {
				const before = entityOf<ReviewRow>(ctx);
				if (before.labelledTopic === ctx.params.topic) return this.present(before);
				const [, rows] = await this.model.update({ labelledTopic: ctx.params.topic }, { where: { id: before.id }, returning: true });
				return this.announce(ctx, REVIEW_EVENTS.updated, plainRow<ReviewRow>(rows[0])!, "updated", { changed: ["labelledTopic"] });
			},
		},
	},

	methods: {
		/** The public form: what answers and events carry. */
		present(row: ReviewRow): PublicReview {
			return {
				id: row.id,
				tenantId: row.tenantId,
				sourceId: row.sourceId,
				externalId: row.externalId,
				rating: row.rating,
				title: row.title,
				body: row.body,
				author: row.author,
				language: row.language,
				appVersion: row.appVersion,
				country: row.country,
				publishedAt: iso(row.publishedAt),
				tags: row.tags ?? [],
				assigneeId: row.assigneeId,
				labelledTopic: row.labelledTopic,
				editCount: row.editCount,
				analysis: row.analyzedAt
					? {
							language: row.detectedLanguage,
							sentiment: { score: Number(row.sentimentScore), label: row.sentimentLabel! },
							keywords: row.keywords ?? [],
							entities: row.entities ?? [],
							topics: row.topics ?? [],
							analyzedAt: iso(row.analyzedAt)!,
							analyzerVersion: row.analyzerVersion ?? "",
						}
					: null,
				createdAt: iso(row.createdAt)!,
				updatedAt: iso(row.updatedAt)!,
			};
		},

		presentDetail(row: ReviewRow): ReviewDetail {
			// jsonb_build_object wrote the timestamps in PostgreSQL's form (+00:00); answers use ISO 8601 in UTC.
			const previousVersions = (row.previousVersions ?? []).map((version) => ({ ...version, publishedAt: iso(version.publishedAt), replacedAt: iso(version.replacedAt)! }));
			return { ...this.present(row), raw: row.raw, previousVersions };
		},

		/** An assignee must belong to the review's tenant (identity's tenants answer who does). */
		async assertMember(tenantId: string, userId: string): Promise<void> {
			const membership = await this.broker.call<{ role: TenantRole } | null, object>("tenants.membershipOf", { tenantId, userId }, systemCall());
			if (!membership) throw new UnprocessableEntityError("The assignee is not a member of this organization", "ASSIGNEE_NOT_MEMBER", { assigneeId: userId });
		},
	},

	started() {
		this.startOutboxRelay();
	},

	async stopped() {
		await this.stopOutboxRelay();
	},
};

export default ReviewsService;
