/**
 * The store sets' pure parts: each locale's deliver and supply folder, the images of a render and their paths in
 * fastlane's layout, and what an import reads from a Google Play page.
 */
import { describe, expect, it } from "vitest";
import { canonicalTag, storeLocale } from "../../services/screenshots/store-locales";
import { archivePaths, DEFAULT_STORE_SET_TARGETS, planItems, STORE_SET_TARGET_IDS } from "../../services/screenshots/store-set-plan";
import { parsePlayPage } from "../../services/screenshots/store-import";
import { deviceById } from "../../services/screenshots/devices";
import { mergeTheme, DEFAULT_THEME } from "../../services/screenshots/store-theme";

describe("store locales", () => {
	it.each([
		["en-US", "en-US", "en-US"],
		["de-de", "de-DE", "de-DE"],
		["de", "de-DE", "de-DE"],
		["de-AT", "de-DE", "de-DE"],
		["en", "en-US", "en-US"],
		["en-GB", "en-GB", "en-GB"],
		["ja", "ja", "ja-JP"],
		["ja-JP", "ja", "ja-JP"],
		["ko", "ko", "ko-KR"],
		["zh-Hans", "zh-Hans", "zh-CN"],
		["zh-CN", "zh-Hans", "zh-CN"],
		["zh-TW", "zh-Hant", "zh-TW"],
		["he", "he", "iw-IL"],
		["nb", "no", "no-NO"],
		["pt-BR", "pt-BR", "pt-BR"],
		["es-MX", "es-MX", "es-419"],
		["es-419", "es-MX", "es-419"],
	])("%s is %s for deliver and %s for supply", (tag, appStore, googlePlay) => {
		expect(storeLocale(tag)).toEqual({ tag: canonicalTag(tag), appStore, googlePlay });
	});

	it("names the store that lacks a locale", () => {
		expect(storeLocale("af")).toEqual({ missing: ["app_store"] });
		expect(storeLocale("xx-YY")).toEqual({ missing: ["app_store", "google_play"] });
	});
});

describe("a render's plan", () => {
	it("makes one image per size, locale and screen, one feature graphic per locale, and at most 8 screens for Play", () => {
		const items = planItems(DEFAULT_STORE_SET_TARGETS, ["en-US", "de-DE"], 10);
		const count = (device: string) => items.filter((item) => item.device === device).length;
		expect(count("app-store-iphone-6.9")).toBe(20);
		expect(count("google-play-phone")).toBe(16);
		expect(count("google-play-feature-graphic")).toBe(2);
		expect(items.every((item) => item.key.length <= 64)).toBe(true);
		expect(new Set(items.map((item) => item.key)).size).toBe(items.length);
	});

	it("puts each image where deliver and supply read it, one deliver slot per display type", () => {
		const locales = new Map([["ja", { tag: "ja", appStore: "ja", googlePlay: "ja-JP" }]]);
		const items = planItems(STORE_SET_TARGET_IDS, ["ja"], 1);
		const paths = archivePaths(STORE_SET_TARGET_IDS, items, locales);
		expect(Object.fromEntries([...paths].map(([key, path]) => [key.split("/")[0], path]))).toEqual({
			"app-store-iphone-6.9": "screenshots/ja/01_APP_IPHONE_67_01.png",
			"app-store-iphone-6.7": "screenshots-app-store-iphone-6.7/ja/01_APP_IPHONE_67_01.png",
			"app-store-iphone-6.5": "screenshots/ja/02_APP_IPHONE_65_01.png",
			"app-store-iphone-6.5-legacy": "screenshots-app-store-iphone-6.5-legacy/ja/02_APP_IPHONE_65_01.png",
			"app-store-iphone-5.5": "screenshots/ja/03_APP_IPHONE_55_01.png",
			"app-store-ipad-13": "screenshots/ja/04_APP_IPAD_PRO_3GEN_129_01.png",
			"app-store-ipad-12.9": "screenshots/ja/05_APP_IPAD_PRO_129_01.png",
			"google-play-phone": "metadata/android/ja-JP/images/phoneScreenshots/1_ja-JP.png",
			"google-play-tablet-7": "metadata/android/ja-JP/images/sevenInchScreenshots/1_ja-JP.png",
			"google-play-tablet-10": "metadata/android/ja-JP/images/tenInchScreenshots/1_ja-JP.png",
			"google-play-feature-graphic": "metadata/android/ja-JP/images/featureGraphic.png",
		});
	});

	it("renders every store size at a whole viewport whose scale gives the store's pixels", () => {
		for (const id of STORE_SET_TARGET_IDS) {
			const device = deviceById(id)!;
			expect(device.kind).toBe("store");
			expect(Math.round(device.viewport.width * device.deviceScaleFactor)).toBe(device.screenshot.width);
			expect(Number.isInteger(device.viewport.width) && Number.isInteger(device.viewport.height)).toBe(true);
		}
	});
});

describe("a theme", () => {
	it("changes the fields sent, upper-cases colours, and refuses a gradient with an image", () => {
		expect(mergeTheme(DEFAULT_THEME, { backgroundColor: "#abcdef", gradient: { from: "#000000", to: "#ffffff" } as never })).toMatchObject({ backgroundColor: "#ABCDEF", gradient: { from: "#000000", to: "#FFFFFF", angle: 180 }, font: "inter" });
		expect(() => mergeTheme({ ...DEFAULT_THEME, backgroundImageFileId: "00000000-0000-4000-8000-000000000000" }, { gradient: { from: "#000000", to: "#ffffff", angle: 90 } })).toThrow(/not both/);
		expect(mergeTheme({ ...DEFAULT_THEME, gradient: { from: "#000000", to: "#FFFFFF", angle: 90 } }, { gradient: null }).gradient).toBeNull();
	});
});

describe("a Google Play page", () => {
	it("gives the name, the icon and the screenshots at their largest srcset candidate, without duplicates", () => {
		const page = parsePlayPage(
			`<html><head><meta property="og:title" content="Notes &amp; Lists - Apps on Google Play"><meta property="og:image" content="https://cdn.example/og=w600"></head><body>
			<img src="/logo.png" alt="Google Play logo">
			<img src="https://cdn.example/icon=s48" srcset="https://cdn.example/icon=s96 2x" alt="Icon image" itemprop="image">
			<h1><span itemprop="name">Notes &amp; Lists</span></h1>
			<img src="https://cdn.example/a=w526" srcset="https://cdn.example/a=w526 1x, https://cdn.example/a=w1052 2x" alt="Screenshot image" data-screenshot-index="0">
			<img src="https://cdn.example/b=w526" alt="Screenshot image">
			<img src="https://cdn.example/a=w526" srcset="https://cdn.example/a=w1052 2x" alt="Screenshot image"></body></html>`,
			"https://play.example/store/apps/details?id=x",
		);
		expect(page).toEqual({ name: "Notes & Lists", icon: "https://cdn.example/icon=s96", screenshots: ["https://cdn.example/a=w1052", "https://cdn.example/b=w526"] });
		expect(parsePlayPage(`<meta property="og:title" content="Only Title - Apps on Google Play"><meta property="og:image" content="/og.png">`, "https://play.example/x")).toEqual({ name: "Only Title", icon: "https://play.example/og.png", screenshots: [] });
	});
});
