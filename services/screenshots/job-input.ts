/**
 * What `POST /screenshot-jobs` accepts: the parameter rules (fastest-validator: shapes and bounds, 400) and the
 * rules between fields (one source, one kind of target, a quality only for lossy formats, a real time zone, …:
 * 422 with a code), turning the request into what a job keeps: its options, its HTML, its sealed credentials
 * and the targets resolved from the device catalogue.
 */
import type { OutboundClient } from "../../lib/outbound/client";
import { UnprocessableEntityError } from "../../lib/errors";
import type { ScreenshotTarget } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import { SCREENSHOT_FORMATS, WAIT_UNTIL, type ScreenshotFormat } from "./contracts";
import { capturedSize, DEVICE_IDS, deviceById } from "./devices";

/** Chromium can't capture a surface wider or taller than this many pixels. */
const MAX_CAPTURE_PIXELS = 16_384;
const MAX_HEADERS = 30;
/** Headers the browser sets itself, or that would change how the request travels. */
const FORBIDDEN_HEADERS = /^(host|content-length|content-type|connection|keep-alive|transfer-encoding|te|trailer|upgrade|expect|cookie|proxy-.*|sec-.*)$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
const SELECTOR = { type: "string", min: 1, max: 1000 } as const;

export const COOKIE_SAME_SITE = ["Strict", "Lax", "None"] as const;

export interface JobCookie {
	name: string;
	value: string;
	domain?: string;
	path?: string;
	secure?: boolean;
	httpOnly?: boolean;
	sameSite?: (typeof COOKIE_SAME_SITE)[number];
}

/** The options a job keeps (and answers as `options`): everything but the source and the credentials. */
export interface CaptureOptions {
	fullPage: boolean;
	selector?: string;
	format: ScreenshotFormat;
	quality?: number;
	darkMode: boolean;
	locale?: string;
	timezone?: string;
	waitUntil: (typeof WAIT_UNTIL)[number];
	waitForSelector?: string;
	delayMs: number;
	hideSelectors: string[];
	injectCss?: string;
	blockAds: boolean;
	/** Names only: the values stay sealed. */
	headerNames: string[];
	cookieNames: string[];
}

export interface JobCredentials {
	headers: Record<string, string>;
	cookies: JobCookie[];
}

export interface JobRequest {
	url?: string;
	html?: string;
	devices?: string[];
	viewport?: { width: number; height: number; deviceScaleFactor: number; isMobile: boolean; hasTouch: boolean; userAgent?: string };
	fullPage: boolean;
	selector?: string;
	format: ScreenshotFormat;
	quality?: number;
	darkMode: boolean;
	locale?: string;
	timezone?: string;
	waitUntil: (typeof WAIT_UNTIL)[number];
	waitForSelector?: string;
	delayMs: number;
	hideSelectors: string[];
	injectCss?: string;
	blockAds: boolean;
	headers?: Record<string, string>;
	cookies?: JobCookie[];
}

