/**
 * Keywords of a review by TF-IDF against its tenant's reviews, with natural.TfIdf: term frequencies from the
 * review itself, inverse document frequencies from the tenant's corpus (how many of the tenant's analysed
 * reviews contain each term, kept in the nlp schema: ./nlp-corpus.ts) instead of from the documents added to
 * the TfIdf instance, which would be only the batch at hand. The formula is natural's own:
 * idf = 1 + ln(N / (1 + df)).
 *
 * Terms are lower-cased words of three or more letters that are not stop words, and the pairs of such words
 * that stand next to each other in a clause ("dark mode", "battery drain").
 */
import { TfIdf } from "natural";
import { isPunctuation, STOPWORDS } from "./nlp-text";
import { NEGATORS } from "./nlp-sentiment-lexicon";

/** Document frequencies of a tenant's corpus: the number of documents, and per term how many contain it. */
export interface CorpusFrequencies {
	documents: number;
	frequency(term: string): number;
}

function isKeywordWord(word: string): boolean {
	return word.length >= 3 && word.length <= 40 && /^\p{L}[\p{L}'-]*$/u.test(word) && !STOPWORDS.has(word) && !NEGATORS.has(word);
}

/** The review's terms, repeated as often as they occur (term frequency): words, then adjacent word pairs. */
export function keywordTerms(tokens: string[]): string[] {
	const words: string[] = [];
	const pairs: string[] = [];
	let previous: string | undefined;
	for (const token of tokens) {
		const word = token.toLowerCase();
		if (isPunctuation(word) || !isKeywordWord(word)) {
			previous = undefined;
			continue;
		}
		words.push(word);
		if (previous) pairs.push(`${previous} ${word}`);
		previous = word;
	}
	return [...words, ...pairs];
}

/** natural's TfIdf whose inverse document frequencies come from a tenant's corpus. */
class CorpusTfIdf extends TfIdf {
	constructor(private readonly corpus: CorpusFrequencies) {
		super();
	}

	override idf(term: string): number {
		return 1 + Math.log(Math.max(1, this.corpus.documents) / (1 + this.corpus.frequency(term)));
	}
}

/** The `limit` highest-scoring keywords of each document (its terms from keywordTerms), in order. */
export function keywordsOf(documents: string[][], corpus: CorpusFrequencies, limit: number): Array<Array<{ term: string; score: number }>> {
	const tfidf = new CorpusTfIdf(corpus);
	for (const terms of documents) tfidf.addDocument(terms);
	return documents.map((_terms, index) =>
		tfidf
			.listTerms(index)
			.filter((item) => item.tfidf > 0)
			.slice(0, limit)
			.map((item) => ({ term: item.term, score: Math.round(item.tfidf * 10_000) / 10_000 })),
	);
}
