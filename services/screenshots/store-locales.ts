/**
 * A store set's locales and the folder names fastlane gives them. The two stores name languages differently
 * (App Store Connect: `de-DE`, `ja`, `zh-Hans`; Google Play: `de-DE`, `ja-JP`, `zh-CN`), and each tool refuses a
 * folder it doesn't know: deliver checks its language list (FastlaneCore::Languages::ALL_LANGUAGES), supply
 * uploads the folder name as Play's language. So a set's locale is a BCP 47 tag, and each store's folder is
 * the entry of that store's list that the tag names: the same tag, or the one entry of its language (`ja` →
 * `ja-JP` on Play, `ja-JP` → `ja` on the App Store), or a known alias (scripts for Chinese, `he`/`iw`, `nb`/`no`).
 * A tag that either store doesn't list is refused when the set is saved (422 UNSUPPORTED_LOCALE).
 */

/** FastlaneCore::Languages::ALL_LANGUAGES (fastlane 2.228): the App Store Connect locales deliver accepts. */
export const APP_STORE_LOCALES = [
	"ar-SA", "bn-BD", "ca", "cs", "da", "de-DE", "el", "en-AU", "en-CA", "en-GB", "en-US", "es-ES", "es-MX", "fi", "fr-CA", "fr-FR", "gu-IN", "he",
	"hi", "hr", "hu", "id", "it", "ja", "kn-IN", "ko", "ml-IN", "mr-IN", "ms", "nl-NL", "no", "or-IN", "pa-IN", "pl", "pt-BR", "pt-PT", "ro", "ru",
	"sk", "sl-SI", "sv", "ta-IN", "te-IN", "th", "tr", "uk", "ur-PK", "vi", "zh-Hans", "zh-Hant",
] as const;

/** Supply::Languages::ALL_LANGUAGES (fastlane 2.228), with Play's hyphen: the Google Play listing languages. */
export const GOOGLE_PLAY_LOCALES = [
	"af", "am", "ar", "az-AZ", "be", "bg", "bn-BD", "ca", "cs-CZ", "da-DK", "de-DE", "el-GR", "en-AU", "en-CA", "en-GB", "en-IN", "en-SG", "en-US",
	"en-ZA", "es-419", "es-ES", "es-US", "et", "eu-ES", "fa", "fi-FI", "fil", "fr-CA", "fr-FR", "gl-ES", "hi-IN", "hr", "hu-HU", "hy-AM", "id", "is-IS",
	"it-IT", "iw-IL", "ja-JP", "ka-GE", "km-KH", "kn-IN", "ko-KR", "ky-KG", "lo-LA", "lt", "lv", "mk-MK", "ml-IN", "mn-MN", "mr-IN", "ms", "ms-MY",
	"my-MM", "ne-NP", "nl-NL", "no-NO", "pl-PL", "pt-BR", "pt-PT", "rm", "ro", "ru-RU", "si-LK", "sk", "sl", "sr", "sv-SE", "sw", "ta-IN", "te-IN",
	"th", "tr-TR", "uk", "vi", "zh-CN", "zh-HK", "zh-TW", "zu",
] as const;

/** Tags that name the same language under another code: tried after the tag itself. */
const ALIASES: Record<string, readonly string[]> = {
	"zh-hans": ["zh-CN"],
	"zh-cn": ["zh-Hans"],
	"zh-sg": ["zh-Hans", "zh-CN"],
	"zh-hant": ["zh-TW"],
	"zh-tw": ["zh-Hant"],
	"zh-hk": ["zh-Hant"],
	zh: ["zh-Hans", "zh-CN"],
	he: ["iw-IL"],
	"he-il": ["he", "iw-IL"],
	iw: ["he", "iw-IL"],
	"iw-il": ["he"],
	nb: ["no", "no-NO"],
	// Latin American Spanish: App Store Connect's es-MX, Google Play's es-419.
	"es-mx": ["es-419"],
	"es-419": ["es-MX"],
	"nb-no": ["no", "no-NO"],
};

/** When a bare language has several regions in a list, the one it means. */
const PRIMARY_REGION: Record<string, string> = { en: "en-US", es: "es-ES", fr: "fr-FR", pt: "pt-PT", de: "de-DE", ms: "ms" };

/** Folder names of one locale for each store. */
export interface StoreLocale {
	/** The set's tag, as stored. */
	tag: string;
	/** screenshots/<appStore>/ (deliver). */
	appStore: string;
	/** metadata/android/<googlePlay>/ (supply). */
	googlePlay: string;
}

/** `de-de` → `de-DE`, `ZH-hans` → `zh-Hans`, `es-419` stays: the case BCP 47 writes. */
export function canonicalTag(tag: string): string {
	return tag
		.split("-")
		.map((part, index) => {
			if (index === 0) return part.toLowerCase();
			if (part.length === 2) return part.toUpperCase();
			if (part.length === 4) return part[0].toUpperCase() + part.slice(1).toLowerCase();
			return part.toLowerCase();
		})
		.join("-");
}

function find(list: readonly string[], tag: string): string | undefined {
	const wanted = tag.toLowerCase();
	const exact = list.find((entry) => entry.toLowerCase() === wanted);
	if (exact) return exact;
	for (const alias of ALIASES[wanted] ?? []) {
		const hit = list.find((entry) => entry.toLowerCase() === alias.toLowerCase());
		if (hit) return hit;
	}
	const language = wanted.split("-")[0];
	const sameLanguage = list.filter((entry) => entry.toLowerCase().split("-")[0] === language);
	if (sameLanguage.length === 1) return sameLanguage[0];
	// `de-AT` has no folder of its own: the language's main one, but only for a tag with nothing but a region.
	const primary = PRIMARY_REGION[language];
	if (primary && sameLanguage.includes(primary) && /^[a-z]{2,3}(-[a-z]{2})?$/.test(wanted)) return primary;
	return undefined;
}

/** The folders of a tag in each store, or which store doesn't list it. */
export function storeLocale(tag: string): StoreLocale | { missing: Array<"app_store" | "google_play"> } {
	const canonical = canonicalTag(tag);
	const appStore = find(APP_STORE_LOCALES, canonical);
	const googlePlay = find(GOOGLE_PLAY_LOCALES, canonical);
	if (appStore && googlePlay) return { tag: canonical, appStore, googlePlay };
	return { missing: [...(appStore ? [] : ["app_store" as const]), ...(googlePlay ? [] : ["google_play" as const])] };
}
