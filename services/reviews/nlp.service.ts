/**
 * The NLP of reviews: language, sentiment, keywords, entities and topics (./nlp-analyzer.ts, with natural), for
 * every review the reviews service stores. A durable consumer (group "nlp") of `reviews.collected`: each message
 * names a batch of stored reviews; their texts are read from the reviews service (`reviews.forAnalysis`),
 * analysed NLP_BATCH_SIZE at a time, counted into the tenant's corpus for TF-IDF (./nlp-corpus.ts) and written
 * back beside the reviews (`reviews.saveAnalysis`): each service keeps its own schema. `POST /reviews/reanalyze`
 * queues a source's (or all the tenant's) reviews again on the service's own channel `reviews.reanalyze`,
 * through its outbox, consumed the same way.
 *
 * Topics come from the tenant's active classifier (./nlp-classifiers.ts), or the default one. This service owns
 * the `nlp` schema (models/reviews/nlp/): classifiers and the tenants' corpora. It can run on a node of its own
 * (`SERVICES=reviews/nlp`): everything it needs from reviews goes through actions and channels.
 */
import path from "node:path";
import type { Context } from "moleculer";
import type { BayesClassifier } from "natural";
import { DbMixin, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { OutboxMixin, outboxModel, type OutboxMethods } from "../../mixins/outbox.mixin";
import { requireTenant, systemCall, type CallerMeta } from "../../lib/caller";
import { EntityNotFoundError, isFinalRefusal } from "../../lib/errors";
import { ExpiringMap } from "../../lib/expiring-map";
import { platformConfigOf } from "../../lib/node";
import type { NlpConfig } from "../../lib/config";
import { ClassifierModel } from "../../models/reviews/nlp/classifier.model";
import { ANALYZER_VERSION, analyseText, type AnalyzerOptions } from "./nlp-analyzer";
import { keywordsOf } from "./nlp-keywords";
import { countIntoCorpus } from "./nlp-corpus";
import { defaultTopicClassifier, restoreClassifier } from "./nlp-topics";
import { NlpClassifiers } from "./nlp-classifiers";
import {
	REVIEW_CHANNELS,
	ReanalysisSchema,
	type AnalysisResult,
	type ReanalyzeMessage,
	type Reanalysis,
	type ReviewText,
	type ReviewsCollectedMessage,
	type SaveAnalysisParams,
} from "./contracts";

/** Restored tenant classifiers kept per node; a training bumps the version, so a stale one is never used. */
const CLASSIFIER_CACHE_SIZE = 200;
const CLASSIFIER_CACHE_MS = 3_600_000;
/** The most reviews one re-analysis queues (a larger tenant re-analyses source by source). */
const MAX_REANALYSIS = 100_000;
/** Review ids read per call while queueing a re-analysis. */
const ID_PAGE = 1000;

export interface TopicModel {
	classifier: BayesClassifier;
	/** `default`, or the tenant classifier's id and version. */
	name: string;
}

export interface NlpMethods extends OutboxMethods {
	consume(message: ReviewsCollectedMessage | ReanalyzeMessage): Promise<void>;
	settingsOf(): NlpConfig;
	analyseReviews(tenantId: string, reviewIds: string[]): Promise<number>;
	analyseBatch(tenantId: string, reviews: ReviewText[]): Promise<AnalysisResult[]>;
	topicModelFor(tenantId: string): Promise<TopicModel>;
}

interface NlpLocals {
	classifierCache: ExpiringMap<BayesClassifier>;
}

type NlpContext<P> = Context<P, CallerMeta>;

const NlpService: DbServiceSchema<DbMixinSettings, NlpMethods, NlpLocals> = {
	name: "nlp",
	settings: { rest: "/" },
	mixins: [
		DbMixin({
			schema: "nlp",
			migrations: path.join(__dirname, "../../models/reviews/nlp/migrations"),
			model: ClassifierModel,
			extraModels: [outboxModel()],
			tenantOwned: true,
			entityName: "Classifier",
		}),
		OutboxMixin({ name: "NLP outbox" }),
		NlpClassifiers,
	],

	/**
	 * At least once: a redelivered batch is analysed again and saved over itself (the corpus counts each review
	 * once, whatever the deliveries), so nothing doubles. A review edited meanwhile comes with its own message.
	 */
	channels: {
		[REVIEW_CHANNELS.collected]: {
			group: "nlp",
			maxRetries: 10,
			async handler(message: ReviewsCollectedMessage) {
				await this.consume(message);
			},
		},
		[REVIEW_CHANNELS.reanalyze]: {
			group: "nlp",
			maxRetries: 10,
			async handler(message: ReanalyzeMessage) {
				await this.consume(message);
			},
		},
	},

	actions: {
		reanalyze: {
			rest: "POST /reviews/reanalyze",
			responses: { 202: { description: "The reviews queued for analysis", body: ReanalysisSchema } },
			errors: { 404: ["ENTITY_NOT_FOUND"] },
			permissions: ["tenant:admin"],
			summary: "Analyse a source's reviews again (all the tenant's reviews without `sourceId`), e.g. after training a classifier",
			params: { sourceId: { type: "uuid", optional: true }, $$strict: "remove" },
			async handler(ctx: NlpContext<{ sourceId?: string }>): Promise<Reanalysis> {
				const tenantId = requireTenant(ctx.meta);
				const { batchSize } = this.settingsOf();
				const batches: string[][] = [];
				let afterId: string | undefined;
				for (let total = 0; total < MAX_REANALYSIS; ) {
					const ids = await this.broker.call<string[], object>(
						"reviews.idsForAnalysis",
						{ tenantId, sourceId: ctx.params.sourceId, afterId, limit: Math.min(ID_PAGE, MAX_REANALYSIS - total) },
						systemCall(),
					);
					if (ids.length === 0) break;
					for (let start = 0; start < ids.length; start += batchSize) batches.push(ids.slice(start, start + batchSize));
					total += ids.length;
					afterId = ids[ids.length - 1];
				}
				// Sources are known by their reviews here: one without any is not the tenant's (or not there).
				if (ctx.params.sourceId && batches.length === 0) throw new EntityNotFoundError("Source", ctx.params.sourceId);
				await this.adapter.db.transaction(async (transaction) => {
					for (const reviewIds of batches) await this.writeOutbox(transaction, REVIEW_CHANNELS.reanalyze, { tenantId, reviewIds } satisfies ReanalyzeMessage);
				});
				ctx.meta.$statusCode = 202;
				return { reviews: batches.reduce((sum, ids) => sum + ids.length, 0), batches: batches.length };
			},
		},
	},

	methods: {
		/**
		 * A failure another delivery may get past (a reviews node away, the database) is thrown, so the message
		 * comes back; a refusal (4xx) would be refused again: it is logged and the message acknowledged.
		 */
		async consume(message: ReviewsCollectedMessage | ReanalyzeMessage): Promise<void> {
			try {
				await this.analyseReviews(message.tenantId, message.reviewIds);
			} catch (err) {
				if (!isFinalRefusal(err)) throw err;
				const error = err as Error & { type?: string };
				this.logger.warn(`NLP of ${message.reviewIds.length} reviews of tenant ${message.tenantId} refused (${error.type ?? error.name}): ${error.message}`);
			}
		},

		settingsOf(): NlpConfig {
			return platformConfigOf(this.broker).nlp;
		},

		/** Reads, analyses and saves the reviews, a batch at a time; answers how many were saved. */
		async analyseReviews(tenantId: string, reviewIds: string[]): Promise<number> {
			const { batchSize } = this.settingsOf();
			let saved = 0;
			for (let start = 0; start < reviewIds.length; start += batchSize) {
				const ids = reviewIds.slice(start, start + batchSize);
				const texts = await this.broker.call<ReviewText[], { ids: string[] }>("reviews.forAnalysis", { ids }, systemCall());
				// A message speaks for one tenant: anything else it names is not analysed in that tenant's corpus.
				const reviews = texts.filter((review) => review.tenantId === tenantId);
				if (reviews.length === 0) continue;
				const results = await this.analyseBatch(tenantId, reviews);
				const answer = await this.broker.call<{ saved: number }, SaveAnalysisParams>("reviews.saveAnalysis", { tenantId, results }, systemCall());
				saved += answer.saved;
			}
			return saved;
		},

		async analyseBatch(tenantId: string, reviews: ReviewText[]): Promise<AnalysisResult[]> {
			const settings = this.settingsOf();
			const options: AnalyzerOptions = { languages: settings.languages, ratingWeight: settings.ratingWeight };
			const topicModel = await this.topicModelFor(tenantId);
			const analyses = reviews.map((review) => analyseText(review, topicModel.classifier, options));
			const corpus = await countIntoCorpus(
				this.adapter.db,
				tenantId,
				reviews.map((review, index) => ({ reviewId: review.id, terms: [...new Set(analyses[index].terms)] })),
			);
			const keywords = keywordsOf(
				analyses.map((analysis) => analysis.terms),
				corpus,
				settings.keywords,
			);
			const version = `${ANALYZER_VERSION}+${topicModel.name}`;
			return reviews.map((review, index) => ({
				reviewId: review.id,
				revision: review.revision,
				language: analyses[index].language,
				sentimentScore: analyses[index].sentiment.score,
				sentimentLabel: analyses[index].sentiment.label,
				keywords: keywords[index],
				entities: analyses[index].entities,
				topics: analyses[index].topics,
				analyzerVersion: version,
			}));
		},

		/** The tenant's active classifier (restored once per version on this node), or the default one. */
		async topicModelFor(tenantId: string): Promise<TopicModel> {
			const active = (await this.models.classifier.findOne({
				where: { tenantId, active: true },
				attributes: ["id", "version"],
				raw: true,
			})) as { id: string; version: number } | null;
			if (!active) return { classifier: defaultTopicClassifier(), name: "default" };
			const name = `${active.id}@${active.version}`;
			const cached = this.classifierCache.get(name);
			if (cached) return { classifier: cached, name };
			const row = (await this.models.classifier.findOne({ where: { id: active.id }, attributes: ["model", "version"], raw: true })) as { model: string | null; version: number } | null;
			// Deleted between the two reads: the default classifier, until the next batch looks again.
			if (!row?.model) return { classifier: defaultTopicClassifier(), name: "default" };
			const classifier = restoreClassifier(row.model);
			const current = `${active.id}@${row.version}`;
			this.classifierCache.set(current, classifier, Date.now() + CLASSIFIER_CACHE_MS);
			return { classifier, name: current };
		},
	},

	created() {
		this.classifierCache = new ExpiringMap<BayesClassifier>(CLASSIFIER_CACHE_SIZE);
	},

	started() {
		// Trained now rather than on the first message, so the first batch doesn't wait for it.
		defaultTopicClassifier();
		this.startOutboxRelay();
	},

	async stopped() {
		await this.stopOutboxRelay();
	},
};

export default NlpService;
