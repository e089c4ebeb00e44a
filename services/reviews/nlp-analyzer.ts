/**
 * One review through every NLP step, with natural (and tinyld for the language): the pure part of the nlp
 * service, shared by its consumer, the accuracy test and the benchmark's plain loop, so all three run the same
 * calls. Keywords need the tenant's corpus and are computed per batch (./nlp-keywords.ts); everything else
 * depends on the review alone and the classifier.
 */
import type { BayesClassifier } from "natural";
import { tokenize } from "./nlp-text";
import { detectLanguage } from "./nlp-language";
import { sentimentOf, type SentimentResult } from "./nlp-sentiment";
import { entitiesOf, type Entity } from "./nlp-entities";
import { keywordTerms } from "./nlp-keywords";
import { topicsOf } from "./nlp-topics";

/** Stored with each result; a change to any step's rules or data is a new version. */
export const ANALYZER_VERSION = "nlp-1";

export interface AnalyzerOptions {
	/** ISO 639-1 codes language detection may answer. */
	languages: readonly string[];
	/** Weight of the star rating in the sentiment score (0: the text alone). */
	ratingWeight: number;
}

export interface ReviewToAnalyse {
	title: string | null;
	body: string;
	rating: number | null;
	/** The language the source gave, a hint for short texts. */
	language: string | null;
}

export interface TextAnalysis {
	language: string | null;
	sentiment: SentimentResult;
	entities: Entity[];
	topics: string[];
	/** The review's keyword terms (with repeats), for TF-IDF against the tenant's corpus. */
	terms: string[];
}

/** The review's text as one string: its title (a sentence of its own) and its body. */
export function reviewText(review: Pick<ReviewToAnalyse, "title" | "body">): string {
	const title = review.title?.trim();
	if (!title) return review.body;
	return /[.!?]$/.test(title) ? `${title} ${review.body}` : `${title}. ${review.body}`;
}

export function analyseText(review: ReviewToAnalyse, classifier: BayesClassifier, options: AnalyzerOptions): TextAnalysis {
	const text = reviewText(review);
	const tokens = tokenize(text);
	const language = detectLanguage(text, options.languages, review.language);
	return {
		language,
		sentiment: sentimentOf(tokens, language, review.rating, options.ratingWeight),
		entities: entitiesOf(text, tokens),
		topics: topicsOf(classifier, text),
		terms: keywordTerms(tokens),
	};
}
