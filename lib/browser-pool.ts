/**
 * A pool of Chromium pages for the platform's rendering work (screenshots now, invoice PDFs later), driven by
 * Playwright against an installed Chromium (Playwright never downloads a browser here).
 *
 * - One browser per process, launched on first use; when it crashes or disconnects the next page launches a
 *   new one, and pages that were open on it fail with a retryable BROWSER_CRASHED.
 * - At most `concurrency` pages at once (the rest wait in arrival order).
 * - Browser contexts are kept between pages, but only reused for the same isolation key (the caller puts the
 *   tenant and everything the context emulates in it), with cookies cleared between pages; a context is
 *   closed after `pagesPerContext` pages, and idle ones beyond `concurrency` are closed oldest first.
 * - Every request a page makes goes through the outbound guard (lib/browser-guard.ts); downloads, service
 *   workers and popups are refused; each page has a wall-clock and a byte budget.
 */
import type { Browser, BrowserContext, BrowserContextOptions, Page, Response } from "playwright";
import { chromium } from "playwright";
import { ConcurrencyLimit } from "./concurrency";
import { createGuard, PageFailedError, PageSession } from "./browser-guard";
import type { OutboundClient } from "./outbound/client";

export { PageFailedError, type PageFailure } from "./browser-guard";

/** Switches for a headless Chromium in a container: no sandbox (the container is one), no GPU, no background traffic. */
export const CHROMIUM_ARGS = [
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	// WebRTC's UDP is not an HTTP request the guard could see: only proxied UDP, of which there is none.
	"--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
];

const MAX_DOCUMENT_REDIRECTS = 10;

interface Logger {
	info(...args: unknown[]): void;
	warn(...args: unknown[]): void;
}

export interface BrowserPoolOptions {
	executablePath: string;
	/** Pages at once. */
	concurrency: number;
	/** A context is closed after serving this many pages. */
	pagesPerContext: number;
	/** The platform's guarded HTTP client: every request of every page is fetched through it. */
	outbound: OutboundClient;
	logger: Logger;
	/** Extra Chromium switches (tests). */
	args?: string[];
}

/** The context a page needs. Contexts are reused only for the same key: put the tenant and the emulation in it. */
export interface PageRequest {
	isolationKey: string;
	context: Pick<BrowserContextOptions, "viewport" | "deviceScaleFactor" | "isMobile" | "hasTouch" | "userAgent" | "locale" | "timezoneId">;
	timeoutMs: number;
	maxBytes: number;
	blockHost?: (host: string) => boolean;
	/** Aborting it (a canceled job) closes the page at once. */
	signal?: AbortSignal;
}

export interface WaitOptions {
	waitUntil?: "load" | "domcontentloaded" | "networkidle" | "commit";
}

interface Slot {
	context: BrowserContext;
	browser: Browser;
	key: string;
	pages: number;
	/** True while the pool itself opens the slot's page (the context's "page" event fires before newPage resolves). */
	opening: boolean;
}

export interface BrowserPoolStats {
	launches: number;
	contextsCreated: number;
	pagesOpen: number;
	idleContexts: number;
}

export class BrowserPool {
	private readonly limit: ConcurrencyLimit;
	private browser?: Promise<Browser>;
	private readonly idle: Slot[] = [];
	private readonly sessions = new WeakMap<Page, PageSession>();
	private readonly guard: ReturnType<typeof createGuard>;
	private stopping = false;
	private readonly counters = { launches: 0, contextsCreated: 0, pagesOpen: 0 };

	constructor(private readonly options: BrowserPoolOptions) {
		this.limit = new ConcurrencyLimit(options.concurrency);
		this.guard = createGuard(options.outbound, (page) => this.sessions.get(page));
	}

	stats(): BrowserPoolStats {
		return { ...this.counters, idleContexts: this.idle.length };
	}

	/**
	 * Runs `work` with a fresh page in a context for `request`; the page is closed afterwards. A budget that ran
	 * out, a refused document or a crashed browser surface as PageFailedError, whatever Playwright threw.
	 */
	withPage<T>(request: PageRequest, work: (page: Page) => Promise<T>): Promise<T> {
		return this.limit.run(async () => {
			if (this.stopping) throw new PageFailedError("BROWSER_CRASHED", "The browser pool is stopping", true);
			if (request.signal?.aborted) throw new PageFailedError("ABORTED", "The render was canceled");
			const slot = await this.acquire(request);
			const session = new PageSession({ timeoutMs: request.timeoutMs, maxBytes: request.maxBytes, blockHost: request.blockHost });
			let page: Page | undefined;
			let healthy = true;
			const timer = setTimeout(() => {
				session.fail(new PageFailedError("TIMEOUT", `The page did not finish within its ${request.timeoutMs} ms budget`));
				void page?.close().catch(() => undefined);
			}, request.timeoutMs);
			const onAbort = () => {
				session.fail(new PageFailedError("ABORTED", "The render was canceled"));
				void page?.close().catch(() => undefined);
			};
			request.signal?.addEventListener("abort", onAbort, { once: true });
			try {
				slot.opening = true;
				try {
					page = await slot.context.newPage();
				} finally {
					slot.opening = false;
				}
				this.sessions.set(page, session);
				this.counters.pagesOpen += 1;
				const result = await work(page);
				if (session.failure) throw session.failure;
				return result;
			} catch (err) {
				if (!slot.browser.isConnected()) {
					healthy = false;
					throw new PageFailedError("BROWSER_CRASHED", `The browser went away while rendering: ${(err as Error).message}`, true);
				}
				throw session.failure ?? err;
			} finally {
				clearTimeout(timer);
				request.signal?.removeEventListener("abort", onAbort);
				if (page) {
					this.counters.pagesOpen -= 1;
					await page.close().catch(() => undefined);
				}
				await this.release(slot, healthy && !session.failure);
			}
		});
	}

