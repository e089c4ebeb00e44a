/**
 * The reviews service's internal actions (a mixin of reviews.service.ts): what collectors and the nlp service
 * call, never the gateway. Only platform work ($system, and super admins) may call them: they name the tenant.
 *
 * - `reviews.store`: one source's batch, stored once per (tenant, source, external id) by one upsert. A
 *   review already stored with the same rating, title and body is a duplicate and changes nothing; one whose
 *   content changed is an edit: the earlier version joins `previous_versions` (the last 20), `edit_count` goes
 *   up and the NLP results are cleared until it is analysed again. New and edited reviews are announced on the
 *   durable channel `reviews.collected` through the outbox, in the same transaction.
 * - `reviews.forAnalysis`, `reviews.saveAnalysis`: the nlp service reads texts and writes results back (only
 *   over the revision it read: an edit that landed meanwhile is analysed again rather than overwritten), and
 *   every saved batch is announced on `reviews.analyzed`.
 * - `reviews.idsForAnalysis`, `reviews.labelled`: pages of ids to re-analyse, and the reviews a tenant
 *   labelled with a topic (training data for its classifiers).
 */
import type { Context, ServiceSchema } from "moleculer";
import { QueryTypes, type Transaction } from "sequelize";
import type { CallerMeta } from "../../lib/caller";
import type { DbMixinSettings, DbServiceSchema } from "../../mixins/db.mixin";
import type { OutboxMethods } from "../../mixins/outbox.mixin";
import {
	REVIEW_CHANNELS,
	SENTIMENT_LABELS,
	STORE_MAX_REVIEWS,
	TOPIC_PATTERN,
	ENTITY_TYPES,
	type AnalysisResult,
	type LabelledReview,
	type ReviewInput,
	type ReviewText,
	type ReviewsAnalyzedMessage,
	type ReviewsCollectedMessage,
	type SaveAnalysisParams,
	type StoreParams,
	type StoreResult,
} from "./contracts";

const SCHEMA = "reviews";
const KEPT_VERSIONS = 20;

type StoreContext<P> = Context<P, CallerMeta>;

/** PostgreSQL text and jsonb refuse NUL characters; a scraped page may hold some. */
function clean(value: string | null | undefined): string | null {
	return value == null ? null : value.replaceAll("\u0000", "");
}

function cleanRaw(raw: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
	return raw == null ? null : (JSON.parse(JSON.stringify(raw), (_key, value: unknown) => (typeof value === "string" ? clean(value) : value)) as Record<string, unknown>);
}

/** One review as the upsert's JSON input row. */
function inputRow(review: ReviewInput, order: number): Record<string, unknown> {
	return {
		ord: order,
		external_id: clean(review.externalId),
		rating: review.rating ?? null,
		title: clean(review.title),
		body: clean(review.body) ?? "",
		author: clean(review.author),
		language: clean(review.language)?.toLowerCase() ?? null,
		app_version: clean(review.appVersion),
		country: review.country ? review.country.toUpperCase() : null,
		published_at: review.publishedAt ? new Date(review.publishedAt).toISOString() : null,
		raw: cleanRaw(review.raw),
	};
}

/**
 * The upsert. A duplicate (same rating, title and body) is left alone by the WHERE of DO UPDATE and comes back
 * from the second half of the UNION, which reads the table as it was before the statement; `xmax = 0` tells a
 * row this statement inserted from one it updated.
 */
const STORE_SQL = `
WITH input AS (
	SELECT * FROM jsonb_to_recordset($3::jsonb) AS x(ord int, external_id text, rating smallint, title text, body text,
		author text, language text, app_version text, country text, published_at timestamptz, raw jsonb)
),
upserted AS (
	INSERT INTO "${SCHEMA}".reviews AS r (id, tenant_id, source_id, external_id, rating, title, body, author, language,
		app_version, country, published_at, raw, previous_versions, edit_count, tags, created_at, updated_at)
	SELECT gen_random_uuid(), $1, $2, external_id, rating, title, body, author, language, app_version, country,
		published_at, raw, '[]'::jsonb, 0, '{}', now(), now()
	FROM input
	ON CONFLICT (tenant_id, source_id, external_id) DO UPDATE SET
		rating = EXCLUDED.rating, title = EXCLUDED.title, body = EXCLUDED.body, author = EXCLUDED.author,
		language = EXCLUDED.language, app_version = EXCLUDED.app_version, country = EXCLUDED.country,
		published_at = COALESCE(EXCLUDED.published_at, r.published_at), raw = EXCLUDED.raw,
		previous_versions = jsonb_path_query_array(r.previous_versions || jsonb_build_array(jsonb_build_object(
			'title', r.title, 'body', r.body, 'rating', r.rating, 'appVersion', r.app_version,
			'publishedAt', r.published_at, 'replacedAt', now())), '$[last - ${KEPT_VERSIONS - 1} to last]'),
		edit_count = r.edit_count + 1,
		detected_language = NULL, sentiment_score = NULL, sentiment_label = NULL, keywords = NULL, entities = NULL,
		topics = NULL, analyzed_at = NULL, analyzer_version = NULL,
		updated_at = now()
	WHERE (r.rating, r.title, r.body) IS DISTINCT FROM (EXCLUDED.rating, EXCLUDED.title, EXCLUDED.body)
	RETURNING r.id, r.external_id, (r.xmax = 0) AS inserted
)
SELECT u.id, u.external_id, CASE WHEN u.inserted THEN 'inserted' ELSE 'edited' END AS outcome FROM upserted u
UNION ALL
SELECT r.id, r.external_id, 'unchanged' AS outcome
FROM "${SCHEMA}".reviews r JOIN input i ON r.external_id = i.external_id
WHERE r.tenant_id = $1 AND r.source_id = $2 AND NOT EXISTS (SELECT 1 FROM upserted u WHERE u.external_id = r.external_id)`;

