/**
 * Entities in a review, by patterns and gazetteers (./nlp-data/gazetteers.json): versions ("v2.3.1", "version 5",
 * "ver. 4.2"), amounts of money ("$9.99", "10 euros"), product features (a gazetteer of phrases and their
 * synonyms: "night mode" is the feature "dark mode"), people (capitalised first names from a gazetteer, with a
 * capitalised surname after them, or after Mr/Mrs/Ms/Dr) and places (countries, regions and large cities as
 * written). Phrases are matched longest first over natural's n-grams of the review's words, so "push
 * notifications" is one feature, not two.
 */
import { NGrams } from "natural";
import gazetteers from "./nlp-data/gazetteers.json";
import { isPunctuation } from "./nlp-text";
import type { EntityType } from "./contracts";

export interface Entity {
	type: EntityType;
	text: string;
	value: string;
}

const MAX_PHRASE = 3;

const VERSION = /\b(?:v(?:er(?:sion)?)?\.?\s?(\d+(?:\.\d+){0,3})|(\d+\.\d+\.\d+(?:\.\d+)?))\b/gi;
const MONEY = /([$€£¥])\s?(\d{1,6}(?:[.,]\d{1,2})?)|\b(\d{1,6}(?:[.,]\d{1,2})?)\s?(dollars?|euros?|pounds?|bucks|usd|eur|gbp)\b/gi;
const CURRENCY_OF: Record<string, string> = { $: "USD", "€": "EUR", "£": "GBP", "¥": "JPY", dollar: "USD", dollars: "USD", bucks: "USD", usd: "USD", euro: "EUR", euros: "EUR", eur: "EUR", pound: "GBP", pounds: "GBP", gbp: "GBP" };
const HONORIFICS = new Set(["Mr", "Mrs", "Ms", "Dr", "Mr.", "Mrs.", "Ms.", "Dr."]);

/** Phrase (lower case) → the feature's gazetteer name. */
const FEATURES = new Map<string, string>(Object.entries(gazetteers.features).flatMap(([name, phrases]) => phrases.map((phrase) => [phrase, name] as const)));
const PEOPLE: ReadonlySet<string> = new Set(gazetteers.people);
const PLACES: ReadonlySet<string> = new Set(gazetteers.places);

function isCapitalised(token: string): boolean {
	return /^\p{Lu}\p{Ll}+$/u.test(token);
}

/** Longest-first phrase matches of a gazetteer over one run of words (no punctuation inside a phrase). */
function phraseMatches(words: string[], caseless: boolean, lookup: (phrase: string) => string | undefined, type: EntityType, out: Entity[]): void {
	const keys = caseless ? words.map((word) => word.toLowerCase()) : words;
	const taken = new Array<boolean>(words.length).fill(false);
	for (let size = Math.min(MAX_PHRASE, words.length); size >= 1; size -= 1) {
		NGrams.ngrams(keys, size).forEach((gram, start) => {
			if (taken.slice(start, start + size).some(Boolean)) return;
			const value = lookup(gram.join(" "));
			if (value === undefined) return;
			for (let index = start; index < start + size; index += 1) taken[index] = true;
			out.push({ type, text: words.slice(start, start + size).join(" "), value });
		});
	}
}

/** Runs of consecutive words between punctuation. */
function wordRuns(tokens: string[]): string[][] {
	const runs: string[][] = [[]];
	for (const token of tokens) {
		if (isPunctuation(token)) runs.push([]);
		else runs[runs.length - 1].push(token);
	}
	return runs.filter((run) => run.length > 0);
}

function people(tokens: string[], out: Entity[]): void {
	for (let index = 0; index < tokens.length; index += 1) {
		const token = tokens[index];
		const afterHonorific = index > 0 && HONORIFICS.has(tokens[index - 1]) && isCapitalised(token);
		if (!afterHonorific && !(PEOPLE.has(token) && isCapitalised(token))) continue;
		const next = tokens[index + 1];
		const surname = next && isCapitalised(next) && !PLACES.has(next) ? next : undefined;
		const name = surname ? `${token} ${surname}` : token;
		out.push({ type: "person", text: afterHonorific ? `${tokens[index - 1]} ${name}` : name, value: name });
		if (surname) index += 1;
	}
}

export function entitiesOf(text: string, tokens: string[]): Entity[] {
	const found: Entity[] = [];
	for (const match of text.matchAll(VERSION)) found.push({ type: "version", text: match[0], value: match[1] ?? match[2] });
	for (const match of text.matchAll(MONEY)) {
		const amount = (match[2] ?? match[3]).replace(",", ".");
		const currency = CURRENCY_OF[(match[1] ?? match[4]).toLowerCase()] ?? "";
		found.push({ type: "money", text: match[0], value: `${amount} ${currency}`.trim() });
	}
	for (const run of wordRuns(tokens)) {
		phraseMatches(run, true, (phrase) => FEATURES.get(phrase), "feature", found);
		phraseMatches(run, false, (phrase) => (PLACES.has(phrase) ? phrase : undefined), "place", found);
	}
	people(tokens, found);
	const seen = new Set<string>();
	return found.filter((entity) => {
		const key = `${entity.type}:${entity.value}`;
		if (seen.has(key)) return false;
		seen.add(key);
		return true;
	});
}
