/**
 * Sentiment of a review: a score in [-1, 1] and a label. Word valences come from natural's SentimentAnalyzer
 * with the AFINN-165 vocabulary (English; Spanish and Portuguese AFINN, and natural's "pattern" vocabularies
 * for French, German, Italian and Dutch), asked one word at a time, plus the review words of
 * ./nlp-sentiment-lexicon.ts for English. natural's own scoring flips every word after the first "not" to the end of
 * the text and averages over all words; this scorer reads the words in order instead:
 *
 * - negation: a negator ("not", "never", "no", "don't", "without", …; natural's lists for the other languages)
 *   turns around the sentiment words in the next three words of the same clause, damped (× -0.74, VADER's
 *   factor: "not great" is less bad than "terrible");
 * - intensifiers and softeners just before a word scale it ("very slow", "a bit confusing");
 * - a hypothetical ("would be nice if", "I wish it had") counts a third;
 * - after "but" / "however" a sentence's second half counts 1.5 and its first half 0.5;
 * - a word in capitals amid lower-case text counts 1.25, and exclamation marks push the sum away from zero;
 * - the sum becomes a score in [-1, 1] as VADER's compound does: sum / sqrt(sum² + 15).
 *
 * The star rating, when the review has one, is a prior: the final score is (1 - w) × text + w × (rating - 3) / 2,
 * with w = NLP_RATING_WEIGHT (0 for text alone). A text with no sentiment words at all takes the rating's score
 * (unless w is 0).
 */
import { SentimentAnalyzer } from "natural";
import { isPunctuation } from "./nlp-text";
import { CONTRASTS, HYPOTHETICAL, HYPOTHETICAL_EXEMPT, INTENSIFIERS, NEGATORS, NOSTALGIA, REVIEW_PHRASES, REVIEW_VALENCES } from "./nlp-sentiment-lexicon";
import type { SentimentLabel } from "./contracts";

/** Scores at or above this are positive, at or below its negative negative, neutral between. */
export const LABEL_THRESHOLD = 0.2;
const NEGATION_FACTOR = -0.74;
const NEGATION_REACH = 3;
const BOOSTER_REACH = 2;
const HYPOTHETICAL_FACTOR = 0.33;
const CAPS_FACTOR = 1.25;
const EXCLAMATION_STEP = 0.292;
const NORMALISER = 15;

/** natural's vocabulary type and language for each language code we score. */
const VOCABULARIES: Record<string, { language: string; type: "afinn" | "pattern"; scale: number }> = {
	en: { language: "English", type: "afinn", scale: 1 },
	es: { language: "Spanish", type: "afinn", scale: 1 },
	pt: { language: "Portuguese", type: "afinn", scale: 1 },
	// pattern polarities are in [-1, 1]; scaled to AFINN's range so one normaliser fits all.
	fr: { language: "French", type: "pattern", scale: 4 },
	de: { language: "German", type: "pattern", scale: 4 },
	it: { language: "Italian", type: "pattern", scale: 4 },
	nl: { language: "Dutch", type: "pattern", scale: 4 },
};

/** The languages the text is scored in; other languages take the rating's score, or neutral. */
export const SENTIMENT_LANGUAGES = Object.keys(VOCABULARIES);

interface Lexicon {
	valence(word: string): number;
	negators: ReadonlySet<string>;
	english: boolean;
}

const lexicons = new Map<string, Lexicon>();

/** natural keeps a language's negation words on the analyzer without typing them. */
interface AnalyzerWithNegations {
	negations?: string[];
}

function lexiconFor(language: string): Lexicon | undefined {
	const known = lexicons.get(language);
	if (known) return known;
	const vocabulary = VOCABULARIES[language];
	if (!vocabulary) return undefined;
	// No stemmer: natural's stemmed vocabulary merges words whose stems collide ("fine" takes "fined"'s -2).
	const analyzer = new SentimentAnalyzer(vocabulary.language, null as never, vocabulary.type);
	const english = language === "en";
	const cache = new Map<string, number>();
	const lexicon: Lexicon = {
		english,
		negators: english ? NEGATORS : new Set((analyzer as unknown as AnalyzerWithNegations).negations ?? []),
		valence(word: string): number {
			const cached = cache.get(word);
			if (cached !== undefined) return cached;
			const own = english ? REVIEW_VALENCES[word] : undefined;
			// One word: natural's score (sum of valences / number of words) is that word's valence.
			const value = own ?? analyzer.getSentiment([word]) * vocabulary.scale;
			// Vocabularies are finite; a cap keeps a stream of unknown words from growing the cache without end.
			if (cache.size < 200_000) cache.set(word, value);
			return value;
		},
	};
	lexicons.set(language, lexicon);
	return lexicon;
}

export interface SentimentResult {
	score: number;
	label: SentimentLabel;
	/** The text's own score before the rating prior, for tuning and tests. */
	textScore: number;
}

export function labelOf(score: number): SentimentLabel {
	if (score >= LABEL_THRESHOLD) return "positive";
	if (score <= -LABEL_THRESHOLD) return "negative";
	return "neutral";
}

/** Sentences as token ranges: a sentence ends at . ! ? or ; (commas only end a negation's reach). */
function sentences(tokens: string[]): string[][] {
	const out: string[][] = [];
	let current: string[] = [];
	for (const token of tokens) {
		current.push(token);
		if (isPunctuation(token) && /[.!?;]/.test(token)) {
			out.push(current);
			current = [];
		}
	}
	if (current.length > 0) out.push(current);
	return out;
}

