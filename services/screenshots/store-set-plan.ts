/**
 * What a store set's render makes, and where each image goes in the ZIP: the store sizes a set renders at
 * (devices of kind `store`, services/screenshots/devices.ts), one image per (size, locale, screen) and one feature
 * graphic per locale, and the paths fastlane reads them from.
 *
 * - deliver (App Store) reads `screenshots/<locale>/*.png` and tells the display type from the image's pixel
 *   size; the one size two types share (2048 × 2732: iPad Pro 12.9" 2nd generation and 13") goes to the 12.9"
 *   slot only when the file name contains `APP_IPAD_PRO_129`, so every name carries App Store Connect's display
 *   type: `<NN>_<DISPLAY_TYPE>_<nn>.png` (NN: the display type's place, nn: the screen's; deliver sorts names
 *   naturally, and both are zero-padded so a plain sort keeps the order too).
 * - Two sizes can fill one slot (6.9" and 6.7" are both APP_IPHONE_67, 6.5" and its 1242 × 2688 variant both
 *   APP_IPHONE_65); deliver would upload both into it. The first size of a slot in the render's order goes to
 *   `screenshots/`, a later one to `screenshots-<device id>/`, which deliver uploads in its place when given
 *   `--screenshots_path`.
 * - supply (Google Play) reads `metadata/android/<locale>/images/{phoneScreenshots,sevenInchScreenshots,
 *   tenInchScreenshots}/*.png` sorted by name, and `images/featureGraphic.png`; Play keeps at most 8 screenshots
 *   per device type, so only the first 8 screens are rendered for Play.
 */
import type { StoreLocale } from "./store-locales";

export const MAX_SCREENS = 10;
/** Google Play takes at most this many screenshots per device type. */
export const GOOGLE_PLAY_MAX_SCREENSHOTS = 8;

export type StoreName = "app_store" | "google_play";
/** How a size shows a screen: a phone, a tablet, or the feature graphic's banner. */
export type StoreForm = "phone" | "tablet" | "banner";

export interface StoreSetTarget {
	store: StoreName;
	form: StoreForm;
	platform: "ios" | "android";
	/** App Store Connect's display type (deliver's file names). */
	displayType?: string;
	/** supply's image folder (or, for the feature graphic, its file name without `.png`). */
	playFolder?: "phoneScreenshots" | "sevenInchScreenshots" | "tenInchScreenshots" | "featureGraphic";
}

/** The store sizes a set renders at, by device id; the order is the default render's. */
export const STORE_SET_TARGETS: Readonly<Record<string, StoreSetTarget>> = {
	"app-store-iphone-6.9": { store: "app_store", form: "phone", platform: "ios", displayType: "APP_IPHONE_67" },
	"app-store-iphone-6.7": { store: "app_store", form: "phone", platform: "ios", displayType: "APP_IPHONE_67" },
	"app-store-iphone-6.5": { store: "app_store", form: "phone", platform: "ios", displayType: "APP_IPHONE_65" },
	"app-store-iphone-6.5-legacy": { store: "app_store", form: "phone", platform: "ios", displayType: "APP_IPHONE_65" },
	"app-store-iphone-5.5": { store: "app_store", form: "phone", platform: "ios", displayType: "APP_IPHONE_55" },
	"app-store-ipad-13": { store: "app_store", form: "tablet", platform: "ios", displayType: "APP_IPAD_PRO_3GEN_129" },
	"app-store-ipad-12.9": { store: "app_store", form: "tablet", platform: "ios", displayType: "APP_IPAD_PRO_129" },
	"google-play-phone": { store: "google_play", form: "phone", platform: "android", playFolder: "phoneScreenshots" },
	"google-play-tablet-7": { store: "google_play", form: "tablet", platform: "android", playFolder: "sevenInchScreenshots" },
	"google-play-tablet-10": { store: "google_play", form: "tablet", platform: "android", playFolder: "tenInchScreenshots" },
	"google-play-feature-graphic": { store: "google_play", form: "banner", platform: "android", playFolder: "featureGraphic" },
};

export const STORE_SET_TARGET_IDS = Object.keys(STORE_SET_TARGETS);
/** Every size the issue lists: all but the 1242 × 2688 variant of 6.5" (ask for it by id). */
export const DEFAULT_STORE_SET_TARGETS = STORE_SET_TARGET_IDS.filter((id) => id !== "app-store-iphone-6.5-legacy");

/** One image of a store set's render. */
export interface StoreSetItem {
	/** The result's key in the job: `<device>/<locale>/<screen>`, or `<device>/<locale>` for the feature graphic. */
	key: string;
	device: string;
	locale: string;
	/** 1-based position of the screen; null for the feature graphic (one per locale). */
	screen: number | null;
}

export function planItems(targets: readonly string[], locales: readonly string[], screens: number): StoreSetItem[] {
	const items: StoreSetItem[] = [];
	for (const device of targets) {
		const target = STORE_SET_TARGETS[device];
		for (const locale of locales) {
			if (target.form === "banner") {
				items.push({ key: `${device}/${locale}`, device, locale, screen: null });
				continue;
			}
			const count = Math.min(screens, target.store === "google_play" ? GOOGLE_PLAY_MAX_SCREENSHOTS : MAX_SCREENS);
			for (let screen = 1; screen <= count; screen += 1) items.push({ key: `${device}/${locale}/${screen}`, device, locale, screen });
		}
	}
	return items;
}

const pad = (value: number) => String(value).padStart(2, "0");

/** Where each item goes in the ZIP, by key (see the header for the layout). */
export function archivePaths(targets: readonly string[], items: readonly StoreSetItem[], locales: ReadonlyMap<string, StoreLocale>): Map<string, string> {
	const slots: string[] = [];
	const folderOf = new Map<string, string>();
	for (const device of targets) {
		const { displayType } = STORE_SET_TARGETS[device];
		if (!displayType) continue;
		if (!slots.includes(displayType)) {
			slots.push(displayType);
			folderOf.set(device, "screenshots");
		} else {
			folderOf.set(device, `screenshots-${device}`);
		}
	}
	const paths = new Map<string, string>();
	for (const item of items) {
		const target = STORE_SET_TARGETS[item.device];
		const locale = locales.get(item.locale);
		if (!locale) throw new Error(`No store folders for locale ${item.locale}`);
		if (target.store === "app_store") {
			const slot = slots.indexOf(target.displayType!) + 1;
			paths.set(item.key, `${folderOf.get(item.device)}/${locale.appStore}/${pad(slot)}_${target.displayType}_${pad(item.screen!)}.png`);
		} else if (target.form === "banner") {
			paths.set(item.key, `metadata/android/${locale.googlePlay}/images/${target.playFolder}.png`);
		} else {
			paths.set(item.key, `metadata/android/${locale.googlePlay}/images/${target.playFolder}/${item.screen}_${locale.googlePlay}.png`);
		}
	}
	return paths;
}
