/**
 * Tenants' topic classifiers (a mixin of nlp.service.ts): `/classifiers`. A classifier names the topics it may
 * give (the default ones, the tenant's own, or a mix) and is trained from the reviews the tenant labelled with
 * those topics (`PUT /reviews/:id/topic`, read through `reviews.labelled`), plus, unless `includeDefaults` is
 * false, the default training examples of its default topics (./nlp-topics.ts). Training stores natural's
 * serialised BayesClassifier in the nlp schema and makes the classifier the tenant's active one: the tenant's
 * reviews analysed from then on (new ones, and any re-analysis) get its topics. Deactivating or deleting it
 * brings back the default classifier.
 */
import type { Context, ServiceSchema } from "moleculer";
import { Sequelize } from "sequelize";
import { PAGE_PARAMS, plainRow, toPage, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { requireTenant, systemCall, type CallerMeta } from "../../lib/caller";
import { ConflictError, UnprocessableEntityError } from "../../lib/errors";
import { created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";
import type { ClassifierRow } from "../../models/reviews/nlp/classifier.model";
import { defaultExamplesFor, serialiseClassifier, trainClassifier } from "./nlp-topics";
import { DEFAULT_TOPICS, PublicClassifierSchema, TOPIC_PATTERN, type LabelledReview, type PublicClassifier } from "./contracts";

const CLASSIFIER_SCOPE = { entity: "classifier", owner: "tenant", name: "Classifier" } as const;
/** Fewer labelled reviews than this teach a classifier nothing worth replacing the default with. */
export const MIN_LABELS = 5;
/** The most labelled reviews one training reads. */
const MAX_LABELS = 20_000;

const nameRule = { type: "string", trim: true, min: 1, max: 100 } as const;
const topicsRule = { type: "array", min: 2, max: 30, unique: true, items: { type: "string", pattern: TOPIC_PATTERN } } as const;

type ClassifiersContext<P> = Context<P, CallerMeta>;

interface ClassifierMethods {
	presentClassifier(row: ClassifierRow): PublicClassifier;
	activate(row: ClassifierRow, changes: Partial<ClassifierRow>): Promise<ClassifierRow>;
}

function iso(value: Date | string | null): string | null {
	return value ? new Date(value).toISOString() : null;
}

const NlpClassifiersSchema: Partial<DbServiceSchema<DbMixinSettings, ClassifierMethods>> = {
	actions: {
		listClassifiers: {
			rest: "GET /classifiers",
			responses: { 200: { description: "A page of the tenant's classifiers, newest first", body: PageOf(PublicClassifierSchema) } },
			permissions: ["tenant:viewer"],
			summary: "The tenant's topic classifiers",
			params: { ...PAGE_PARAMS, $$strict: "remove" },
			async handler(ctx: ClassifiersContext<{ page: number; pageSize: number }>) {
				const { page, pageSize } = ctx.params;
				// Not the serialised models: a page of them would be megabytes nobody reads.
				const { rows, count } = await this.model.findAndCountAll({
					where: this.tenantFilter(ctx),
					attributes: { exclude: ["model"] },
					order: [["createdAt", "DESC"], ["id", "ASC"]],
					limit: pageSize,
					offset: (page - 1) * pageSize,
				});
				return toPage(rows.map((row) => this.presentClassifier(plainRow<ClassifierRow>(row)!)), count, page, pageSize);
			},
		},

		createClassifier: {
			rest: "POST /classifiers",
			responses: { 201: { description: "The new, untrained classifier", body: PublicClassifierSchema, headers: { Location: "The classifier's URL" } } },
			errors: { 409: ["ALREADY_EXISTS"] },
			permissions: ["tenant:admin"],
			summary: "Create a topic classifier for the tenant (train it to use it)",
			params: {
				name: nameRule,
				topics: { ...topicsRule, optional: true, description: "the topics it may give (default: the default topics)" },
				includeDefaults: { type: "boolean", optional: true, default: true, description: "train with the default examples of its default topics too" },
				$$strict: "remove",
			},
			async handler(ctx: ClassifiersContext<{ name: string; topics?: string[]; includeDefaults: boolean }>) {
				const tenantId = requireTenant(ctx.meta);
				const row = plainRow<ClassifierRow>(
					await this.model.create({ tenantId, name: ctx.params.name, topics: ctx.params.topics ?? [...DEFAULT_TOPICS], includeDefaults: ctx.params.includeDefaults }),
				)!;
				created(ctx, "classifiers", row.id);
				return this.presentClassifier(row);
			},
		},

		getClassifier: {
			rest: "GET /classifiers/:id",
			responses: { 200: { description: "The classifier", body: PublicClassifierSchema } },
			permissions: ["tenant:viewer"],
			summary: "One of the tenant's classifiers",
			params: { id: "string|max:64" },
			scope: CLASSIFIER_SCOPE,
			async handler(ctx: ClassifiersContext<{ id: string }>) {
				return this.presentClassifier(entityOf<ClassifierRow>(ctx));
			},
		},

		trainClassifier: {
			rest: "POST /classifiers/:id/train",
			responses: { 200: { description: "The trained classifier, now the tenant's active one", body: PublicClassifierSchema } },
			errors: { 422: ["NOT_ENOUGH_LABELS"] },
			permissions: ["tenant:admin"],
			summary: "Train the classifier from the reviews the tenant labelled with its topics, and make it the active one",
			description: `Needs at least ${MIN_LABELS} labelled reviews among its topics, and examples of two topics or more. Reviews analysed from now on get its topics; \`POST /reviews/reanalyze\` applies it to those already analysed.`,
			params: { id: "string|max:64" },
			scope: CLASSIFIER_SCOPE,
			async handler(ctx: ClassifiersContext<{ id: string }>) {
				const row = entityOf<ClassifierRow>(ctx);
				const labelled = await this.broker.call<LabelledReview[], object>("reviews.labelled", { tenantId: row.tenantId, topics: row.topics, limit: MAX_LABELS }, systemCall());
				const defaults = row.includeDefaults ? defaultExamplesFor(row.topics) : [];
				const examples: Record<string, number> = {};
				for (const review of labelled) examples[review.topic] = (examples[review.topic] ?? 0) + 1;
				const taught = new Set([...defaults.map((example) => example.topic), ...Object.keys(examples)]);
				if (labelled.length < MIN_LABELS || taught.size < 2) {
					throw new UnprocessableEntityError(
						`Training needs at least ${MIN_LABELS} reviews labelled with the classifier's topics and examples of two topics; label reviews with PUT /reviews/{id}/topic`,
						"NOT_ENOUGH_LABELS",
						{ labelled: labelled.length, needed: MIN_LABELS, topics: [...taught] },
					);
				}
				const classifier = trainClassifier(
					defaults,
					labelled.map((review) => ({ text: review.title ? `${review.title}. ${review.body}` : review.body, topic: review.topic })),
				);
				const trained = await this.activate(row, {
					status: "trained",
					model: serialiseClassifier(classifier),
					// Two trainings at once still get two versions (nodes key their cache of restored classifiers on it).
					version: Sequelize.literal("version + 1") as unknown as number,
					examples,
					trainedAt: new Date(),
				});
				await this.entityChanged("updated", { id: row.id }, ctx);
				return this.presentClassifier(trained);
			},
		},

		updateClassifier: {
			rest: "PUT /classifiers/:id",
			responses: { 200: { description: "The classifier as changed", body: PublicClassifierSchema } },
			errors: { 409: ["ALREADY_EXISTS", "CLASSIFIER_NOT_TRAINED"] },
			permissions: ["tenant:admin"],
			summary: "Rename a classifier, or make it the tenant's active one (`active: false`: back to the default classifier)",
			params: { id: "string|max:64", name: { ...nameRule, optional: true }, active: { type: "boolean", optional: true }, $$strict: "remove" },
			scope: CLASSIFIER_SCOPE,
			async handler(ctx: ClassifiersContext<{ id: string; name?: string; active?: boolean }>) {
				const row = entityOf<ClassifierRow>(ctx);
				const changes: Partial<ClassifierRow> = ctx.params.name !== undefined ? { name: ctx.params.name } : {};
				let updated: ClassifierRow;
				if (ctx.params.active === true && !row.active) {
					if (row.status !== "trained") throw new ConflictError("Train the classifier before making it active", "CLASSIFIER_NOT_TRAINED");
					updated = await this.activate(row, changes);
				} else {
					if (ctx.params.active === false) changes.active = false;
					if (Object.keys(changes).length === 0) return this.presentClassifier(row);
					const [, rows] = await this.model.update(changes, { where: { id: row.id }, returning: true });
					updated = plainRow<ClassifierRow>(rows[0])!;
				}
				await this.entityChanged("updated", { id: row.id }, ctx);
				return this.presentClassifier(updated);
			},
		},

		deleteClassifier: {
			rest: "DELETE /classifiers/:id",
			responses: { 204: "Deleted (the default classifier takes over if it was active)" },
			permissions: ["tenant:admin"],
			summary: "Delete a classifier",
			params: { id: "string|max:64" },
			scope: CLASSIFIER_SCOPE,
			async handler(ctx: ClassifiersContext<{ id: string }>) {
				const row = entityOf<ClassifierRow>(ctx);
				await this.model.destroy({ where: { id: row.id } });
				await this.entityChanged("removed", { id: row.id }, ctx);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},
	},

	methods: {
		presentClassifier(row: ClassifierRow): PublicClassifier {
			return {
				id: row.id,
				tenantId: row.tenantId,
				name: row.name,
				topics: row.topics,
				includeDefaults: row.includeDefaults,
				status: row.status,
				active: row.active,
				version: row.version,
				examples: row.examples ?? {},
				trainedAt: iso(row.trainedAt),
				createdAt: iso(row.createdAt)!,
				updatedAt: iso(row.updatedAt)!,
			};
		},

		/** The classifier becomes the tenant's active one (with `changes`), the others inactive, in one transaction. */
		async activate(row: ClassifierRow, changes: Partial<ClassifierRow>): Promise<ClassifierRow> {
			return this.adapter.db.transaction(async (transaction) => {
				await this.model.update({ active: false }, { where: { tenantId: row.tenantId, active: true }, transaction });
				const [, rows] = await this.model.update({ ...changes, active: true }, { where: { id: row.id }, returning: true, transaction });
				return plainRow<ClassifierRow>(rows[0])!;
			});
		},
	},
};

/** Typed as a plain mixin so the service can list it; its handlers see DbMixin's model and helpers. */
export const NlpClassifiers = NlpClassifiersSchema as Partial<ServiceSchema>;
