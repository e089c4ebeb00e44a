/**
 * The reviews domain's configuration section: how its nlp service analyses reviews. Parsed with the rest of
 * the environment by loadConfig (lib/config.ts), so a bad value stops any node at start, whichever domains it
 * runs.
 */
import { ConfigError, integer, list, read, type Env } from "./env";

export interface NlpConfig {
	/** Reviews analysed together (one fetch, one corpus update, one save), and per re-analysis message. */
	batchSize: number;
	/** Weight of the star rating in a review's sentiment score, 0 (the text alone) to 1 (the rating alone). */
	ratingWeight: number;
	/** Keywords kept per review. */
	keywords: number;
	/** ISO 639-1 codes language detection may answer. */
	languages: string[];
}

/** The languages of the large app-store markets. */
export const DEFAULT_NLP_LANGUAGES = [
	"en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "tr", "ru", "uk", "ja", "ko", "zh",
	"ar", "he", "hi", "id", "ms", "th", "vi", "el", "hu", "ro",
];

function fraction(env: Env, name: string, fallback: number): number {
	const value = read(env, name);
	if (value === undefined) return fallback;
	const parsed = Number(value);
	if (!/^\d*\.?\d+$/.test(value) || parsed < 0 || parsed > 1) throw new ConfigError(name, `must be a number from 0 to 1 (got "${value}")`);
	return parsed;
}

export function nlp(env: Env): NlpConfig {
	const languages = list(env, "NLP_LANGUAGES", DEFAULT_NLP_LANGUAGES).map((code) => code.toLowerCase());
	const wrong = languages.filter((code) => !/^[a-z]{2}$/.test(code));
	if (wrong.length > 0) throw new ConfigError("NLP_LANGUAGES", `must be ISO 639-1 codes such as en,de,fr (got ${wrong.join(", ")})`);
	return {
		batchSize: integer(env, "NLP_BATCH_SIZE", 200, 1, 1000),
		ratingWeight: fraction(env, "NLP_RATING_WEIGHT", 0.35),
		keywords: integer(env, "NLP_KEYWORDS", 8, 1, 50),
		languages,
	};
}
