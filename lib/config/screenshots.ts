/**
 * The screenshots domain's configuration section: where Chromium is, how many pages a worker node renders at
 * once, and the budgets every page gets. Parsed with the rest of the environment by loadConfig (lib/config.ts),
 * so a bad value stops any node at start, whichever domains it runs.
 */
import os from "node:os";
import path from "node:path";
import { ConfigError, bytes, duration, integer, read, type Env } from "./env";

export interface ScreenshotsConfig {
	/** Chromium's executable (Debian's package by default): Playwright never downloads a browser here. */
	chromiumPath: string;
	/** Pages rendered at once per worker node: the browser pool's size and the render channel's maxInFlight. */
	concurrency: number;
	/** A browser context serves at most this many pages, then is closed and a fresh one made. */
	pagesPerContext: number;
	/** Wall-clock budget of one page: navigation, waits, the delay and the capture. */
	pageTimeoutMs: number;
	/** Bytes one page may load (every response body together); past it the render fails. */
	pageMaxBytes: number;
	/** Cache-Control stored with every result image (a CDN in front of S3_PUBLIC_URL honours it). */
	cacheControl: string;
}

export function screenshots(env: Env): ScreenshotsConfig {
	const chromiumPath = read(env, "SCREENSHOT_CHROMIUM_PATH") ?? "/usr/bin/chromium";
	if (!path.isAbsolute(chromiumPath)) throw new ConfigError("SCREENSHOT_CHROMIUM_PATH", `must be an absolute path (got "${chromiumPath}")`);
	const cacheControl = read(env, "SCREENSHOT_CACHE_CONTROL") ?? "public, max-age=31536000, immutable";
	// One header value: printable ASCII only, so it can't smuggle a second header into the S3 request.
	if (!/^[\x20-\x7e]{1,200}$/.test(cacheControl)) throw new ConfigError("SCREENSHOT_CACHE_CONTROL", "must be a Cache-Control value of printable ASCII, at most 200 characters");
	return {
		chromiumPath,
		concurrency: integer(env, "SCREENSHOT_CONCURRENCY", Math.max(1, os.availableParallelism()), 1, 64),
		pagesPerContext: integer(env, "SCREENSHOT_PAGES_PER_CONTEXT", 50, 1, 10_000),
		pageTimeoutMs: boundedDuration(env, "SCREENSHOT_PAGE_TIMEOUT", "30s", 1_000, 300_000),
		pageMaxBytes: boundedBytes(env, "SCREENSHOT_PAGE_MAX_BYTES", 50 * 1024 ** 2),
		cacheControl,
	};
}

function boundedDuration(env: Env, name: string, fallback: string, min: number, max: number): number {
	const value = duration(env, name, fallback);
	if (value < min || value > max) throw new ConfigError(name, `must be between ${min / 1000} s and ${max / 1000} s`);
	return value;
}

function boundedBytes(env: Env, name: string, fallback: number): number {
	const value = bytes(env, name, fallback);
	if (value < 64 * 1024 || value > 1024 ** 3) throw new ConfigError(name, "must be between 64kb and 1gb");
	return value;
}
