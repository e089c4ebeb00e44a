/**
 * An app's current listing, read from the stores through the platform's guarded HTTP client (lib/outbound):
 *
 * - App Store: the iTunes lookup API, `<SCREENSHOT_APP_STORE_LOOKUP_URL>?id=<trackId>&country=<cc>` (or
 *   `bundleId=` for a bundle id), JSON `{ resultCount, results: [{ trackId, trackName, bundleId, artworkUrl512,
 *   screenshotUrls, ipadScreenshotUrls, … }] }`: the name, the icon and the iPhone and iPad screenshots.
 * - Google Play: the listing page, `<SCREENSHOT_GOOGLE_PLAY_URL>?id=<package>&hl=<language>&gl=<cc>`, HTML with no
 *   API behind it: the name from `itemprop="name"` (else `og:title` without " - Apps on Google Play"), the icon from
 *   the `itemprop="image"` / "Icon image" img (else `og:image`), the screenshots from the imgs whose alt says
 *   "Screenshot" or that carry `data-screenshot-index`, each at the largest `srcset` candidate.
 *
 * A listing the store doesn't have is the caller's mistake (422 STORE_APP_NOT_FOUND); a store that can't be
 * reached, answers in an unexpected shape or serves an image that can't be downloaded is 503 STORE_UNAVAILABLE.
 */
import { Parser } from "htmlparser2";
import { ServiceUnavailableError, UnprocessableEntityError } from "../../lib/errors";
import type { OutboundClient } from "../../lib/outbound/client";
import { MAX_SCREENS } from "./store-set-plan";

export const STORES = ["app_store", "google_play"] as const;
export type Store = (typeof STORES)[number];

export interface StoreScreenshot {
	device: "iphone" | "ipad" | "phone";
	url: string;
}

export interface StoreListing {
	store: Store;
	id: string;
	country: string;
	/** The URL asked. */
	url: string;
	name: string;
	bundleId?: string;
	packageName?: string;
	appStoreId?: string;
	iconUrl: string | null;
	screenshots: StoreScreenshot[];
}

const LISTING_BYTES = 4 * 1024 ** 2;
const IMAGE_BYTES = 20 * 1024 ** 2;
const TIMEOUT_MS = 20_000;

function unavailable(message: string): ServiceUnavailableError {
	return new ServiceUnavailableError(message, "STORE_UNAVAILABLE");
}

async function get(client: OutboundClient, url: string, maxBodyBytes: number, what: string) {
	try {
		return await client.request(url, { timeoutMs: TIMEOUT_MS, maxBodyBytes, headers: { accept: what === "listing" ? "text/html,application/json" : "image/*" } });
	} catch (err) {
		throw unavailable(`The store could not be reached for the ${what} (${url}): ${(err as Error).message}`);
	}
}

interface LookupResult {
	trackId?: number;
	trackName?: string;
	bundleId?: string;
	artworkUrl512?: string;
	artworkUrl100?: string;
	screenshotUrls?: string[];
	ipadScreenshotUrls?: string[];
}

export async function appStoreListing(client: OutboundClient, base: string, id: string, country: string): Promise<StoreListing> {
	const url = new URL(base);
	url.searchParams.set(/^\d+$/.test(id) ? "id" : "bundleId", id);
	url.searchParams.set("country", country);
	url.searchParams.set("entity", "software");
	const answer = await get(client, url.href, LISTING_BYTES, "listing");
	if (answer.status === 404) throw notFound("app_store", id, country);
	if (answer.status !== 200 || answer.truncated) throw unavailable(`The App Store lookup answered ${answer.status}${answer.truncated ? " (too large)" : ""}`);
	let body: { resultCount?: number; results?: LookupResult[] };
	try {
		body = JSON.parse(answer.body.toString("utf8"));
	} catch {
		throw unavailable("The App Store lookup did not answer JSON");
	}
	const app = body.results?.find((result) => result && typeof result.trackName === "string");
	if (!app) throw notFound("app_store", id, country);
	const urls = (list: unknown): string[] => (Array.isArray(list) ? list.filter((item): item is string => typeof item === "string") : []);
	return {
		store: "app_store",
		id,
		country,
		url: url.href,
		name: app.trackName!,
		bundleId: typeof app.bundleId === "string" ? app.bundleId : undefined,
		appStoreId: typeof app.trackId === "number" ? String(app.trackId) : undefined,
		iconUrl: app.artworkUrl512 ?? app.artworkUrl100 ?? null,
		screenshots: [
			...urls(app.screenshotUrls).slice(0, MAX_SCREENS).map((shot) => ({ device: "iphone" as const, url: shot })),
			...urls(app.ipadScreenshotUrls).slice(0, MAX_SCREENS).map((shot) => ({ device: "ipad" as const, url: shot })),
		],
	};
}

