/**
 * Parameter rules the store-sets service's parts share (store-sets.service.ts, apps-api.ts,
 * store-screens-api.ts), and the scope of a store set.
 */
import { MAX_SCREENS } from "./store-set-plan";

export { MAX_SCREENS };

/** A store set is its tenant's: another tenant's id answers 404, exactly like a missing one. */
export const STORE_SET_SCOPE = { entity: "storeSet", owner: "tenant", name: "Store set" } as const;

export const NAME_RULE = { type: "string", trim: true, min: 1, max: 100 } as const;
export const LOCALE_RULE = { type: "string", min: 2, max: 16, pattern: /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/, messages: { stringPattern: "a locale is a BCP 47 tag such as en-US" } } as const;
export const LOCALES_RULE = { type: "array", min: 1, max: 20, items: LOCALE_RULE, description: "BCP 47 tags both stores list (en-US, de-DE, ja, zh-Hans, …)" } as const;
export const CAPTIONS_RULE = { type: "record", optional: true, key: LOCALE_RULE, value: { type: "string", max: 200 }, description: "locale → caption (a line break is kept)" } as const;
export const SCREEN_PROPS = {
	fileId: { type: "uuid", description: "The raw screenshot: a PNG, JPEG or WebP file of the tenant" },
	tabletFileId: { type: "uuid", optional: true, nullable: true, description: "A tablet screenshot of the same screen, for the tablet sizes" },
	captions: CAPTIONS_RULE,
} as const;

/** The 422s a set's content can answer. */
export const STORE_SET_ERRORS = ["FILE_NOT_FOUND", "FILE_NOT_IMAGE", "UNSUPPORTED_LOCALE", "DUPLICATE_LOCALE", "UNKNOWN_CAPTION_LOCALE", "BACKGROUND_CONFLICT"] as const;
