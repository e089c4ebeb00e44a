/**
 * The reviews domain's public face: what other domains may import from it (and nothing else; lint
 * enforces it). DTOs as callers receive them (a TypeBox schema, which the OpenAPI document shows, and its
 * Static type, which the service returns), the durable channels it publishes and the messages they carry, and
 * the parameters of the internal actions other services call (`reviews.store`, `reviews.saveAnalysis`, …).
 */
import { AnyObject, DateTime, Enum, Nullable, Type, Uuid, type Static } from "../../lib/schema";

// --- Vocabulary ------------------------------------------------------------------------------------

export const SENTIMENT_LABELS = ["positive", "neutral", "negative"] as const;
export type SentimentLabel = (typeof SENTIMENT_LABELS)[number];

/** The topics of the default classifier (services/reviews/nlp-data/topics-training.json). */
export const DEFAULT_TOPICS = ["bugs", "performance", "ux", "pricing", "support", "feature_request", "praise", "other"] as const;
export type DefaultTopic = (typeof DEFAULT_TOPICS)[number];

/** A topic's name, default or a tenant's own: lower-case letters, digits, `_` and `-`. */
export const TOPIC_PATTERN = "^[a-z][a-z0-9_-]{0,39}$";

export const ENTITY_TYPES = ["version", "feature", "person", "place", "money"] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

// --- Reviews ---------------------------------------------------------------------------------------

const Keyword = Type.Object({ term: Type.String(), score: Type.Number({ minimum: 0 }) });
const Entity = Type.Object({
	type: Enum(ENTITY_TYPES),
	text: Type.String({ description: "As written in the review" }),
	value: Type.String({ description: "Normalised: the version number, the gazetteer's name of the feature, person or place, the amount" }),
});

/** What the NLP service found in a review, stored beside it. */
export const ReviewAnalysisSchema = Type.Object({
	language: Nullable(Type.String({ description: "ISO 639-1, detected from the text (null when too short to tell)" })),
	sentiment: Type.Object({
		score: Type.Number({ minimum: -1, maximum: 1 }),
		label: Enum(SENTIMENT_LABELS),
	}),
	keywords: Type.Array(Keyword, { description: "Highest TF-IDF first, against the tenant's reviews" }),
	entities: Type.Array(Entity),
	topics: Type.Array(Type.String(), { description: "Most likely first" }),
	analyzedAt: DateTime,
	analyzerVersion: Type.String({ description: "The analyser's version and the classifier it used (`default` or a tenant classifier's id and version)" }),
});
export type ReviewAnalysis = Static<typeof ReviewAnalysisSchema>;

/** A review as the API answers it in lists. */
export const PublicReviewSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	sourceId: Uuid,
	externalId: Type.String({ description: "The review's id at its source" }),
	rating: Nullable(Type.Integer({ minimum: 1, maximum: 5 })),
	title: Nullable(Type.String()),
	body: Type.String(),
	author: Nullable(Type.String()),
	language: Nullable(Type.String({ description: "As the source gave it" })),
	appVersion: Nullable(Type.String()),
	country: Nullable(Type.String({ description: "ISO 3166-1 alpha-2" })),
	publishedAt: Nullable(DateTime),
	tags: Type.Array(Type.String()),
	assigneeId: Nullable(Uuid),
	labelledTopic: Nullable(Type.String({ description: "The topic a member gave the review (training data for the tenant's classifiers)" })),
	editCount: Type.Integer({ minimum: 0, description: "How many times the review changed at its source since first stored" }),
	analysis: Nullable(ReviewAnalysisSchema),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicReview = Static<typeof PublicReviewSchema>;

/** An earlier form of an edited review. */
export const ReviewVersionSchema = Type.Object({
	title: Nullable(Type.String()),
	body: Type.String(),
	rating: Nullable(Type.Integer()),
	appVersion: Nullable(Type.String()),
	publishedAt: Nullable(DateTime),
	replacedAt: DateTime,
});
export type ReviewVersion = Static<typeof ReviewVersionSchema>;

/** One review with what lists leave out: the source's raw payload and the review's earlier versions. */
export const ReviewDetailSchema = Type.Composite([
	PublicReviewSchema,
	Type.Object({
		raw: Nullable(AnyObject),
		previousVersions: Type.Array(ReviewVersionSchema, { description: "Oldest first; the last 20 edits" }),
	}),
]);
export type ReviewDetail = Static<typeof ReviewDetailSchema>;

/** How `GET /reviews` sorts: a field ascending, or with `-` descending. */
export const REVIEW_SORTS = ["publishedAt", "-publishedAt", "rating", "-rating", "sentiment", "-sentiment", "createdAt", "-createdAt"] as const;
export type ReviewSort = (typeof REVIEW_SORTS)[number];

