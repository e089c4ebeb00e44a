/**
 * The browser pool (lib/browser-pool.ts) with the real Chromium against local servers: the outbound guard on
 * every request and redirect hop (a document redirected to a loopback port that isn't allow-listed fails
 * clearly; a refused sub-request is blocked and the page still renders), the page budgets, context reuse and
 * recycling, the concurrency cap, and a browser that went away being replaced.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrowserPool, PageFailedError } from "../../lib/browser-pool";
import { OutboundClient } from "../../lib/outbound/client";
import { imageSize } from "../../services/screenshots/image-size";

const CHROMIUM = process.env.SCREENSHOT_CHROMIUM_PATH ?? "/usr/bin/chromium";
const quiet = { info: () => undefined, warn: () => undefined };

let site: http.Server;
let forbidden: http.Server;
let base: string;
let forbiddenHits = 0;
const seen: string[] = [];

function listen(handler: http.RequestListener): Promise<http.Server> {
	return new Promise((resolve) => {
		const server = http.createServer(handler);
		server.listen(0, "127.0.0.1", () => resolve(server));
	});
}

function portOf(server: http.Server): number {
	return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
	forbidden = await listen((_req, res) => {
		forbiddenHits += 1;
		res.end("<h1>internal</h1>");
	});
	site = await listen((req, res) => {
		seen.push(req.url ?? "");
		const forbiddenUrl = `http://127.0.0.1:${portOf(forbidden)}/secret`;
		switch (req.url) {
			case "/redirect-out":
				res.writeHead(302, { location: forbiddenUrl }).end();
				return;
			case "/redirect-in":
				res.writeHead(302, { location: "/landing", "set-cookie": "hop=1; Path=/" }).end();
				return;
			case "/landing":
				res.writeHead(200, { "content-type": "text/html" }).end(`<title>landing</title><p id="cookie"></p><script>document.getElementById("cookie").textContent = document.cookie</script>`);
				return;
			case "/with-forbidden-image":
				res.writeHead(200, { "content-type": "text/html" }).end(`<h1>page</h1><img src="${forbiddenUrl}"><img src="/image-redirect">`);
				return;
			case "/image-redirect":
				res.writeHead(302, { location: forbiddenUrl }).end();
				return;
			case "/big":
				res.writeHead(200, { "content-type": "text/html" }).end(`<p>${"x".repeat(300_000)}</p>`);
				return;
			case "/slow":
				setTimeout(() => res.writeHead(200, { "content-type": "text/html" }).end("<p>late</p>"), 5_000).unref();
				return;
			default:
				res.writeHead(200, { "content-type": "text/html" }).end(`<meta name="viewport" content="width=device-width"><h1>hello ${req.url}</h1>`);
		}
	});
	base = `http://127.0.0.1:${portOf(site)}`;
});

afterAll(async () => {
	await new Promise((resolve) => site?.close(resolve));
	await new Promise((resolve) => forbidden?.close(resolve));
});

function newPool(overrides: Partial<ConstructorParameters<typeof BrowserPool>[0]> = {}): BrowserPool {
	// Only the site's port is allowed: the other loopback port stands for an internal service.
	const outbound = new OutboundClient({ allowHosts: [`127.0.0.1:${portOf(site)}`] });
	return new BrowserPool({ executablePath: CHROMIUM, concurrency: 2, pagesPerContext: 3, outbound, logger: quiet, ...overrides });
}

const PHONE = { isolationKey: "tenant-a|phone", context: { viewport: { width: 390, height: 664 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true }, timeoutMs: 15_000, maxBytes: 1024 * 1024 };

describe("browser pool", () => {
	let pool: BrowserPool;
	beforeAll(() => {
		pool = newPool();
	});
	afterAll(async () => {
		await pool?.stop();
	});

	it("renders an allowed page at the emulated size, and follows a same-site redirect through the guard with its cookie", async () => {
		const png = await pool.withPage(PHONE, async (page) => {
			await pool.navigate(page, `${base}/hello`);
			return page.screenshot();
		});
		expect(imageSize(png)).toEqual({ format: "png", width: 1170, height: 1992 });

		const landed = await pool.withPage(PHONE, async (page) => {
			await pool.navigate(page, `${base}/redirect-in`);
			return { url: page.url(), cookie: await page.textContent("#cookie") };
		});
		expect(landed).toEqual({ url: `${base}/landing`, cookie: "hop=1" });
	});

	it("fails a page whose document redirects to a loopback port that isn't allow-listed, without reaching it", async () => {
		const before = forbiddenHits;
		const failure = await pool
			.withPage(PHONE, async (page) => {
				await pool.navigate(page, `${base}/redirect-out`);
				return page.screenshot();
			})
			.catch((err: unknown) => err);
		expect(failure).toBeInstanceOf(PageFailedError);
		expect(failure).toMatchObject({ code: "TARGET_REFUSED", retryable: false });
		expect((failure as Error).message).toContain(`The page redirected to http://127.0.0.1:${portOf(forbidden)}/secret, which was refused`);
		expect((failure as Error).message).toContain("loopback");
		expect(forbiddenHits).toBe(before);
	});

	it("blocks refused sub-requests (directly and through a redirect) and still renders the page", async () => {
		const before = forbiddenHits;
		const result = await pool.withPage(PHONE, async (page) => {
			await pool.navigate(page, `${base}/with-forbidden-image`);
			return { title: await page.textContent("h1"), blocked: pool.blockedRequests(page) };
		});
		expect(result.title).toBe("page");
		expect(result.blocked).toBeGreaterThanOrEqual(2);
		expect(forbiddenHits).toBe(before);
	});

	it("refuses schemes other than http(s) and blocks listed hosts", async () => {
		const refused = await pool.withPage(PHONE, (page) => pool.navigate(page, "file:///etc/passwd")).catch((err: unknown) => err);
		expect(refused).toMatchObject({ code: "TARGET_REFUSED" });
		const blocked = await pool.withPage({ ...PHONE, blockHost: (host) => host === "127.0.0.1" }, (page) => pool.navigate(page, `${base}/hello`)).catch((err: unknown) => err);
		expect(blocked).toBeInstanceOf(PageFailedError);
	});

	it("holds each page to its byte and time budgets", async () => {
		const tooLarge = await pool.withPage({ ...PHONE, maxBytes: 100_000 }, (page) => pool.navigate(page, `${base}/big`)).catch((err: unknown) => err);
		expect(tooLarge).toMatchObject({ code: "TOO_LARGE" });
		const started = Date.now();
		const late = await pool.withPage({ ...PHONE, timeoutMs: 1_000 }, (page) => pool.navigate(page, `${base}/slow`)).catch((err: unknown) => err);
		expect(late).toMatchObject({ code: "TIMEOUT" });
		expect(Date.now() - started).toBeLessThan(4_000);
	});

	it("closes the page at once when the caller aborts", async () => {
		const controller = new AbortController();
		setTimeout(() => controller.abort(), 300);
		const aborted = await pool.withPage({ ...PHONE, signal: controller.signal }, (page) => pool.navigate(page, `${base}/slow`)).catch((err: unknown) => err);
		expect(aborted).toMatchObject({ code: "ABORTED" });
	});
});

describe("browser pool: contexts, concurrency and the browser's life", () => {
	it("reuses a context only for the same isolation key, recycles it after pagesPerContext pages, and clears cookies between pages", async () => {
		const pool = newPool({ pagesPerContext: 2 });
		try {
			const cookieAfter = async (key: string) =>
				pool.withPage({ ...PHONE, isolationKey: key }, async (page) => {
					await pool.navigate(page, `${base}/landing`);
					const before = await page.textContent("#cookie");
					await page.evaluate("document.cookie = \"left=behind\"");
					return before;
				});
			expect(await cookieAfter("a")).toBe("");
			expect(await cookieAfter("a")).toBe("");
			expect(pool.stats().contextsCreated).toBe(1);
			await cookieAfter("a");
			expect(pool.stats().contextsCreated).toBe(2);
			await cookieAfter("b");
			expect(pool.stats().contextsCreated).toBe(3);
			expect(pool.stats().launches).toBe(1);
		} finally {
			await pool.stop();
		}
	});

	it("renders at most `concurrency` pages at once", async () => {
		const pool = newPool({ concurrency: 2 });
		try {
			let open = 0;
			let most = 0;
			await Promise.all(
				Array.from({ length: 5 }, (_, index) =>
					pool.withPage({ ...PHONE, isolationKey: `k${index}` }, async (page) => {
						open += 1;
						most = Math.max(most, open);
						await pool.navigate(page, `${base}/n${index}`);
						await new Promise((resolve) => setTimeout(resolve, 100));
						open -= 1;
					}),
				),
			);
			expect(most).toBe(2);
		} finally {
			await pool.stop();
		}
	});

	it("fails the pages of a browser that went away as retryable, and launches a new one for the next page", async () => {
		const pool = newPool();
		try {
			const crashed = await pool
				.withPage(PHONE, async (page) => {
					await pool.navigate(page, `${base}/hello`);
					await page.context().browser()!.close();
					return page.screenshot();
				})
				.catch((err: unknown) => err);
			expect(crashed).toMatchObject({ code: "BROWSER_CRASHED", retryable: true });
			const png = await pool.withPage(PHONE, async (page) => {
				await pool.navigate(page, `${base}/hello`);
				return page.screenshot();
			});
			expect(imageSize(png).width).toBe(1170);
			expect(pool.stats().launches).toBe(2);
		} finally {
			await pool.stop();
		}
	});
});