export async function googlePlayListing(client: OutboundClient, base: string, id: string, country: string, language: string): Promise<StoreListing> {
	const url = new URL(base);
	url.searchParams.set("id", id);
	url.searchParams.set("hl", language);
	url.searchParams.set("gl", country);
	const answer = await get(client, url.href, LISTING_BYTES, "listing");
	if (answer.status === 404) throw notFound("google_play", id, country);
	if (answer.status !== 200 || answer.truncated) throw unavailable(`The Google Play listing answered ${answer.status}${answer.truncated ? " (too large)" : ""}`);
	const page = parsePlayPage(answer.body.toString("utf8"), answer.url);
	if (!page.name) throw unavailable("The Google Play listing has no app name where one is expected");
	return {
		store: "google_play",
		id,
		country,
		url: url.href,
		name: page.name,
		packageName: id,
		iconUrl: page.icon,
		screenshots: page.screenshots.slice(0, MAX_SCREENS).map((shot) => ({ device: "phone" as const, url: shot })),
	};
}

interface PlayPage {
	name: string | null;
	icon: string | null;
	screenshots: string[];
}

/** The largest candidate of a srcset ("url 1x, url 2x" or "url 300w, …"), else the src. */
function bestSource(attributes: Record<string, string>): string | undefined {
	const candidates = (attributes.srcset ?? "")
		.split(",")
		.map((part) => part.trim().split(/\s+/))
		.filter(([candidate]) => candidate)
		.map(([candidate, descriptor]) => ({ url: candidate, weight: Number.parseFloat(descriptor ?? "1") || 1 }));
	candidates.sort((a, b) => b.weight - a.weight);
	return candidates[0]?.url ?? attributes.src ?? attributes["data-src"];
}

export function parsePlayPage(html: string, pageUrl: string): PlayPage {
	const meta: Record<string, string> = {};
	let itemName: string | null = null;
	let nameDepth = -1;
	let depth = 0;
	let nameText = "";
	let icon: string | null = null;
	const screenshots: string[] = [];
	const absolute = (value: string | undefined) => {
		if (!value) return undefined;
		try {
			return new URL(value, pageUrl).href;
		} catch {
			return undefined;
		}
	};
	const parser = new Parser(
		{
			onopentag(name, attributes) {
				depth += 1;
				if (name === "meta") {
					const key = attributes.property ?? attributes.name;
					if (key && attributes.content !== undefined && !(key in meta)) meta[key] = attributes.content;
				}
				if (itemName === null && nameDepth < 0 && attributes.itemprop === "name" && name !== "meta") {
					nameDepth = depth;
					nameText = "";
				}
				if (name === "img") {
					const alt = attributes.alt ?? "";
					const source = absolute(bestSource(attributes));
					if (!source) return;
					if (!icon && (attributes.itemprop === "image" || /^icon image$/i.test(alt))) icon = source;
					else if ((/screenshot/i.test(alt) || attributes["data-screenshot-index"] !== undefined) && !screenshots.includes(source)) screenshots.push(source);
				}
			},
			ontext(text) {
				if (nameDepth >= 0) nameText += text;
			},
			onclosetag() {
				if (nameDepth === depth) {
					itemName = nameText.replace(/\s+/g, " ").trim() || null;
					nameDepth = -1;
				}
				depth -= 1;
			},
		},
		{ decodeEntities: true },
	);
	parser.write(html);
	parser.end();
	const title = meta["og:title"]?.replace(/\s+-\s+Apps on Google Play$/i, "").trim();
	return { name: itemName ?? (title || null), icon: icon ?? absolute(meta["og:image"]) ?? null, screenshots };
}

function notFound(store: Store, id: string, country: string): UnprocessableEntityError {
	const where = store === "app_store" ? "the App Store" : "Google Play";
	return new UnprocessableEntityError(`${where} has no app ${id} in ${country.toUpperCase()}`, "STORE_APP_NOT_FOUND", { store, id, country });
}

/** An image the listing shows, downloaded through the guard. */
export async function downloadImage(client: OutboundClient, url: string): Promise<Buffer> {
	const answer = await get(client, url, IMAGE_BYTES, "image");
	if (answer.status !== 200) throw unavailable(`The store's image ${url} answered ${answer.status}`);
	if (answer.truncated) throw unavailable(`The store's image ${url} is larger than ${IMAGE_BYTES} bytes`);
	return answer.body;
}
