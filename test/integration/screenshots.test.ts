/**
 * The screenshots domain through the gateway, on one in-process node running it with identity, files,
 * notifications, the gateway and platform, against the run's PostgreSQL (the durable channel rides its
 * PostgreSQL adapter here; the cluster test runs it on JetStream), S3 and the real Chromium. The page is served
 * by the test on 127.0.0.1, allowed through OUTBOUND_ALLOW_HOSTS for its port only: another loopback port stands
 * for an internal service a page must not reach.
 *
 * A job renders on three devices and the downloaded images have the devices' exact pixel sizes; a redirect to the
 * forbidden port fails the job clearly; bad input is 4xx and leaves no job; another tenant's job is 404; cancel,
 * delete and the monthly quota hold; the owner's socket gets the progress. Every answer is also checked against
 * the OpenAPI document (the contract test, test/helpers/api.ts).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { sql } from "../helpers/db";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient, type ApiResponse } from "../helpers/api";
import { connectRealtime } from "../helpers/realtime";
import { imageSize } from "../../services/screenshots/image-size";
import { resultFileId } from "../../services/screenshots/screenshot-renderer.service";
import type { PublicDevice, PublicScreenshotJob } from "../../services/screenshots/contracts";

const PASSWORD = "correct horse battery";
const FINAL = ["succeeded", "failed", "canceled"];

interface Session {
	token: string;
	tenantId: string;
	userId: string;
	email: string;
}

let node: RunningNode;
let api: ApiClient;
let site: http.Server;
let forbidden: http.Server;
let base: string;
let forbiddenHits = 0;

function listen(handler: http.RequestListener): Promise<http.Server> {
	return new Promise((resolve) => {
		const server = http.createServer(handler);
		server.listen(0, "127.0.0.1", () => resolve(server));
	});
}

const portOf = (server: http.Server) => (server.address() as AddressInfo).port;

/** A page as many are: no viewport meta tag (phones zoom it out), taller than a screen, styles for dark mode. */
const PAGE = `<!doctype html><html><head><title>Local page</title><style>
body { margin: 0; font: 16px sans-serif; background: #fff; color: #111 }
@media (prefers-color-scheme: dark) { body { background: #111; color: #eee } }
.tall { height: 2400px; background: linear-gradient(#fafafa, #4a90d9) }
</style></head><body><h1 id="title">Hello from the test</h1><div class="banner">cookie banner</div><div class="tall"></div></body></html>`;

beforeAll(async () => {
	forbidden = await listen((_req, res) => {
		forbiddenHits += 1;
		res.end("internal");
	});
	site = await listen((req, res) => {
		if (req.url === "/redirect-out") {
			res.writeHead(302, { location: `http://127.0.0.1:${portOf(forbidden)}/admin` }).end();
		} else if (req.url === "/slow") {
			setTimeout(() => res.writeHead(200, { "content-type": "text/html" }).end(PAGE), 8_000).unref();
		} else {
			res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
		}
	});
	base = `http://127.0.0.1:${portOf(site)}`;
	node = await startNode({
		SERVICES: "gateway,identity,platform,notifications,files,screenshots",
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
		OUTBOUND_ALLOW_HOSTS: `127.0.0.1:${portOf(site)}`,
		SCREENSHOT_CONCURRENCY: "2",
		SCREENSHOT_PAGE_TIMEOUT: "20s",
	});
	api = apiClient(node.url);
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await new Promise((resolve) => site?.close(resolve));
	await new Promise((resolve) => forbidden?.close(resolve));
});