/** The longest phrase of REVIEW_PHRASES, in words. */
const LONGEST_PHRASE = Math.max(...Object.keys(REVIEW_PHRASES).map((phrase) => phrase.split(" ").length));
const NOSTALGIA_REACH = 4;

/** A phrase of REVIEW_PHRASES starting at `index`, longest first: its length in words and valence. */
function phraseAt(lower: string[], index: number): { length: number; valence: number } | undefined {
	for (let length = Math.min(LONGEST_PHRASE, lower.length - index); length >= 2; length -= 1) {
		const valence = REVIEW_PHRASES[lower.slice(index, index + length).join(" ")];
		if (valence !== undefined) return { length, valence };
	}
	return undefined;
}

/** Whether "used to" stands in the few words before `index` ("it used to work great"). */
function afterNostalgia(lower: string[], index: number): boolean {
	for (let back = 2; back <= NOSTALGIA_REACH && index - back >= 0; back += 1) {
		if (isPunctuation(lower[index - back + 1])) return false;
		if (lower[index - back] === NOSTALGIA[0] && lower[index - back + 1] === NOSTALGIA[1]) return true;
	}
	return false;
}

/** How the words before `index` (same clause) modify it: negated, scaled by intensifiers, hypothetical. */
function modifiers(lower: string[], index: number, word: string, lexicon: Lexicon): { negated: boolean; scale: number; hypothetical: boolean } {
	let negated = false;
	let scale = 1;
	let hypothetical = false;
	for (let back = 1; back <= NEGATION_REACH && index - back >= 0; back += 1) {
		const before = lower[index - back];
		if (isPunctuation(before) || CONTRASTS.has(before)) break;
		if (lexicon.negators.has(before)) negated = !negated;
		if (lexicon.english && back <= BOOSTER_REACH && INTENSIFIERS[before] !== undefined) scale *= INTENSIFIERS[before];
		if (lexicon.english && HYPOTHETICAL.has(before) && !HYPOTHETICAL_EXEMPT.has(word)) hypothetical = true;
	}
	return { negated, scale, hypothetical };
}

/** The text's raw valence sum, before normalising. */
function textSum(tokens: string[], lexicon: Lexicon): number {
	const letters = tokens.filter((token) => /\p{L}/u.test(token));
	const shouting = letters.length > 0 && letters.every((token) => token === token.toUpperCase());
	let total = 0;
	for (const sentence of sentences(tokens)) {
		const lower = sentence.map((token) => token.toLowerCase());
		const contrastAt = lower.findIndex((token, index) => index > 0 && CONTRASTS.has(token));
		let index = 0;
		while (index < sentence.length) {
			const word = lower[index];
			const phrase = lexicon.english ? phraseAt(lower, index) : undefined;
			const span = phrase?.length ?? 1;
			const at = index;
			index += span;
			if (!phrase && (isPunctuation(word) || lexicon.negators.has(word))) continue;
			let value = phrase?.valence ?? lexicon.valence(word);
			if (value === 0) continue;
			// Intensifiers modify the next word rather than carrying a sentiment of their own.
			if (!phrase && lexicon.english && INTENSIFIERS[word] !== undefined && at + 1 < sentence.length && lexicon.valence(lower[at + 1]) !== 0) continue;
			const { negated, scale, hypothetical } = modifiers(lower, at, word, lexicon);
			value *= scale;
			// A phrase that says its own negation ("no reply", "not bad") isn't turned around again by it.
			const selfNegated = phrase !== undefined && lower.slice(at, at + span).some((part) => lexicon.negators.has(part));
			if (negated && !selfNegated) value *= NEGATION_FACTOR;
			if (hypothetical) value *= HYPOTHETICAL_FACTOR;
			if (lexicon.english && afterNostalgia(lower, at)) value *= NEGATION_FACTOR * 0.7;
			const original = sentence[at];
			if (!phrase && !shouting && original.length > 1 && original === original.toUpperCase() && /\p{L}/u.test(original)) value *= CAPS_FACTOR;
			if (contrastAt > 0) value *= at < contrastAt ? 0.5 : 1.5;
			total += value;
		}
	}
	if (total !== 0) {
		const exclamations = Math.min(4, tokens.reduce((count, token) => count + (token.match(/!/g)?.length ?? 0), 0));
		total += Math.sign(total) * exclamations * EXCLAMATION_STEP;
	}
	return total;
}

/**
 * The sentiment of tokenised text in `language` (ISO 639-1; null or unsupported: the rating alone decides),
 * with the star rating (1-5) as a prior weighted `ratingWeight`.
 */
export function sentimentOf(tokens: string[], language: string | null, rating: number | null, ratingWeight: number): SentimentResult {
	// A language without a vocabulary is scored with English's: short texts are often misread as another
	// language, and a text truly in one finds no English words (its score is then the rating's).
	const english = lexiconFor("en")!;
	const lexicon = lexiconFor(language ?? "en") ?? english;
	let sum = textSum(tokens, lexicon);
	// The same for a text misread as another language: when its vocabulary finds nothing, English may.
	if (sum === 0 && lexicon !== english) sum = textSum(tokens, english);
	const textScore = sum / Math.sqrt(sum * sum + NORMALISER);
	let score = textScore;
	if (rating !== null) {
		const prior = (rating - 3) / 2;
		score = sum === 0 && ratingWeight > 0 ? prior : (1 - ratingWeight) * textScore + ratingWeight * prior;
	}
	score = Math.round(score * 10_000) / 10_000;
	return { score, label: labelOf(score), textScore: Math.round(textScore * 10_000) / 10_000 };
}
