/**
 * HTML → PDF with Playwright driving Chromium. Playwright downloads no browser here: it launches the binary
 * at a configured path (Debian's `chromium` by default, BILLING_CHROMIUM_PATH).
 *
 * One browser per renderer, launched on first use and kept: a launch costs a few hundred milliseconds, a page
 * in a running browser a few tens. Each rendering gets its own browser context (a fresh, incognito-like
 * profile: no cookies or cache shared between invoices) with JavaScript off and the network cut: every
 * request the page would make (an image, a font, a link prefetch) is aborted, so a document can't reach
 * anything, whatever its HTML says. At most `concurrency` pages render at once; the rest wait their turn.
 * A rendering that takes longer than `timeoutMs` (once it has its turn) is abandoned and its context closed.
 * A browser that crashed or was closed is launched again on the next rendering; `close()` ends it for good.
 */
import { chromium, type Browser } from "playwright";
import { ConcurrencyLimit } from "../../lib/concurrency";
import { ServiceUnavailableError } from "../../lib/errors";

export interface PdfRendererOptions {
	executablePath: string;
	concurrency: number;
	timeoutMs: number;
}

/**
 * Chromium's switches. Playwright adds --headless and a temporary --user-data-dir of its own (a fresh,
 * empty profile per launch, removed on close). Ours: no sandbox (containers run without the user namespaces
 * it needs), no GPU, and none of the background traffic Chromium starts by itself (component updates, sync,
 * QUIC probes, first-run pings): a renderer talks to nobody.
 */
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio"];

export class PdfRendererUnavailableError extends ServiceUnavailableError {
	constructor(message: string) {
		super(message, "PDF_RENDERER_UNAVAILABLE");
	}
}

export class PdfRenderer {
	private browser?: Promise<Browser>;
	private closed = false;
	private readonly limit: ConcurrencyLimit;

	constructor(private readonly options: PdfRendererOptions) {
		this.limit = new ConcurrencyLimit(options.concurrency);
	}

	/** A4 PDF of a complete HTML document. */
	async render(html: string): Promise<Buffer> {
		return this.limit.run(() => this.withTimeout((track) => this.renderPage(html, track)));
	}

	/** Closes the browser; renderings after this fail. */
	async close(): Promise<void> {
		this.closed = true;
		const browser = this.browser;
		this.browser = undefined;
		if (!browser) return;
		await browser.then((running) => running.close()).catch(() => undefined);
	}

	private async renderPage(html: string, track: (close: () => Promise<void>) => void): Promise<Buffer> {
		const browser = await this.launched();
		const context = await browser.newContext({ javaScriptEnabled: false, offline: true });
		track(() => context.close());
		try {
			await context.route("**/*", (route) => route.abort("blockedbyclient"));
			const page = await context.newPage();
			await page.setContent(html, { waitUntil: "load", timeout: this.options.timeoutMs });
			return await page.pdf({ format: "A4", printBackground: true, preferCSSPageSize: true });
		} finally {
			await context.close().catch(() => undefined);
		}
	}

	/** Runs the work under the deadline; on expiry closes what it opened (which fails the work) and throws. */
	private async withTimeout<T>(work: (track: (close: () => Promise<void>) => void) => Promise<T>): Promise<T> {
		let release: (() => Promise<void>) | undefined;
		let timer: NodeJS.Timeout | undefined;
		const expired = new Promise<never>((_, reject) => {
			timer = setTimeout(() => {
				void release?.().catch(() => undefined);
				reject(new PdfRendererUnavailableError(`Rendering a PDF took longer than ${this.options.timeoutMs} ms`));
			}, this.options.timeoutMs);
		});
		const running = work((close) => (release = close));
		// Whichever loses the race must not become an unhandled rejection.
		running.catch(() => undefined);
		try {
			return await Promise.race([running, expired]);
		} finally {
			clearTimeout(timer);
		}
	}

	/** The running browser, launched on first use (concurrent first renderings share one launch). */
	private launched(): Promise<Browser> {
		if (this.closed) return Promise.reject(new PdfRendererUnavailableError("The PDF renderer is closed"));
		if (!this.browser) {
			const launching = chromium
				.launch({ executablePath: this.options.executablePath, headless: true, args: CHROMIUM_ARGS, timeout: this.options.timeoutMs })
				.then((browser) => {
					// A crash or an external kill: the next rendering launches a new one.
					browser.on("disconnected", () => {
						if (this.browser === launching) this.browser = undefined;
					});
					if (this.closed) void browser.close();
					return browser;
				})
				.catch((err: Error) => {
					if (this.browser === launching) this.browser = undefined;
					throw new PdfRendererUnavailableError(`Chromium could not be started from ${this.options.executablePath} (BILLING_CHROMIUM_PATH): ${err.message.split("\n")[0]}`);
				});
			this.browser = launching;
		}
		return this.browser;
	}
}
