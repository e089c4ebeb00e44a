/**
 * The devices a screenshot can be taken on: Playwright's device descriptors (phones, tablets, desktops, each
 * with its viewport, scale, user agent and touch) and the sizes the App Store and Google Play require today,
 * as devices whose viewport × scale is exactly the store's pixel size.
 *
 * A viewport capture is `round(width × scale)` × `round(height × scale)` pixels (`screenshot` below): the
 * renderer makes sure of it (services/screenshots/capture.ts), so a store size comes out exact.
 */
import { devices as playwrightDevices } from "playwright";
import type { PublicDevice } from "./contracts";

/** What a store requires, as App Store Connect and the Play Console list it. */
interface StoreTarget {
	id: string;
	name: string;
	/** Pixels. */
	width: number;
	height: number;
	/** CSS pixels × scale = pixels, exactly. */
	scale: number;
	platform: "ios" | "android" | "desktop";
}

const STORE_TARGETS: readonly StoreTarget[] = [
	{ id: "app-store-iphone-6.9", name: 'App Store iPhone 6.9"', width: 1320, height: 2868, scale: 3, platform: "ios" },
	{ id: "app-store-iphone-6.7", name: 'App Store iPhone 6.7"', width: 1290, height: 2796, scale: 3, platform: "ios" },
	{ id: "app-store-iphone-6.5", name: 'App Store iPhone 6.5"', width: 1284, height: 2778, scale: 3, platform: "ios" },
	{ id: "app-store-iphone-6.5-legacy", name: 'App Store iPhone 6.5" (1242 × 2688)', width: 1242, height: 2688, scale: 3, platform: "ios" },
	{ id: "app-store-iphone-5.5", name: 'App Store iPhone 5.5"', width: 1242, height: 2208, scale: 3, platform: "ios" },
	{ id: "app-store-ipad-13", name: 'App Store iPad 13"', width: 2064, height: 2752, scale: 2, platform: "ios" },
	{ id: "app-store-ipad-12.9", name: 'App Store iPad 12.9"', width: 2048, height: 2732, scale: 2, platform: "ios" },
	{ id: "google-play-phone", name: "Google Play phone (9:16)", width: 1080, height: 1920, scale: 3, platform: "android" },
	{ id: "google-play-tablet-7", name: 'Google Play 7" tablet', width: 1200, height: 1920, scale: 2, platform: "android" },
	{ id: "google-play-tablet-10", name: 'Google Play 10" tablet', width: 1600, height: 2560, scale: 2, platform: "android" },
	{ id: "google-play-feature-graphic", name: "Google Play feature graphic", width: 1024, height: 500, scale: 1, platform: "desktop" },
];

/** User agents of the stores' platforms, taken from Playwright's own descriptors so they age with the package. */
function storeUserAgent(platform: StoreTarget["platform"], tablet: boolean): string {
	const source = { ios: tablet ? "iPad Pro 11" : "iPhone 15 Pro Max", android: tablet ? "Galaxy Tab S9" : "Pixel 7", desktop: "Desktop Chrome" }[platform];
	return playwrightDevices[source]?.userAgent ?? playwrightDevices["Desktop Chrome"].userAgent;
}

/** "Galaxy S9+" → "galaxy-s9-plus", "iPhone 15 Pro Max landscape" → "iphone-15-pro-max-landscape". */
export function deviceId(name: string): string {
	return name
		.toLowerCase()
		.replace(/\+/g, "-plus")
		.replace(/[^a-z0-9]+/g, "-")
		.replace(/^-|-$/g, "");
}

/** The pixel size of a viewport capture. */
export function capturedSize(viewport: { width: number; height: number }, scale: number): { width: number; height: number } {
	return { width: Math.round(viewport.width * scale), height: Math.round(viewport.height * scale) };
}

function fromPlaywright(name: string): PublicDevice {
	const descriptor = playwrightDevices[name];
	return {
		id: deviceId(name),
		name,
		kind: "device",
		viewport: { width: descriptor.viewport.width, height: descriptor.viewport.height },
		deviceScaleFactor: descriptor.deviceScaleFactor,
		isMobile: descriptor.isMobile,
		hasTouch: descriptor.hasTouch,
		userAgent: descriptor.userAgent,
		screenshot: capturedSize(descriptor.viewport, descriptor.deviceScaleFactor),
	};
}

function fromStore(target: StoreTarget): PublicDevice {
	const viewport = { width: target.width / target.scale, height: target.height / target.scale };
	const tablet = /ipad|tablet/.test(target.id);
	return {
		id: target.id,
		name: target.name,
		kind: "store",
		viewport,
		deviceScaleFactor: target.scale,
		isMobile: target.platform !== "desktop",
		hasTouch: target.platform !== "desktop",
		userAgent: storeUserAgent(target.platform, tablet),
		screenshot: { width: target.width, height: target.height },
	};
}

/** Every device, the stores' sizes first, then Playwright's in its own order. */
export const DEVICES: readonly PublicDevice[] = Object.freeze([...STORE_TARGETS.map(fromStore), ...Object.keys(playwrightDevices).map(fromPlaywright)]);

const BY_ID = new Map(DEVICES.map((device) => [device.id, device]));

export const DEVICE_IDS: readonly string[] = DEVICES.map((device) => device.id);

export function deviceById(id: string): PublicDevice | undefined {
	return BY_ID.get(id);
}

// A store size that isn't a whole number of CSS pixels at its scale could never come out exact.
for (const target of STORE_TARGETS) {
	if (!Number.isInteger(target.width / target.scale) || !Number.isInteger(target.height / target.scale)) throw new Error(`Store target ${target.id} is not a whole viewport at scale ${target.scale}`);
}
