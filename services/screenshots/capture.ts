/**
 * One image: a job's page rendered on one target in a pooled page (lib/browser-pool.ts) and captured as the job
 * asks (viewport, full page or one element; png, jpeg or webp).
 *
 * A viewport capture is exactly the target's pixel size. Chromium gets within a pixel of it but not always on it
 * (a page without a viewport meta tag, zoomed out on a phone, comes out 1170 × 1991 on a 390 × 664 @3 viewport):
 * such a capture is brought to the exact size in the browser, repeating its last row or column (nothing is
 * resampled). WebP, which Playwright doesn't capture, is encoded from the PNG by Chromium's own encoder.
 */
import type { BrowserContextOptions, Page } from "playwright";
import type { BrowserPool } from "../../lib/browser-pool";
import type { ScreenshotTarget } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import type { ScreenshotFormat } from "./contracts";
import { isAdOrTrackerHost } from "./ad-hosts";
import { imageSize } from "./image-size";
import type { RenderSpec } from "./screenshot-jobs.types";

const MIME: Record<ScreenshotFormat, string> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };

/** A render step that failed because of the page or the job's options: final, reported on the job. */
export class CaptureError extends Error {
	constructor(
		readonly code: "SELECTOR_NOT_FOUND" | "WAIT_FOR_SELECTOR_TIMEOUT" | "RENDER_FAILED",
		message: string,
	) {
		super(message);
		this.name = "CaptureError";
	}
}

export interface Captured {
	bytes: Buffer;
	format: ScreenshotFormat;
	width: number;
	height: number;
	blockedRequests: number;
}

export interface CaptureBudget {
	timeoutMs: number;
	maxBytes: number;
	signal?: AbortSignal;
}

/** Everything a context fixes (and so what must match for a context to be reused), within one tenant. */
function contextOptions(spec: RenderSpec, target: ScreenshotTarget): Pick<BrowserContextOptions, "viewport" | "deviceScaleFactor" | "isMobile" | "hasTouch" | "userAgent" | "locale" | "timezoneId"> {
	return {
		viewport: target.viewport,
		deviceScaleFactor: target.deviceScaleFactor,
		isMobile: target.isMobile,
		hasTouch: target.hasTouch,
		userAgent: target.userAgent,
		locale: spec.options.locale,
		timezoneId: spec.options.timezone,
	};
}

export async function captureTarget(pool: BrowserPool, spec: RenderSpec, target: ScreenshotTarget, budget: CaptureBudget): Promise<Captured> {
	const context = contextOptions(spec, target);
	return pool.withPage(
		{
			isolationKey: `${spec.tenantId}|${JSON.stringify(context)}`,
			context,
			timeoutMs: budget.timeoutMs,
			maxBytes: budget.maxBytes,
			signal: budget.signal,
			blockHost: spec.options.blockAds ? isAdOrTrackerHost : undefined,
		},
		async (page) => {
			const deadline = Date.now() + budget.timeoutMs;
			const remaining = () => Math.max(1, deadline - Date.now());
			await prepare(page, spec);
			if (spec.url !== null) await pool.navigate(page, spec.url, { waitUntil: spec.options.waitUntil });
			else await page.setContent(spec.html ?? "", { waitUntil: spec.options.waitUntil, timeout: remaining() });
			await decorate(page, spec, remaining);
			const captured = await shoot(page, spec, target, remaining);
			return { ...captured, blockedRequests: pool.blockedRequests(page) };
		},
	);
}

async function prepare(page: Page, spec: RenderSpec): Promise<void> {
	const { headers, cookies } = spec.credentials;
	if (Object.keys(headers).length > 0) await page.setExtraHTTPHeaders(headers);
	if (cookies.length > 0) {
		await page.context().addCookies(
			cookies.map((cookie) => {
				const { domain, path, ...rest } = cookie;
				return domain ? { ...rest, domain, path: path ?? "/" } : { ...rest, url: spec.url! };
			}),
		);
	}
	await page.emulateMedia({ colorScheme: spec.options.darkMode ? "dark" : "light" });
}

