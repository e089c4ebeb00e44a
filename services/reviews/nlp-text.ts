/**
 * The one tokenisation every NLP step shares, so sentiment, keywords, entities and topics see the same words:
 * natural's RegexpTokenizer matching words (letters and digits, with in-word apostrophes kept, so "don't"
 * stays one token a negation rule can see) and runs of clause punctuation (which end a negation's reach).
 */
import { RegexpTokenizer, stopwords as naturalStopwords } from "natural";

/** A word (letters/digits, inner apostrophes and dots of versions kept) or a run of clause punctuation. */
const TOKEN = /[\p{L}\p{N}]+(?:['’.][\p{L}\p{N}]+)*|[.!?;:,()]+/gu;

const tokenizer = new RegexpTokenizer({ pattern: TOKEN, gaps: false });

/** The text as tokens, in order, with their case (entities need it); punctuation runs are tokens too. */
export function tokenize(text: string): string[] {
	return (tokenizer.tokenize(text) ?? []).map((token) => token.replace(/’/g, "'"));
}

/** Whether a token is clause punctuation rather than a word. */
export function isPunctuation(token: string): boolean {
	return /^[.!?;:,()]+$/.test(token);
}

/**
 * natural's English stop words plus the filler of reviews ("app", "just", "get"): words that say nothing about
 * what a review is about, kept out of keywords.
 */
export const STOPWORDS: ReadonlySet<string> = new Set([
	...naturalStopwords,
	"app", "apps", "application", "just", "get", "got", "also", "really", "even", "still", "one", "like", "would",
	"could", "use", "using", "used", "make", "makes", "made", "thing", "things", "lot", "much", "many", "every",
	"im", "i'm", "it's", "its", "ive", "i've", "dont", "don't", "doesn't", "didn't", "can't", "cant", "won't", "isn't",
	"wasn't", "aren't", "there's", "that's", "let", "let's", "since", "ever", "way", "well", "back", "now", "time",
	"times", "day", "days", "bit", "though", "yet", "us", "we", "our", "you", "your", "they", "them", "their",
	"very", "too", "quite", "pretty", "able", "want", "need", "keep", "keeps", "say", "says", "see", "go", "going",
	"thank", "thanks", "please", "ok", "okay", "anything", "something", "everything", "nothing", "etc",
]);