const SAVE_SQL = `
UPDATE "${SCHEMA}".reviews r SET
	detected_language = x.language, sentiment_score = x.sentiment_score, sentiment_label = x.sentiment_label,
	keywords = x.keywords, entities = x.entities, topics = x.topics, analyzed_at = now(), analyzer_version = x.analyzer_version
FROM jsonb_to_recordset($2::jsonb) AS x(review_id uuid, revision int, language text, sentiment_score real,
	sentiment_label text, keywords jsonb, entities jsonb, topics text[], analyzer_version text)
WHERE r.id = x.review_id AND r.tenant_id = $1 AND r.edit_count = x.revision
RETURNING r.id`;

const reviewRule = {
	type: "object",
	strict: "remove",
	props: {
		externalId: { type: "string", trim: true, min: 1, max: 200 },
		rating: { type: "number", integer: true, min: 1, max: 5, optional: true, nullable: true },
		title: { type: "string", max: 1000, optional: true, nullable: true },
		body: { type: "string", max: 20_000 },
		author: { type: "string", max: 200, optional: true, nullable: true },
		language: { type: "string", pattern: "^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$", optional: true, nullable: true },
		appVersion: { type: "string", max: 64, optional: true, nullable: true },
		country: { type: "string", pattern: "^[A-Za-z]{2}$", optional: true, nullable: true },
		publishedAt: { type: "date", convert: true, optional: true, nullable: true },
		raw: { type: "object", optional: true, nullable: true },
	},
} as const;

const resultRule = {
	type: "object",
	strict: "remove",
	props: {
		reviewId: "uuid",
		revision: { type: "number", integer: true, min: 0 },
		language: { type: "string", max: 16, nullable: true },
		sentimentScore: { type: "number", min: -1, max: 1 },
		sentimentLabel: { type: "enum", values: SENTIMENT_LABELS },
		keywords: { type: "array", max: 50, items: { type: "object", props: { term: "string|max:200", score: "number" } } },
		entities: { type: "array", max: 200, items: { type: "object", props: { type: { type: "enum", values: ENTITY_TYPES }, text: "string|max:500", value: "string|max:500" } } },
		topics: { type: "array", max: 10, items: { type: "string", pattern: TOPIC_PATTERN } },
		analyzerVersion: "string|max:100",
	},
} as const;

