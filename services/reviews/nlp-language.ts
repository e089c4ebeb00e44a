/**
 * The language of a review's text, by tinyld (natural has no language identifier): character n-gram
 * statistics built for short texts, limited to the languages reviews are expected in (`NLP_LANGUAGES`), which
 * keeps a two-word review from being read as Kirundi or Irish. A text too short to tell takes the language its
 * source gave when that is among the candidates, else none.
 */
import { detectAll } from "tinyld";

/** Below this confidence the source's language wins when tinyld also considers it. */
const CONFIDENT = 0.5;
/** Below this nothing is said unless the source said it. */
const PLAUSIBLE = 0.02;

export function detectLanguage(text: string, languages: readonly string[], sourceLanguage: string | null): string | null {
	const hint = sourceLanguage ? sourceLanguage.slice(0, 2).toLowerCase() : null;
	const candidates = detectAll(text, { only: [...languages] });
	const top = candidates[0];
	if (top && top.accuracy >= CONFIDENT) return top.lang;
	if (hint && candidates.some((candidate) => candidate.lang === hint)) return hint;
	if (top && top.accuracy >= PLAUSIBLE) return top.lang;
	return hint && languages.includes(hint) ? hint : null;
}