/** Events (fire and forget: cache-like reactions, realtime pushes) a review's changes by members emit, with `{ review }`. */
export const REVIEW_EVENTS = {
	updated: "review.updated",
} as const;

/** What the `review.*` events carry; `review.updated` also names the `changed` fields. */
export interface ReviewEvent {
	review: PublicReview;
	changed?: string[];
}

// --- NLP: classifiers and re-analysis ---------------------------------------------------------------

export const CLASSIFIER_STATUSES = ["untrained", "trained"] as const;

/** A tenant's topic classifier. */
export const PublicClassifierSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	name: Type.String(),
	topics: Type.Array(Type.String(), { description: "The topics it may give a review" }),
	includeDefaults: Type.Boolean({ description: "Whether training adds the default examples of its default topics to the tenant's labels" }),
	status: Enum(CLASSIFIER_STATUSES),
	active: Type.Boolean({ description: "Whether the tenant's reviews are classified with it (one at most; none: the default classifier)" }),
	version: Type.Integer({ minimum: 0, description: "How many times it was trained" }),
	examples: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: "The tenant's labelled reviews of its last training, per topic" }),
	trainedAt: Nullable(DateTime),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export type PublicClassifier = Static<typeof PublicClassifierSchema>;

/** What `POST /reviews/reanalyze` queued. */
export const ReanalysisSchema = Type.Object({
	reviews: Type.Integer({ minimum: 0, description: "Reviews queued for analysis" }),
	batches: Type.Integer({ minimum: 0 }),
});
export type Reanalysis = Static<typeof ReanalysisSchema>;

// --- Durable channels (through the reviews and nlp outboxes) ---------------------------------------

export const REVIEW_CHANNELS = {
	/** A `reviews.store` batch stored new or edited reviews (the ids of those, not of unchanged duplicates). */
	collected: "reviews.collected",
	/** A batch of reviews has NLP results (first analysis, re-analysis, or after an edit). */
	analyzed: "reviews.analyzed",
	/** Reviews to analyse again (the nlp service's own queue, fed by `POST /reviews/reanalyze`). */
	reanalyze: "reviews.reanalyze",
} as const;

export interface ReviewsCollectedMessage {
	tenantId: string;
	sourceId: string;
	reviewIds: string[];
}

export interface ReviewsAnalyzedMessage {
	tenantId: string;
	reviewIds: string[];
}

export interface ReanalyzeMessage {
	tenantId: string;
	reviewIds: string[];
}

// --- Internal actions ------------------------------------------------------------------------------

/** One review as a collector hands it to `reviews.store`. */
export interface ReviewInput {
	externalId: string;
	rating?: number | null;
	title?: string | null;
	body: string;
	author?: string | null;
	language?: string | null;
	appVersion?: string | null;
	country?: string | null;
	publishedAt?: string | Date | null;
	raw?: Record<string, unknown> | null;
}

/** `reviews.store`: at most STORE_MAX_REVIEWS reviews of one source. */
export interface StoreParams {
	tenantId: string;
	sourceId: string;
	reviews: ReviewInput[];
}

export const STORE_MAX_REVIEWS = 1000;

export interface StoreResult {
	/** New reviews. */
	inserted: number;
	/** Reviews already stored whose content changed at the source (the earlier version is kept). */
	edited: number;
	/** Reviews already stored as they are (and repeats within the batch). */
	unchanged: number;
	/** The id of every review of the batch, in input order (a repeated external id once). */
	ids: string[];
}

/** What `reviews.forAnalysis` answers for each review: its text and what the analysis reads. */
export interface ReviewText {
	id: string;
	tenantId: string;
	sourceId: string;
	title: string | null;
	body: string;
	rating: number | null;
	language: string | null;
	/** The review's edit count when read: an analysis of an older text is not saved over a newer one. */
	revision: number;
}

/** One review's results, as the nlp service hands them to `reviews.saveAnalysis`. */
export interface AnalysisResult {
	reviewId: string;
	revision: number;
	language: string | null;
	sentimentScore: number;
	sentimentLabel: SentimentLabel;
	keywords: Array<{ term: string; score: number }>;
	entities: Array<{ type: EntityType; text: string; value: string }>;
	topics: string[];
	analyzerVersion: string;
}

export interface SaveAnalysisParams {
	tenantId: string;
	results: AnalysisResult[];
}

/** A review a member labelled with a topic, for training that tenant's classifiers (`reviews.labelled`). */
export interface LabelledReview {
	id: string;
	title: string | null;
	body: string;
	topic: string;
}