const ReviewStoreSchema: Partial<DbServiceSchema<DbMixinSettings, OutboxMethods>> = {
	actions: {
		store: {
			visibility: "public",
			permissions: ["super_admin"],
			params: {
				tenantId: "uuid",
				sourceId: "uuid",
				reviews: { type: "array", min: 1, max: STORE_MAX_REVIEWS, items: reviewRule },
				$$strict: "remove",
			},
			async handler(ctx: StoreContext<StoreParams>): Promise<StoreResult> {
				const { tenantId, sourceId } = ctx.params;
				// A batch naming one external id twice keeps its last form (ON CONFLICT can't touch a row twice).
				const byExternalId = new Map<string, Record<string, unknown>>();
				ctx.params.reviews.forEach((review, order) => {
					const row = inputRow(review, order);
					byExternalId.delete(row.external_id as string);
					byExternalId.set(row.external_id as string, row);
				});
				const rows = [...byExternalId.values()];
				return this.adapter.db.transaction(async (transaction: Transaction) => {
					const stored = await this.adapter.db.query<{ id: string; external_id: string; outcome: "inserted" | "edited" | "unchanged" }>(STORE_SQL, {
						bind: [tenantId, sourceId, JSON.stringify(rows)],
						type: QueryTypes.SELECT,
						transaction,
					});
					const byExternal = new Map(stored.map((row) => [row.external_id, row]));
					// A review another batch inserted while this statement ran is neither upserted nor in its snapshot.
					const missing = rows.map((row) => row.external_id as string).filter((externalId) => !byExternal.has(externalId));
					if (missing.length > 0) {
						const late = await this.adapter.db.query<{ id: string; external_id: string }>(
							`SELECT id, external_id FROM "${SCHEMA}".reviews WHERE tenant_id = $1 AND source_id = $2 AND external_id = ANY($3::text[])`,
							{ bind: [tenantId, sourceId, missing], type: QueryTypes.SELECT, transaction },
						);
						for (const row of late) byExternal.set(row.external_id, { ...row, outcome: "unchanged" });
					}
					const ids = rows.map((row) => byExternal.get(row.external_id as string)!.id);
					const changed = stored.filter((row) => row.outcome !== "unchanged").map((row) => row.id);
					if (changed.length > 0) {
						await this.writeOutbox(transaction, REVIEW_CHANNELS.collected, { tenantId, sourceId, reviewIds: changed } satisfies ReviewsCollectedMessage);
					}
					const count = (outcome: string) => stored.filter((row) => row.outcome === outcome).length;
					return { inserted: count("inserted"), edited: count("edited"), unchanged: ctx.params.reviews.length - count("inserted") - count("edited"), ids };
				});
			},
		},

		forAnalysis: {
			visibility: "public",
			permissions: ["super_admin"],
			params: { ids: { type: "array", min: 1, max: STORE_MAX_REVIEWS, items: "uuid" }, $$strict: "remove" },
			async handler(ctx: StoreContext<{ ids: string[] }>): Promise<ReviewText[]> {
				return this.adapter.db.query<ReviewText>(
					`SELECT id, tenant_id AS "tenantId", source_id AS "sourceId", title, body, rating, language, edit_count AS revision
					FROM "${SCHEMA}".reviews WHERE id = ANY($1::uuid[])`,
					{ bind: [ctx.params.ids], type: QueryTypes.SELECT },
				);
			},
		},

		saveAnalysis: {
			visibility: "public",
			permissions: ["super_admin"],
			params: {
				tenantId: "uuid",
				results: { type: "array", min: 1, max: STORE_MAX_REVIEWS, items: resultRule },
				$$strict: "remove",
			},
			async handler(ctx: StoreContext<SaveAnalysisParams>): Promise<{ saved: number }> {
				const rows = ctx.params.results.map((result: AnalysisResult) => ({
					review_id: result.reviewId,
					revision: result.revision,
					language: result.language,
					sentiment_score: result.sentimentScore,
					sentiment_label: result.sentimentLabel,
					keywords: result.keywords,
					entities: result.entities,
					topics: result.topics,
					analyzer_version: result.analyzerVersion,
				}));
				return this.adapter.db.transaction(async (transaction: Transaction) => {
					const saved = await this.adapter.db.query<{ id: string }>(SAVE_SQL, {
						bind: [ctx.params.tenantId, JSON.stringify(rows)],
						type: QueryTypes.SELECT,
						transaction,
					});
					if (saved.length > 0) {
						await this.writeOutbox(transaction, REVIEW_CHANNELS.analyzed, { tenantId: ctx.params.tenantId, reviewIds: saved.map((row) => row.id) } satisfies ReviewsAnalyzedMessage);
					}
					return { saved: saved.length };
				});
			},
		},

		idsForAnalysis: {
			visibility: "public",
			permissions: ["super_admin"],
			params: {
				tenantId: "uuid",
				sourceId: { type: "uuid", optional: true },
				afterId: { type: "uuid", optional: true },
				limit: { type: "number", integer: true, min: 1, max: STORE_MAX_REVIEWS },
				$$strict: "remove",
			},
			async handler(ctx: StoreContext<{ tenantId: string; sourceId?: string; afterId?: string; limit: number }>): Promise<string[]> {
				const { tenantId, sourceId, afterId, limit } = ctx.params;
				const rows = await this.adapter.db.query<{ id: string }>(
					`SELECT id FROM "${SCHEMA}".reviews
					WHERE tenant_id = $1 AND ($2::uuid IS NULL OR source_id = $2) AND ($3::uuid IS NULL OR id > $3)
					ORDER BY id LIMIT $4`,
					{ bind: [tenantId, sourceId ?? null, afterId ?? null, limit], type: QueryTypes.SELECT },
				);
				return rows.map((row) => row.id);
			},
		},

		labelled: {
			visibility: "public",
			permissions: ["super_admin"],
			params: {
				tenantId: "uuid",
				topics: { type: "array", max: 100, items: { type: "string", pattern: TOPIC_PATTERN } },
				limit: { type: "number", integer: true, min: 1, max: 20_000 },
				$$strict: "remove",
			},
			async handler(ctx: StoreContext<{ tenantId: string; topics: string[]; limit: number }>): Promise<LabelledReview[]> {
				return this.adapter.db.query<LabelledReview>(
					`SELECT id, title, body, labelled_topic AS topic FROM "${SCHEMA}".reviews
					WHERE tenant_id = $1 AND labelled_topic = ANY($2::text[]) ORDER BY updated_at DESC LIMIT $3`,
					{ bind: [ctx.params.tenantId, ctx.params.topics, ctx.params.limit], type: QueryTypes.SELECT },
				);
			},
		},
	},
};

/** Typed as a plain mixin so the service can list it; its handlers see DbMixin and the outbox. */
export const ReviewStore = ReviewStoreSchema as Partial<ServiceSchema>;