export const JOB_PARAMS = {
	url: { type: "string", optional: true, trim: true, min: 1, max: 2048, description: "The page to capture (http or https); or `html`" },
	html: { type: "string", optional: true, min: 1, max: 500_000, description: "A document to capture instead of a URL" },
	devices: { type: "array", optional: true, min: 1, max: 12, unique: true, items: { type: "enum", values: DEVICE_IDS }, description: "Ids of GET /devices, one image each; or `viewport`" },
	viewport: {
		type: "object",
		optional: true,
		strict: "remove",
		props: {
			width: { type: "number", integer: true, min: 1, max: 5000 },
			height: { type: "number", integer: true, min: 1, max: 5000 },
			deviceScaleFactor: { type: "number", min: 0.25, max: 4, optional: true, default: 1 },
			isMobile: { type: "boolean", optional: true, default: false },
			hasTouch: { type: "boolean", optional: true, default: false },
			userAgent: { type: "string", optional: true, min: 1, max: 500 },
		},
		description: "An explicit viewport (CSS pixels) instead of devices",
	},
	fullPage: { type: "boolean", optional: true, default: false, description: "The whole scrollable page instead of the viewport" },
	selector: { ...SELECTOR, optional: true, description: "Capture only the first element this CSS selector matches" },
	format: { type: "enum", values: SCREENSHOT_FORMATS, optional: true, default: "png" },
	quality: { type: "number", integer: true, min: 1, max: 100, optional: true, description: "jpeg and webp only" },
	darkMode: { type: "boolean", optional: true, default: false, description: "prefers-color-scheme: dark" },
	locale: { type: "string", optional: true, max: 35, pattern: /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, description: "BCP 47, e.g. de-DE" },
	timezone: { type: "string", optional: true, max: 64, pattern: /^[A-Za-z0-9_+\-/]+$/, description: "IANA, e.g. Europe/Berlin" },
	waitUntil: { type: "enum", values: WAIT_UNTIL, optional: true, default: "load" },
	waitForSelector: { ...SELECTOR, optional: true, description: "Wait until this CSS selector matches before capturing" },
	delayMs: { type: "number", integer: true, min: 0, max: 10_000, optional: true, default: 0, description: "Wait this long before capturing" },
	hideSelectors: { type: "array", optional: true, default: [], max: 50, items: { type: "string", min: 1, max: 500 }, description: "Elements hidden before capturing (cookie banners, chat widgets)" },
	injectCss: { type: "string", optional: true, max: 100_000, description: "A stylesheet added to the page" },
	blockAds: { type: "boolean", optional: true, default: false, description: "Block requests to known ad and tracker hosts" },
	headers: { type: "record", optional: true, key: { type: "string", min: 1, max: 100 }, value: { type: "string", max: 2000 }, description: "Extra request headers (values are not shown back)" },
	cookies: {
		type: "array",
		optional: true,
		max: 50,
		items: {
			type: "object",
			strict: "remove",
			props: {
				name: { type: "string", min: 1, max: 200, pattern: /^[^\s;=,]+$/ },
				value: { type: "string", max: 4096 },
				domain: { type: "string", optional: true, min: 1, max: 255, pattern: /^\.?[A-Za-z0-9.-]+$/ },
				path: { type: "string", optional: true, max: 1000, pattern: /^\// },
				secure: { type: "boolean", optional: true },
				httpOnly: { type: "boolean", optional: true },
				sameSite: { type: "enum", values: COOKIE_SAME_SITE, optional: true },
			},
		},
		description: "Cookies set before loading (values are not shown back); without a domain they are the URL's",
	},
	$$strict: "remove",
} as const;

/** The codes of the 422s checkJobRequest answers (declared on the action). */
export const JOB_INPUT_ERRORS = [
	"SOURCE_REQUIRED",
	"SOURCE_CONFLICT",
	"TARGET_REQUIRED",
	"TARGET_CONFLICT",
	"CLIP_CONFLICT",
	"QUALITY_NOT_SUPPORTED",
	"UNKNOWN_TIMEZONE",
	"UNKNOWN_LOCALE",
	"VIEWPORT_TOO_LARGE",
	"HEADER_NOT_ALLOWED",
	"COOKIE_DOMAIN_REQUIRED",
	"OUTBOUND_TARGET_REFUSED",
] as const;

function refuse(code: (typeof JOB_INPUT_ERRORS)[number], message: string, data?: Record<string, unknown>): never {
	throw new UnprocessableEntityError(message, code, data);
}

export interface AcceptedJob {
	url: string | null;
	html: string | null;
	options: CaptureOptions;
	credentials: JobCredentials | null;
	targets: ScreenshotTarget[];
}

/**
 * The rules between fields. The URL's scheme and an IP-literal host are judged now (the outbound guard's own
 * check, so a loopback or private target is refused before a job exists); a host name is resolved and checked
 * when the page is loaded, as DNS may answer differently by then.
 */
export function checkJobRequest(request: JobRequest, outbound: OutboundClient): AcceptedJob {
	if (request.url === undefined && request.html === undefined) refuse("SOURCE_REQUIRED", "Send a `url` or an `html` document to capture");
	if (request.url !== undefined && request.html !== undefined) refuse("SOURCE_CONFLICT", "Send either `url` or `html`, not both");
	const url = request.url === undefined ? null : outbound.checkUrl(request.url).href;

	if (!request.devices && !request.viewport) refuse("TARGET_REQUIRED", "Name `devices` (GET /devices) or an explicit `viewport`");
	if (request.devices && request.viewport) refuse("TARGET_CONFLICT", "Name either `devices` or a `viewport`, not both");
	if (request.selector !== undefined && request.fullPage) refuse("CLIP_CONFLICT", "A `selector` capture is the element's size: it can't also be `fullPage`");
	if (request.quality !== undefined && request.format === "png") refuse("QUALITY_NOT_SUPPORTED", "`quality` applies to jpeg and webp; png is lossless");
	if (request.timezone !== undefined && !isTimeZone(request.timezone)) refuse("UNKNOWN_TIMEZONE", `"${request.timezone}" is not an IANA time zone`);
	if (request.locale !== undefined && !isLocale(request.locale)) refuse("UNKNOWN_LOCALE", `"${request.locale}" is not a BCP 47 locale`);

	const targets = request.devices ? request.devices.map((id) => targetOfDevice(id)) : [customTarget(request.viewport!)];
	for (const target of targets) {
		if (target.screenshot.width > MAX_CAPTURE_PIXELS || target.screenshot.height > MAX_CAPTURE_PIXELS) {
			refuse("VIEWPORT_TOO_LARGE", `A capture may be at most ${MAX_CAPTURE_PIXELS} pixels wide and tall (viewport × deviceScaleFactor)`, { target: target.id });
		}
	}

	const headers = request.headers ?? {};
	const headerNames = Object.keys(headers);
	if (headerNames.length > MAX_HEADERS) refuse("HEADER_NOT_ALLOWED", `At most ${MAX_HEADERS} extra headers`);
	for (const name of headerNames) {
		if (!HEADER_NAME.test(name) || FORBIDDEN_HEADERS.test(name)) refuse("HEADER_NOT_ALLOWED", `The header "${name.slice(0, 100)}" can't be set (send cookies as \`cookies\`)`, { header: name.slice(0, 100) });
		if (/[\r\n\0]/.test(headers[name])) refuse("HEADER_NOT_ALLOWED", `The value of "${name}" holds a line break`, { header: name });
	}
	const cookies = request.cookies ?? [];
	if (url === null && cookies.some((cookie) => cookie.domain === undefined)) refuse("COOKIE_DOMAIN_REQUIRED", "Cookies of an `html` capture need a `domain`");

	const options: CaptureOptions = {
		fullPage: request.fullPage,
		selector: request.selector,
		format: request.format,
		quality: request.quality,
		darkMode: request.darkMode,
		locale: request.locale,
		timezone: request.timezone,
		waitUntil: request.waitUntil,
		waitForSelector: request.waitForSelector,
		delayMs: request.delayMs,
		hideSelectors: request.hideSelectors,
		injectCss: request.injectCss,
		blockAds: request.blockAds,
		headerNames,
		cookieNames: cookies.map((cookie) => cookie.name),
	};
	const credentials = headerNames.length > 0 || cookies.length > 0 ? { headers, cookies } : null;
	return { url, html: request.html ?? null, options: dropUndefined(options), credentials, targets };
}

function targetOfDevice(id: string): ScreenshotTarget {
	const device = deviceById(id)!;
	return {
		id: device.id,
		name: device.name,
		viewport: device.viewport,
		deviceScaleFactor: device.deviceScaleFactor,
		isMobile: device.isMobile,
		hasTouch: device.hasTouch,
		userAgent: device.userAgent,
		screenshot: device.screenshot,
	};
}

function customTarget(viewport: NonNullable<JobRequest["viewport"]>): ScreenshotTarget {
	const size = { width: viewport.width, height: viewport.height };
	return {
		id: "custom",
		name: `${viewport.width} × ${viewport.height} @${viewport.deviceScaleFactor}x`,
		viewport: size,
		deviceScaleFactor: viewport.deviceScaleFactor,
		isMobile: viewport.isMobile,
		hasTouch: viewport.hasTouch,
		userAgent: viewport.userAgent,
		screenshot: capturedSize(size, viewport.deviceScaleFactor),
	};
}

function isTimeZone(value: string): boolean {
	try {
		new Intl.DateTimeFormat("en", { timeZone: value });
		return true;
	} catch {
		return false;
	}
}

function isLocale(value: string): boolean {
	try {
		return Intl.getCanonicalLocales(value).length === 1;
	} catch {
		return false;
	}
}

function dropUndefined<T extends object>(value: T): T {
	return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}
