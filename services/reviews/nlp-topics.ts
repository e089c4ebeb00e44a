/**
 * Topic classification with natural's BayesClassifier (Porter-stemmed words, stop words left out). The default
 * classifier is trained at start from the committed training set (./nlp-data/topics-training.json: short reviews
 * written for it, a few dozen per default topic); a tenant's classifier is trained from the same set (for the
 * default topics it keeps) plus the reviews the tenant labelled, each counted LABEL_WEIGHT times so the tenant's
 * own judgement outweighs the generic examples, and is stored serialised (natural's JSON form) in the nlp schema.
 *
 * A review gets its most likely topic first, then up to two more whose share of the probability is at least
 * SECONDARY_SHARE ("great app but it crashes": bugs, praise); "other" is never a second topic.
 */
import { BayesClassifier, PorterStemmer } from "natural";
import training from "./nlp-data/topics-training.json";
import { DEFAULT_TOPICS } from "./contracts";

export const LABEL_WEIGHT = 3;
const SECONDARY_SHARE = 0.3;
const MAX_TOPICS = 3;

export interface TrainingExample {
	text: string;
	topic: string;
}

export const DEFAULT_TRAINING: readonly TrainingExample[] = training;

/** A trained classifier from examples (tenant labels weighted by LABEL_WEIGHT). */
export function trainClassifier(defaults: readonly TrainingExample[], labelled: readonly TrainingExample[] = []): BayesClassifier {
	const classifier = new BayesClassifier();
	for (const example of defaults) classifier.addDocument(example.text, example.topic);
	for (const example of labelled) for (let copy = 0; copy < LABEL_WEIGHT; copy += 1) classifier.addDocument(example.text, example.topic);
	classifier.train();
	return classifier;
}

let defaultClassifier: BayesClassifier | undefined;

/** The default classifier, trained once per process. */
export function defaultTopicClassifier(): BayesClassifier {
	defaultClassifier ??= trainClassifier(DEFAULT_TRAINING);
	return defaultClassifier;
}

/** The default examples a tenant classifier keeps: those of the default topics among its topics. */
export function defaultExamplesFor(topics: readonly string[]): TrainingExample[] {
	const kept = new Set(topics.filter((topic) => (DEFAULT_TOPICS as readonly string[]).includes(topic)));
	return DEFAULT_TRAINING.filter((example) => kept.has(example.topic));
}

export function serialiseClassifier(classifier: BayesClassifier): string {
	return JSON.stringify(classifier);
}

export function restoreClassifier(serialised: string): BayesClassifier {
	return BayesClassifier.restore(JSON.parse(serialised) as Record<string, unknown>);
}

/** The review's topics, most likely first. A text with no known word gets "other". */
export function topicsOf(classifier: BayesClassifier, text: string): string[] {
	// The classifier reads which stems are present, not how often: one of each keeps long reviews cheap.
	const stems = [...new Set(PorterStemmer.tokenizeAndStem(text))];
	// Without a single known word the classes' priors alone would pick one: say nothing instead.
	if (!stems.some((stem) => Object.hasOwn(classifier.features, stem))) return ["other"];
	const classifications = classifier.getClassifications(stems);
	const total = classifications.reduce((sum, item) => sum + item.value, 0);
	if (classifications.length === 0 || !(total > 0)) return ["other"];
	const [first, ...rest] = classifications;
	const topics = [first.label];
	for (const item of rest) {
		if (topics.length >= MAX_TOPICS || item.value / total < SECONDARY_SHARE) break;
		if (item.label !== "other") topics.push(item.label);
	}
	return topics;
}
