/**
 * The outbound guard of the browser pool (lib/browser-pool.ts): every HTTP request a pooled page makes (the
 * page itself, every sub-request, every redirect hop) is routed through `context.route` and fetched by the
 * platform's guarded client (lib/outbound/client.ts), never by Chromium itself. So the same rules as for
 * webhooks hold: only http(s), only public addresses unless OUTBOUND_ALLOW_HOSTS lists the host, and the
 * address checked is the address connected to (the client checks every address DNS answers inside the
 * socket's own lookup, so a DNS answer that changes between a check and the connect can't slip a private
 * address in).
 *
 * Playwright routes only the first request of a redirect chain; Chromium would follow the rest itself,
 * unguarded. So redirects never reach Chromium: a sub-request's are followed by the client (each hop checked),
 * and a main-document navigation's 3xx is answered with an empty page (with the hop's Set-Cookie) while the
 * pool navigates to the checked Location itself (`BrowserPool.navigate`), so the page keeps its real URL.
 *
 * Per page: a byte budget over every response body, a wall-clock budget (the pool's timer), refusals
 * recorded so a refused main document fails with a clear message, and blocked hosts (ad and tracker lists).
 */
import zlib from "node:zlib";
import { promisify } from "node:util";
import type { Page, Route } from "playwright";
import type { OutboundClient } from "./outbound/client";
import { OutboundFailedError, OutboundRefusedError } from "./outbound/errors";

export type PageFailure = "TARGET_REFUSED" | "TIMEOUT" | "TOO_LARGE" | "NAVIGATION_FAILED" | "TOO_MANY_REDIRECTS" | "BROWSER_CRASHED" | "ABORTED";