async function decorate(page: Page, spec: RenderSpec, remaining: () => number): Promise<void> {
	const { waitForSelector, hideSelectors, injectCss, delayMs } = spec.options;
	if (waitForSelector) {
		try {
			await page.waitForSelector(waitForSelector, { state: "visible", timeout: remaining() });
		} catch (err) {
			throw new CaptureError("WAIT_FOR_SELECTOR_TIMEOUT", `"${waitForSelector}" did not appear: ${firstLine(err)}`);
		}
	}
	const hidden = hideSelectors.map((selector) => `${selector} { visibility: hidden !important; }`).join("\n");
	const css = [injectCss, hidden].filter(Boolean).join("\n");
	if (css) await page.addStyleTag({ content: css });
	if (delayMs > 0) await page.waitForTimeout(Math.min(delayMs, remaining()));
}

async function shoot(page: Page, spec: RenderSpec, target: ScreenshotTarget, remaining: () => number): Promise<Omit<Captured, "blockedRequests">> {
	const { format, quality, fullPage, selector } = spec.options;
	const type = format === "jpeg" ? "jpeg" : "png";
	const options = { type, quality: format === "jpeg" ? quality : undefined, timeout: remaining(), animations: "disabled" } as const;
	let raw: Buffer;
	if (selector) {
		const element = page.locator(selector).first();
		try {
			await element.waitFor({ state: "visible", timeout: remaining() });
		} catch (err) {
			throw new CaptureError("SELECTOR_NOT_FOUND", `Nothing visible matches "${selector}": ${firstLine(err)}`);
		}
		raw = await element.screenshot(options);
	} else {
		raw = await page.screenshot({ ...options, fullPage });
	}
	const size = imageSize(raw);
	// Only a viewport capture has a size to be exact to; a page or an element is as large as it is.
	const wanted = selector || fullPage ? { width: size.width, height: size.height } : target.screenshot;
	if (format === type && size.width === wanted.width && size.height === wanted.height) return { bytes: raw, format, ...wanted };
	const bytes = await reencode(page, raw, MIME[type], MIME[format], quality, wanted);
	return { bytes, format, ...wanted };
}

/**
 * Draws the capture on a canvas of the wanted size in a blank document of the same page (no page CSP applies
 * there) and encodes it in the wanted format. A missing last row or column repeats the edge; nothing is scaled.
 */
async function reencode(page: Page, raw: Buffer, fromMime: string, toMime: string, quality: number | undefined, wanted: { width: number; height: number }): Promise<Buffer> {
	await page.goto("about:blank");
	const argument = { source: `data:${fromMime};base64,${raw.toString("base64")}`, mime: toMime, quality: quality === undefined ? null : quality / 100, width: wanted.width, height: wanted.height };
	const encoded = (await page.evaluate(`(${BROWSER_REENCODE})(${JSON.stringify(argument)})`)) as string;
	return Buffer.from(encoded, "base64");
}

/** Runs in the page (so it is kept as source: the browser's globals aren't this program's). */
const BROWSER_REENCODE = `async ({ source, mime, quality, width, height }) => {
	const image = new Image();
	image.src = source;
	await image.decode();
	const canvas = document.createElement("canvas");
	canvas.width = width;
	canvas.height = height;
	const context = canvas.getContext("2d");
	context.drawImage(image, 0, 0);
	if (image.width < width) context.drawImage(image, image.width - 1, 0, 1, image.height, image.width, 0, width - image.width, image.height);
	if (image.height < height) context.drawImage(canvas, 0, image.height - 1, width, 1, 0, image.height, width, height - image.height);
	const blob = await new Promise((resolve) => canvas.toBlob(resolve, mime, quality === null ? undefined : quality));
	if (!blob) throw new Error("This browser can't encode " + mime);
	const bytes = new Uint8Array(await blob.arrayBuffer());
	let binary = "";
	for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
	return btoa(binary);
}`;

function firstLine(err: unknown): string {
	return String((err as Error)?.message ?? err).split("\n")[0];
}