async function signUp(label: string): Promise<Session> {
	const email = uniqueEmail(label);
	const response = await api.post<{ accessToken: string; tenant: { id: string }; user: { id: string } }>(
		"/auth/register",
		{ email, password: PASSWORD, fullName: `${label} Tester`, organization: `${label} Inc` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id, userId: response.body.user.id, email };
}

async function submit(session: Session, body: Record<string, unknown>): Promise<PublicScreenshotJob> {
	const response = await api.post<PublicScreenshotJob>("/screenshot-jobs", body, { token: session.token });
	expect(response.status, JSON.stringify(response.body)).toBe(202);
	expect(response.headers.get("location")).toBe(`/api/v1/screenshot-jobs/${response.body.id}`);
	expect(response.body.status).toBe("queued");
	return response.body;
}

async function settled(session: Session, id: string, timeoutMs = 60_000): Promise<PublicScreenshotJob> {
	const started = Date.now();
	for (;;) {
		const response = await api.get<PublicScreenshotJob>(`/screenshot-jobs/${id}`, { token: session.token });
		expect(response.status).toBe(200);
		if (FINAL.includes(response.body.status)) return response.body;
		if (Date.now() - started > timeoutMs) throw new Error(`Job ${id} still ${response.body.status} after ${timeoutMs} ms`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

async function waitForStatus(session: Session, id: string, status: string): Promise<void> {
	for (let attempt = 0; attempt < 300; attempt += 1) {
		if ((await api.get<PublicScreenshotJob>(`/screenshot-jobs/${id}`, { token: session.token })).body.status === status) return;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	throw new Error(`Job ${id} never became ${status}`);
}

function expectProblem(response: ApiResponse, status: number, code: string): void {
	expect(response.status, JSON.stringify(response.body)).toBe(status);
	expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
	expect(response.body).toMatchObject({ status, code });
}

async function jobRows(tenantId: string): Promise<Array<{ id: string; status: string }>> {
	return sql(`SELECT id, status FROM screenshot_jobs.screenshot_jobs WHERE tenant_id = $1 ORDER BY created_at`, [tenantId]);
}

async function download(url: string): Promise<{ bytes: Buffer; cacheControl: string | null }> {
	const response = await fetch(url);
	expect(response.status).toBe(200);
	return { bytes: Buffer.from(await response.arrayBuffer()), cacheControl: response.headers.get("cache-control") };
}

describe("devices", () => {
	it("lists Playwright's devices and the store sizes, publicly, with each one's exact pixel size", async () => {
		const response = await api.get<{ devices: PublicDevice[] }>("/devices");
		expect(response.status).toBe(200);
		const byId = new Map(response.body.devices.map((device) => [device.id, device]));
		expect(byId.get("app-store-iphone-6.9")).toMatchObject({ kind: "store", deviceScaleFactor: 3, isMobile: true, screenshot: { width: 1320, height: 2868 } });
		expect(byId.get("app-store-ipad-13")?.screenshot).toEqual({ width: 2064, height: 2752 });
		expect(byId.get("google-play-feature-graphic")).toMatchObject({ isMobile: false, screenshot: { width: 1024, height: 500 } });
		expect(byId.get("iphone-13")).toMatchObject({ kind: "device", name: "iPhone 13", viewport: { width: 390, height: 664 }, deviceScaleFactor: 3, screenshot: { width: 1170, height: 1992 } });
		expect(byId.get("pixel-7")?.screenshot).toEqual({ width: 1082, height: 2202 });
		expect(response.body.devices.length).toBeGreaterThan(200);
	});
});

describe("screenshot jobs", () => {
	it("renders a local page on three devices: each PNG has its device's exact size, the owner's socket sees the progress, and the owner is notified", async () => {
		const alice = await signUp("alice");
		const socket = await connectRealtime(node.url, alice.token);
		try {
			const devices = ["iphone-13", "pixel-7", "app-store-iphone-6.9"];
			const queued = await submit(alice, { url: `${base}/`, devices, hideSelectors: [".banner"] });
			expect(queued).toMatchObject({ progress: 0, source: { url: `${base}/`, html: false }, results: [], createdBy: alice.userId });
			expect(queued.targets.map((target) => target.id)).toEqual(devices);

			const job = await settled(alice, queued.id);
			expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
			expect(job).toMatchObject({ progress: 100, error: null, attempts: 1 });
			expect(job.results.map((result) => result.target)).toEqual(devices);
			const expected: Record<string, { width: number; height: number }> = { "iphone-13": { width: 1170, height: 1992 }, "pixel-7": { width: 1082, height: 2202 }, "app-store-iphone-6.9": { width: 1320, height: 2868 } };
			for (const result of job.results) {
				expect(result).toMatchObject({ format: "png", ...expected[result.target], fileId: resultFileId(job.id, result.target) });
				const { bytes, cacheControl } = await download(result.url!);
				expect(imageSize(bytes)).toEqual({ format: "png", ...expected[result.target] });
				expect(bytes.length).toBe(result.bytes);
				expect(cacheControl).toBe("public, max-age=31536000, immutable");
			}

			// Progress reached the owner's socket: running, each image, then done.
			const frames = () => socket.frames.filter((frame) => frame.kind === "event" && frame.type === "screenshot.job.progress" && (frame.data as { id: string }).id === job.id);
			await socket.waitFor((frame) => frame.type === "screenshot.job.progress" && (frame.data as { status: string }).status === "succeeded");
			const statuses = frames().map((frame) => (frame.data as { status: string; progress: number }).progress);
			expect(statuses).toContain(100);
			expect(statuses.some((progress) => progress > 0 && progress < 100)).toBe(true);

			// In-app notification, once.
			for (let attempt = 0; attempt < 100; attempt += 1) {
				const feed = await api.get<{ rows: Array<{ type: string; data: { jobId: string } }> }>("/notifications?type=screenshot.job.succeeded", { token: alice.token });
				if (feed.body.rows.length > 0) {
					expect(feed.body.rows.filter((row) => row.data.jobId === job.id)).toHaveLength(1);
					break;
				}
				if (attempt === 99) throw new Error("No screenshot.job.succeeded notification");
				await new Promise((resolve) => setTimeout(resolve, 100));
			}
		} finally {
			await socket.close();
		}
	}, 120_000);

	it("renders webp and jpeg at an explicit viewport's exact size, a full page taller than it, and one element", async () => {
		const bob = await signUp("bob");
		const webp = await submit(bob, { url: `${base}/`, viewport: { width: 400, height: 300, deviceScaleFactor: 2 }, format: "webp", quality: 80, darkMode: true });
		const jpeg = await submit(bob, { url: `${base}/`, viewport: { width: 500, height: 400 }, format: "jpeg", quality: 70 });
		const full = await submit(bob, { html: PAGE, viewport: { width: 600, height: 500 }, fullPage: true, injectCss: ".tall { height: 1000px }" });
		const element = await submit(bob, { url: `${base}/`, viewport: { width: 800, height: 600 }, selector: "#title" });

		const sizes = async (id: string) => {
			const job = await settled(bob, id);
			expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
			const { bytes } = await download(job.results[0].url!);
			return imageSize(bytes);
		};
		expect(await sizes(webp.id)).toEqual({ format: "webp", width: 800, height: 600 });
		expect(await sizes(jpeg.id)).toEqual({ format: "jpeg", width: 500, height: 400 });
		const page = await sizes(full.id);
		expect(page).toMatchObject({ format: "png", width: 600 });
		expect(page.height).toBeGreaterThan(1000);
		const title = await sizes(element.id);
		expect(title.width).toBeLessThanOrEqual(800);
		expect(title.height).toBeLessThan(200);
	}, 120_000);

	it("fails a job whose page redirects to a loopback port that isn't allowed, clearly, without reaching it", async () => {
		const carol = await signUp("carol");
		const before = forbiddenHits;
		const job = await settled(carol, (await submit(carol, { url: `${base}/redirect-out`, devices: ["iphone-13"] })).id);
		expect(job.status).toBe("failed");
		expect(job.error?.code).toBe("TARGET_REFUSED");
		expect(job.error?.message).toContain(`The page redirected to http://127.0.0.1:${portOf(forbidden)}/admin, which was refused`);
		expect(job.error?.message).toContain("loopback");
		expect(job.results).toEqual([]);
		expect(forbiddenHits).toBe(before);
		// The owner hears about it in the feed and by email (kept in the mail outbox: no SMTP here).
		for (let attempt = 0; ; attempt += 1) {
			const mails = await sql<{ template: string }>(`SELECT template FROM mail.outbox WHERE to_address = $1 AND template = 'screenshot-job-failed'`, [carol.email]).catch(() => []);
			const feed = await api.get<{ rows: Array<{ data: { jobId: string } }> }>("/notifications?type=screenshot.job.failed", { token: carol.token });
			if (mails.length === 1 && feed.body.rows.length === 1) break;
			if (attempt > 100) throw new Error(`Failure not notified: ${mails.length} mails, ${feed.body.rows.length} feed entries`);
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
	}, 60_000);

	it("refuses bad input with 400/422 problem+json and queues nothing", async () => {
		const dave = await signUp("dave");
		const ok = { url: `${base}/`, devices: ["iphone-13"] };
		const cases: Array<[Record<string, unknown>, number, string]> = [
			[{ devices: ["iphone-13"] }, 422, "SOURCE_REQUIRED"],
			[{ ...ok, html: "<p>x</p>" }, 422, "SOURCE_CONFLICT"],
			[{ url: `${base}/` }, 422, "TARGET_REQUIRED"],
			[{ ...ok, viewport: { width: 100, height: 100 } }, 422, "TARGET_CONFLICT"],
			[{ ...ok, fullPage: true, selector: "h1" }, 422, "CLIP_CONFLICT"],
			[{ ...ok, quality: 80 }, 422, "QUALITY_NOT_SUPPORTED"],
			[{ ...ok, timezone: "Mars/Olympus" }, 422, "UNKNOWN_TIMEZONE"],
			[{ ...ok, headers: { Host: "evil.example" } }, 422, "HEADER_NOT_ALLOWED"],
			[{ ...ok, headers: { "X-Ok": "a\r\nb" } }, 422, "HEADER_NOT_ALLOWED"],
			[{ html: "<p>x</p>", devices: ["iphone-13"], cookies: [{ name: "a", value: "b" }] }, 422, "COOKIE_DOMAIN_REQUIRED"],
			[{ url: "http://127.0.0.1:9/", devices: ["iphone-13"] }, 422, "OUTBOUND_TARGET_REFUSED"],
			[{ url: "http://169.254.169.254/latest/meta-data", devices: ["iphone-13"] }, 422, "OUTBOUND_TARGET_REFUSED"],
			[{ url: "file:///etc/passwd", devices: ["iphone-13"] }, 422, "OUTBOUND_TARGET_REFUSED"],
			[{ url: "not a url", devices: ["iphone-13"] }, 422, "OUTBOUND_TARGET_REFUSED"],
			[{ ...ok, viewport: undefined, devices: ["no-such-phone"] }, 400, "VALIDATION_ERROR"],
			[{ ...ok, devices: [] }, 400, "VALIDATION_ERROR"],
			[{ ...ok, devices: ["iphone-13", "iphone-13"] }, 400, "VALIDATION_ERROR"],
			[{ url: `${base}/`, viewport: { width: 0, height: 100 } }, 400, "VALIDATION_ERROR"],
			[{ url: `${base}/`, viewport: { width: 5000, height: 5000, deviceScaleFactor: 4 } }, 422, "VIEWPORT_TOO_LARGE"],
			[{ ...ok, format: "gif" }, 400, "VALIDATION_ERROR"],
			[{ ...ok, format: "jpeg", quality: 101 }, 400, "VALIDATION_ERROR"],
			[{ ...ok, waitUntil: "never" }, 400, "VALIDATION_ERROR"],
			[{ ...ok, delayMs: 60_000 }, 400, "VALIDATION_ERROR"],
			[{ ...ok, locale: "not a locale!" }, 400, "VALIDATION_ERROR"],
			[{ ...ok, url: "x".repeat(3000) }, 400, "VALIDATION_ERROR"],
			[{ ...ok, hideSelectors: "h1" }, 400, "VALIDATION_ERROR"],
			[{ ...ok, cookies: [{ name: "a;b", value: "c" }] }, 400, "VALIDATION_ERROR"],
			[{ ...ok, fullPage: null }, 400, "VALIDATION_ERROR"],
		];
		for (const [body, status, code] of cases) {
			const response = await api.post("/screenshot-jobs", body, { token: dave.token });
			expectProblem(response, status, code);
		}
		expect(await jobRows(dave.tenantId)).toEqual([]);
		expectProblem(await api.post("/screenshot-jobs", ok), 401, "UNAUTHORIZED");
	});

	it("answers another tenant's job like a missing one (404) for every route, and changes nothing", async () => {
		const erin = await signUp("erin");
		const mallory = await signUp("mallory");
		const job = await settled(erin, (await submit(erin, { url: `${base}/`, devices: ["iphone-se"] })).id);
		for (const id of [job.id, "not-a-uuid", "00000000-0000-4000-8000-000000000000"]) {
			expectProblem(await api.get(`/screenshot-jobs/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.post(`/screenshot-jobs/${id}/cancel`, {}, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.delete(`/screenshot-jobs/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
		}
		expect((await api.get<{ total: number }>("/screenshot-jobs", { token: mallory.token })).body.total).toBe(0);
		expect(await jobRows(erin.tenantId)).toEqual([{ id: job.id, status: "succeeded" }]);
	}, 60_000);

	it("lists a tenant's jobs newest first, filtered by status and creation time", async () => {
		const fay = await signUp("fay");
		const first = await settled(fay, (await submit(fay, { url: `${base}/`, devices: ["iphone-se"] })).id);
		const second = await settled(fay, (await submit(fay, { url: `${base}/redirect-out`, devices: ["iphone-se"] })).id);
		type Page = { rows: PublicScreenshotJob[]; total: number };
		const all = await api.get<Page>("/screenshot-jobs", { token: fay.token });
		expect(all.body.rows.map((job) => job.id)).toEqual([second.id, first.id]);
		expect(all.body.rows[1].results).toHaveLength(1);
		expect(all.body.rows[1].results[0].url).toBeUndefined();
		expect((await api.get<Page>("/screenshot-jobs?status=failed", { token: fay.token })).body.rows.map((job) => job.id)).toEqual([second.id]);
		expect((await api.get<Page>("/screenshot-jobs?sort=createdAt&pageSize=1", { token: fay.token })).body).toMatchObject({ total: 2, rows: [{ id: first.id }] });
		const after = encodeURIComponent(second.createdAt);
		expect((await api.get<Page>(`/screenshot-jobs?createdFrom=${after}`, { token: fay.token })).body.rows.map((job) => job.id)).toEqual([second.id]);
		expect((await api.get<Page>(`/screenshot-jobs?createdTo=${after}`, { token: fay.token })).body.rows.map((job) => job.id)).toEqual([first.id]);
		expectProblem(await api.get("/screenshot-jobs?createdFrom=yesterday", { token: fay.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.get("/screenshot-jobs?status=done", { token: fay.token }), 400, "VALIDATION_ERROR");
	}, 60_000);

	it("cancels a running job (the worker stops, nothing more is stored), answers a second cancel as it is, and refuses to cancel a finished one", async () => {
		const gus = await signUp("gus");
		const job = await submit(gus, { url: `${base}/slow`, devices: ["iphone-13", "pixel-7"] });
		await waitForStatus(gus, job.id, "running");
		const canceled = await api.post<PublicScreenshotJob>(`/screenshot-jobs/${job.id}/cancel`, {}, { token: gus.token });
		expect(canceled.status).toBe(200);
		expect(canceled.body).toMatchObject({ status: "canceled", results: [] });
		expect((await api.post<PublicScreenshotJob>(`/screenshot-jobs/${job.id}/cancel`, {}, { token: gus.token })).body.status).toBe("canceled");
		await new Promise((resolve) => setTimeout(resolve, 1_000));
		expect((await api.get<PublicScreenshotJob>(`/screenshot-jobs/${job.id}`, { token: gus.token })).body).toMatchObject({ status: "canceled", results: [] });

		const done = await settled(gus, (await submit(gus, { url: `${base}/`, devices: ["iphone-se"] })).id);
		expectProblem(await api.post(`/screenshot-jobs/${done.id}/cancel`, {}, { token: gus.token }), 409, "INVALID_TRANSITION");
	}, 60_000);

	it("deletes a job with its images", async () => {
		const hal = await signUp("hal");
		const job = await settled(hal, (await submit(hal, { url: `${base}/`, devices: ["iphone-se", "pixel-7"] })).id);
		const fileIds = job.results.map((result) => result.fileId);
		expect(await sql(`SELECT id FROM files.files WHERE id = ANY($1)`, [fileIds])).toHaveLength(2);
		expect((await api.delete(`/screenshot-jobs/${job.id}`, { token: hal.token })).status).toBe(204);
		expectProblem(await api.get(`/screenshot-jobs/${job.id}`, { token: hal.token }), 404, "ENTITY_NOT_FOUND");
		expect(await sql(`SELECT id FROM files.files WHERE id = ANY($1)`, [fileIds])).toEqual([]);
		expect(await sql(`SELECT job_id FROM screenshot_jobs.screenshot_results WHERE job_id = $1`, [job.id])).toEqual([]);
	}, 60_000);

	it("refuses a job over the month's images with 403 PLAN_LIMIT_REACHED before queuing anything", async () => {
		const ivy = await signUp("ivy");
		await node.broker.call("tenants.setLimitOverrides", { tenantId: ivy.tenantId, limits: { screenshotsPerMonth: 3 } }, { meta: { $system: true } });
		await settled(ivy, (await submit(ivy, { url: `${base}/`, devices: ["iphone-se", "pixel-7"] })).id);
		const over = await api.post("/screenshot-jobs", { url: `${base}/`, devices: ["iphone-se", "pixel-7"] }, { token: ivy.token });
		expectProblem(over, 403, "PLAN_LIMIT_REACHED");
		expect(over.body).toMatchObject({ limit: "screenshotsPerMonth", maximum: 3, requested: 2 });
		expect(await jobRows(ivy.tenantId)).toHaveLength(1);
		// One image is still within it.
		await submit(ivy, { url: `${base}/`, devices: ["iphone-se"] });
	}, 60_000);
});