/** Why a page could not be rendered. `retryable`: the page was fine, the browser was not (try again elsewhere). */
export class PageFailedError extends Error {
	constructor(
		readonly code: PageFailure,
		message: string,
		readonly retryable = false,
	) {
		super(message);
		this.name = "PageFailedError";
	}
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Hop-by-hop and framing headers: Playwright frames the fulfilled body itself. */
const DROPPED_RESPONSE_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"]);
const SUB_REQUEST_REDIRECTS = 5;

const DECODERS: Record<string, (body: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>> = {
	gzip: promisify(zlib.gunzip),
	"x-gzip": promisify(zlib.gunzip),
	deflate: promisify(zlib.inflate),
	br: promisify(zlib.brotliDecompress) as (body: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>,
};

export interface PageSessionOptions {
	timeoutMs: number;
	maxBytes: number;
	/** Hosts whose requests are aborted (ad and tracker lists): true blocks. */
	blockHost?: (host: string) => boolean;
}

/** What the guard knows about one page while it renders. */
export class PageSession {
	readonly startedAt = Date.now();
	readonly controller = new AbortController();
	bytes = 0;
	/** Requests refused by the guard or a block list (sub-requests only fail the page when they are the document). */
	blocked = 0;
	/** The first thing that makes the page fail, whatever surfaced in Playwright afterwards. */
	failure?: PageFailedError;
	/** Set by the guard when the main document answered a redirect; BrowserPool.navigate follows it. */
	redirectTo?: string;
	/** The URL BrowserPool.navigate is loading; only that request's redirects are handed back to it. */
	navigating?: string;

	constructor(readonly options: PageSessionOptions) {}

	remainingMs(): number {
		return Math.max(1, this.options.timeoutMs - (Date.now() - this.startedAt));
	}

	fail(error: PageFailedError): void {
		if (!this.failure) this.failure = error;
		this.controller.abort(error);
	}
}

/** `page` of a routed request, or undefined (service workers, which contexts block anyway). */
function pageOf(route: Route): Page | undefined {
	try {
		return route.request().frame().page();
	} catch {
		return undefined;
	}
}

function isMainDocument(route: Route, page: Page): boolean {
	const request = route.request();
	return request.isNavigationRequest() && request.frame() === page.mainFrame();
}

function refusedMessage(url: string, err: Error, document: boolean, redirect: boolean): string {
	const what = redirect ? `The page redirected to ${url}, which was refused` : document ? `The page ${url} was refused` : `${url} was refused`;
	return `${what}: ${err.message}`;
}

/**
 * The `context.route("**\/*")` handler of every pooled context. Requests of pages the pool doesn't know (a
 * popup the page opened) are aborted.
 */
export function createGuard(outbound: OutboundClient, sessionOf: (page: Page) => PageSession | undefined) {
	return async function guard(route: Route): Promise<void> {
		const page = pageOf(route);
		const session = page ? sessionOf(page) : undefined;
		if (!page || !session || session.failure) {
			await route.abort("blockedbyclient").catch(() => undefined);
			return;
		}
		const request = route.request();
		const url = request.url();
		const document = isMainDocument(route, page);
		let target: URL;
		try {
			target = outbound.checkUrl(url);
		} catch (err) {
			return refuse(route, session, url, err as Error, document, false);
		}
		if (session.options.blockHost?.(target.hostname.toLowerCase())) {
			session.blocked += 1;
			await route.abort("blockedbyclient").catch(() => undefined);
			return;
		}
		// Only the document being navigated to hands its redirects back; others are followed by the client.
		const handsBackRedirects = document && session.navigating === url;
		try {
			const answer = await outbound.request(target, {
				method: request.method(),
				headers: await request.allHeaders(),
				body: request.postDataBuffer() ?? undefined,
				maxRedirects: handsBackRedirects ? 0 : SUB_REQUEST_REDIRECTS,
				maxBodyBytes: Math.max(0, session.options.maxBytes - session.bytes) + 1,
				timeoutMs: session.remainingMs(),
				signal: session.controller.signal,
			});
			session.bytes += answer.body.length;
			if (answer.truncated || session.bytes > session.options.maxBytes) {
				session.fail(new PageFailedError("TOO_LARGE", `The page loaded more than ${session.options.maxBytes} bytes (its size budget)`));
				await route.abort("blockedbyclient").catch(() => undefined);
				return;
			}
			const headers = responseHeaders(answer.headers);
			const location = answer.headers.location;
			if (handsBackRedirects && REDIRECT_STATUSES.has(answer.status) && location) {
				let next: URL;
				try {
					next = outbound.checkUrl(new URL(location, target));
				} catch (err) {
					return refuse(route, session, safeUrl(location, target), err as Error, true, true);
				}
				session.redirectTo = next.href;
				// An empty document in its place: Chromium keeps the hop's cookies and doesn't follow anything itself.
				const cookies = headers["set-cookie"];
				await route.fulfill({ status: 200, headers: { "content-type": "text/html", ...(cookies ? { "set-cookie": cookies } : {}) }, body: "" });
				return;
			}
			const body = await decode(answer.body, headers, Math.max(1, session.options.maxBytes - session.bytes));
			await route.fulfill({ status: answer.status, headers, body });
		} catch (err) {
			if (err instanceof OutboundRefusedError) return refuse(route, session, url, err, document, false);
			if (document && !session.failure) {
				const reason = err instanceof OutboundFailedError && err.code === "TIMEOUT" ? "TIMEOUT" : "NAVIGATION_FAILED";
				if (reason === "TIMEOUT") session.fail(new PageFailedError("TIMEOUT", `The page did not finish within its ${session.options.timeoutMs} ms budget`));
				else if (!session.controller.signal.aborted) session.fail(new PageFailedError("NAVIGATION_FAILED", `The page ${url} could not be loaded: ${(err as Error).message}`));
			}
			await route.abort("failed").catch(() => undefined);
		}
	};
}

async function refuse(route: Route, session: PageSession, url: string, err: Error, document: boolean, redirect: boolean): Promise<void> {
	session.blocked += 1;
	if (document) session.fail(new PageFailedError("TARGET_REFUSED", refusedMessage(url, err, document, redirect)));
	await route.abort("blockedbyclient").catch(() => undefined);
}

function safeUrl(location: string, base: URL): string {
	try {
		return new URL(location, base).href;
	} catch {
		return location;
	}
}

/** Playwright takes one string per header; several Set-Cookie lines go newline-separated. */
function responseHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
	const headers: Record<string, string> = {};
	for (const [name, value] of Object.entries(raw)) {
		if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
		headers[name] = Array.isArray(value) ? value.join("\n") : value;
	}
	return headers;
}

/**
 * A fulfilled body is given to the page as it is, so an encoded one is decoded here (bounded by what is left of
 * the budget: a small compressed body can't expand past it) and its Content-Encoding dropped.
 */
async function decode(body: Buffer, headers: Record<string, string>, maxOutputLength: number): Promise<Buffer> {
	const encoding = headers["content-encoding"]?.trim().toLowerCase();
	if (!encoding || encoding === "identity") return body;
	const decoder = DECODERS[encoding];
	if (!decoder) return body;
	try {
		const decoded = await decoder(body, { maxOutputLength });
		delete headers["content-encoding"];
		return decoded;
	} catch {
		// Not what it says it is, or past the budget: the page gets the bytes as sent, like a broken response.
		return body;
	}
}