	/**
	 * page.goto with the document's redirects followed through the guard (see lib/browser-guard.ts): each hop is
	 * checked before it is loaded, and a refused one fails the page with the reason.
	 */
	async navigate(page: Page, url: string, options: WaitOptions = {}): Promise<Response | null> {
		const session = this.sessions.get(page);
		if (!session) throw new Error("navigate() is for pages of this pool");
		let target = url;
		for (let hop = 0; ; hop += 1) {
			session.redirectTo = undefined;
			session.navigating = target;
			let response: Response | null;
			try {
				response = await page.goto(target, { waitUntil: options.waitUntil, timeout: session.remainingMs() });
			} catch (err) {
				throw session.failure ?? new PageFailedError("NAVIGATION_FAILED", `The page ${target} could not be loaded: ${firstLine(err)}`);
			} finally {
				session.navigating = undefined;
			}
			if (session.failure) throw session.failure;
			if (!session.redirectTo) return response;
			if (hop >= MAX_DOCUMENT_REDIRECTS) throw new PageFailedError("TOO_MANY_REDIRECTS", `The page ${url} redirected more than ${MAX_DOCUMENT_REDIRECTS} times`);
			target = session.redirectTo;
		}
	}

	/** How many requests of the page the guard or a block list refused so far. */
	blockedRequests(page: Page): number {
		return this.sessions.get(page)?.blocked ?? 0;
	}

	async stop(): Promise<void> {
		this.stopping = true;
		const browser = this.browser;
		this.browser = undefined;
		this.idle.length = 0;
		if (browser) await (await browser.catch(() => undefined))?.close().catch(() => undefined);
	}

	private async acquire(request: PageRequest): Promise<Slot> {
		const browser = await this.launched();
		const index = this.idle.findIndex((slot) => slot.key === request.isolationKey && slot.browser === browser);
		if (index >= 0) return this.idle.splice(index, 1)[0];
		const context = await browser.newContext({ ...request.context, acceptDownloads: false, serviceWorkers: "block" });
		this.counters.contextsCreated += 1;
		await context.route("**/*", this.guard);
		// WebSockets aren't HTTP requests to fulfil: their URL is checked (scheme, address, DNS) before the browser connects.
		await context.routeWebSocket(
			() => true,
			async (socket) => {
				try {
					await this.options.outbound.assertAllowed(socket.url().replace(/^ws/, "http"));
					socket.connectToServer();
				} catch (err) {
					await socket.close({ code: 1008, reason: firstLine(err).slice(0, 120) });
				}
			},
		);
		const slot: Slot = { context, browser, key: request.isolationKey, pages: 0, opening: false };
		// A page opened by the page (window.open, target=_blank) isn't ours to render: closed at once.
		context.on("page", (page) => {
			if (!slot.opening && !this.sessions.has(page)) void page.close().catch(() => undefined);
		});
		return slot;
	}

	private async release(slot: Slot, reusable: boolean): Promise<void> {
		slot.pages += 1;
		const keep = reusable && !this.stopping && slot.browser.isConnected() && slot.pages < this.options.pagesPerContext;
		if (keep) {
			try {
				await slot.context.clearCookies();
			} catch {
				await slot.context.close().catch(() => undefined);
				return;
			}
			this.idle.push(slot);
			while (this.idle.length > this.options.concurrency) await this.idle.shift()!.context.close().catch(() => undefined);
			return;
		}
		await slot.context.close().catch(() => undefined);
	}

	private launched(): Promise<Browser> {
		if (!this.browser) {
			const launching = chromium
				// The node's own shutdown closes the browser (stop()); Playwright's signal handlers would close it first.
				.launch({ executablePath: this.options.executablePath, headless: true, args: [...CHROMIUM_ARGS, ...(this.options.args ?? [])], handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false })
				.then((browser) => {
					this.counters.launches += 1;
					browser.on("disconnected", () => {
						if (this.browser === launching) this.browser = undefined;
						for (let i = this.idle.length - 1; i >= 0; i -= 1) if (this.idle[i].browser === browser) this.idle.splice(i, 1);
						if (!this.stopping) this.options.logger.warn("Chromium disconnected; the next page launches a new one");
					});
					this.options.logger.info(`Chromium ${browser.version()} launched from ${this.options.executablePath}`);
					return browser;
				});
			this.browser = launching;
			launching.catch(() => {
				if (this.browser === launching) this.browser = undefined;
			});
		}
		return this.browser.catch((err: Error) => {
			throw new PageFailedError("BROWSER_CRASHED", `Chromium could not be launched from ${this.options.executablePath}: ${firstLine(err)}`, true);
		});
	}
}

function firstLine(err: unknown): string {
	return String((err as Error)?.message ?? err).split("\n")[0];
}
