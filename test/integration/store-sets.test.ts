/**
 * Store sets through the gateway on a small cluster over NATS: an in-process node runs the gateway, identity,
 * files, notifications and the screenshots domain's API (screenshot-jobs, devices, store-sets); the screenshot
 * worker (screenshot-renderer, with the real Chromium) is its own OS process, so every image and the ZIP cross
 * NATS as streams on their way to S3 and back. The render channel rides JetStream; PostgreSQL and S3 are the run's.
 * Local servers answer like the App Store lookup API and a Google Play listing page.
 *
 * A set of 3 screens × 2 locales renders framed, captioned images at every App Store and Google Play size, and
 * the ZIP (downloaded, unzipped, each PNG's header read) is laid out as fastlane deliver and supply read it; an
 * app's listing is imported from each store; apps, sets and screens have their CRUD and reorder; mistakes are 4xx
 * and change nothing; another tenant's ids are 404. Every answer is checked against the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { fromBuffer, type Entry, type ZipFile } from "yauzl";
import { baseEnv, spawnNode, startNode, type NodeProcess, type RunningNode } from "../helpers/nodes";
import { sql } from "../helpers/db";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient, type ApiResponse } from "../helpers/api";
import { connectRealtime } from "../helpers/realtime";
import { bandsPng, decodePng, hexRgb, type Rgb } from "../fixtures/png";
import { APP_STORE_APP, GOOGLE_PLAY_APP, HOSTILE_APP, startStoreFixtures, storeImageBytes, type StoreFixtures } from "../fixtures/app-stores";
import { imageSize } from "../../services/screenshots/image-size";
import type { PublicApp, PublicScreenshotJob, PublicStoreScreen, PublicStoreSet, StoreImport } from "../../services/screenshots/contracts";

const testEnv = inject("testEnv");
const PASSWORD = "correct horse battery";
const FINAL = ["succeeded", "failed", "canceled"];

/** Every store size of a default render, with its pixels. */
const SIZES: Record<string, { width: number; height: number }> = {
	"app-store-iphone-6.9": { width: 1320, height: 2868 },
	"app-store-iphone-6.7": { width: 1290, height: 2796 },
	"app-store-iphone-6.5": { width: 1284, height: 2778 },
	"app-store-iphone-5.5": { width: 1242, height: 2208 },
	"app-store-ipad-13": { width: 2064, height: 2752 },
	"app-store-ipad-12.9": { width: 2048, height: 2732 },
	"google-play-phone": { width: 1080, height: 1920 },
	"google-play-tablet-7": { width: 1200, height: 1920 },
	"google-play-tablet-10": { width: 1600, height: 2560 },
	"google-play-feature-graphic": { width: 1024, height: 500 },
};

interface Session {
	token: string;
	tenantId: string;
	userId: string;
}

let node: RunningNode;
let worker: NodeProcess;
let api: ApiClient;
let stores: StoreFixtures;

beforeAll(async () => {
	stores = await startStoreFixtures();
	const cluster = {
		TRANSPORTER: testEnv.natsUrl,
		CACHER: testEnv.redisUrl,
		NAMESPACE: `${testEnv.namespace}-storesets`,
		OUTBOUND_ALLOW_HOSTS: stores.host,
		SCREENSHOT_CONCURRENCY: "2",
		SCREENSHOT_PAGE_TIMEOUT: "60s",
		SCREENSHOT_APP_STORE_LOOKUP_URL: stores.lookupUrl,
		SCREENSHOT_GOOGLE_PLAY_URL: stores.playUrl,
	};
	worker = spawnNode(baseEnv({ ...cluster, SERVICES: "screenshots/screenshot-renderer", NODE_ID: `worker-storesets-${testEnv.runId}`, OPS_PORT: "0" }));
	node = await startNode({
		...cluster,
		SERVICES: "gateway,identity,platform,notifications,files,screenshots/screenshot-jobs,screenshots/devices,screenshots/store-sets",
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
	});
	api = apiClient(node.url);
	try {
		await node.broker.waitForServices(["screenshot-renderer"], 90_000);
	} catch (err) {
		throw new Error(`${(err as Error).message}\n${worker.output().slice(-4000)}`);
	}
}, 150_000);

afterAll(async () => {
	await worker?.stop();
	await node?.stop();
	await stores?.close();
});

async function signUp(label: string): Promise<Session> {
	const response = await api.post<{ accessToken: string; tenant: { id: string }; user: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: PASSWORD, fullName: `${label} Tester`, organization: `${label} Inc` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id, userId: response.body.user.id };
}

async function upload(session: Session, bytes: Buffer, name: string, type = "image/png"): Promise<string> {
	const form = new FormData();
	form.append("file", new Blob([bytes], { type }), name);
	const response = await fetch(`${node.url}/api/v1/files`, { method: "POST", headers: { Authorization: `Bearer ${session.token}`, "X-Forwarded-For": uniqueIp() }, body: form });
	const body = (await response.json()) as { id: string };
	expect(response.status, JSON.stringify(body)).toBe(201);
	return body.id;
}

/** A raw screenshot: a white status bar over one colour. */
function shot(width: number, height: number, rgb: Rgb): Buffer {
	return bandsPng(width, height, [
		{ until: Math.floor(height * 0.06), rgb: [255, 255, 255] },
		{ until: height, rgb },
	]);
}

function expectProblem(response: ApiResponse, status: number, code: string): void {
	expect(response.status, JSON.stringify(response.body)).toBe(status);
	expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
	expect(response.body).toMatchObject({ status, code });
}

async function createApp(session: Session, body: Record<string, unknown> = {}): Promise<PublicApp> {
	const response = await api.post<PublicApp>("/apps", { name: "Runner", platforms: ["ios", "android"], ...body }, { token: session.token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	expect(response.headers.get("location")).toBe(`/api/v1/apps/${response.body.id}`);
	return response.body;
}

async function createSet(session: Session, body: Record<string, unknown>): Promise<PublicStoreSet> {
	const response = await api.post<PublicStoreSet>("/store-sets", body, { token: session.token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	expect(response.headers.get("location")).toBe(`/api/v1/store-sets/${response.body.id}`);
	return response.body;
}

async function settled(session: Session, id: string, timeoutMs = 300_000): Promise<PublicScreenshotJob> {
	const started = Date.now();
	for (;;) {
		const response = await api.get<PublicScreenshotJob>(`/screenshot-jobs/${id}`, { token: session.token });
		expect(response.status).toBe(200);
		if (FINAL.includes(response.body.status)) return response.body;
		if (Date.now() - started > timeoutMs) throw new Error(`Job ${id} still ${response.body.status} (${response.body.progress} %) after ${timeoutMs} ms\n${worker.output().slice(-3000)}`);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

async function download(url: string): Promise<Buffer> {
	const response = await fetch(url);
	expect(response.status).toBe(200);
	return Buffer.from(await response.arrayBuffer());
}

/** Every file of a ZIP: path → bytes. */
async function unzip(bytes: Buffer): Promise<Map<string, Buffer>> {
	const zip = await new Promise<ZipFile>((resolve, reject) => fromBuffer(bytes, { lazyEntries: true }, (err, file) => (err ? reject(err) : resolve(file))));
	const files = new Map<string, Buffer>();
	await new Promise<void>((resolve, reject) => {
		zip.on("error", reject);
		zip.on("end", () => resolve());
		zip.on("entry", (entry: Entry) => {
			zip.openReadStream(entry, (err, stream) => {
				if (err) return reject(err);
				const chunks: Buffer[] = [];
				stream.on("data", (chunk: Buffer) => chunks.push(chunk));
				stream.on("end", () => {
					files.set(entry.fileName, Buffer.concat(chunks));
					zip.readEntry();
				});
				stream.on("error", reject);
			});
		});
		zip.readEntry();
	});
	return files;
}

const near = (a: Rgb, b: Rgb, tolerance = 3) => a.every((value, index) => Math.abs(value - b[index]) <= tolerance);

/** The longest run of pixels of `rgb` along row y. */
function longestRun(png: ReturnType<typeof decodePng>, y: number, rgb: Rgb): number {
	let best = 0;
	let run = 0;
	for (let x = 0; x < png.width; x += 1) {
		run = near(png.pixel(x, y), rgb) ? run + 1 : 0;
		best = Math.max(best, run);
	}
	return best;
}

/** Pixels of `rgb` in rows from..to (every 4th row and column). */
function countIn(png: ReturnType<typeof decodePng>, from: number, to: number, rgb: Rgb): number {
	let count = 0;
	for (let y = from; y < to; y += 4) for (let x = 0; x < png.width; x += 4) if (near(png.pixel(x, y), rgb, 10)) count += 1;
	return count;
}

describe("store sets", () => {
	it("renders 3 screens × 2 locales, framed and captioned, at every App Store and Google Play size, and one ZIP in fastlane's layout", async () => {
		const alice = await signUp("alice");
		const socket = await connectRealtime(node.url, alice.token);
		try {
			const green: Rgb = [42, 157, 143];
			const orange: Rgb = [244, 162, 97];
			const purple: Rgb = [131, 56, 236];
			const tabletGreen: Rgb = [20, 120, 60];
			const icon = await upload(alice, bandsPng(512, 512, [{ until: 512, rgb: [230, 57, 70] }]), "icon.png");
			const phones = [await upload(alice, shot(1170, 2532, green), "one.png"), await upload(alice, shot(1170, 2532, orange), "two.png"), await upload(alice, shot(1170, 2532, purple), "three.png")];
			const tablet = await upload(alice, shot(2048, 2732, tabletGreen), "one-ipad.png");
			const app = await createApp(alice, { name: "Runner", bundleId: "com.example.runner", packageName: "com.example.runner", iconFileId: icon });
			const set = await createSet(alice, {
				appId: app.id,
				name: "Launch",
				locales: ["en-US", "de-de"],
				theme: { backgroundColor: "#1f6feb", captionColor: "#ffffff", frameColor: "#101010", captionPosition: "top", font: "inter" },
				frame: "device",
				screens: [
					{ fileId: phones[0], tabletFileId: tablet, captions: { "en-US": "Track every run", "de-DE": "Jeden Lauf erfassen" } },
					{ fileId: phones[1], captions: { "en-US": "Beat your best", "de-DE": "Übertriff dich selbst" } },
					{ fileId: phones[2], captions: { "en-US": "Run with friends", "de-DE": "Lauf mit Freunden" } },
				],
			});
			expect(set).toMatchObject({
				locales: ["en-US", "de-DE"],
				storeLocales: [
					{ tag: "en-US", appStore: "en-US", googlePlay: "en-US" },
					{ tag: "de-DE", appStore: "de-DE", googlePlay: "de-DE" },
				],
				theme: { backgroundColor: "#1F6FEB", gradient: null, font: "inter" },
			});
			expect(set.screens.map((screen) => [screen.position, screen.fileId])).toEqual([
				[1, phones[0]],
				[2, phones[1]],
				[3, phones[2]],
			]);

			const render = await api.post<PublicScreenshotJob>(`/store-sets/${set.id}/render`, {}, { token: alice.token });
			expect(render.status, JSON.stringify(render.body)).toBe(202);
			expect(render.headers.get("location")).toBe(`/api/v1/screenshot-jobs/${render.body.id}`);
			expect(render.body).toMatchObject({ kind: "store_set", storeSetId: set.id, status: "queued", createdBy: alice.userId, archive: null });
			expect(render.body.targets.map((target) => target.id)).toEqual(Object.keys(SIZES));

			const job = await settled(alice, render.body.id);
			expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
			// 9 screenshot sizes × 2 locales × 3 screens, and a feature graphic per locale.
			expect(job.results).toHaveLength(9 * 2 * 3 + 2);
			// Claimed once: the worker kept its JetStream message alive through the whole render.
			expect(job).toMatchObject({ progress: 100, attempts: 1, error: null });
			for (const result of job.results) expect(result).toMatchObject({ format: "png", ...SIZES[result.target] });
			expect(job.results.filter((result) => result.target === "google-play-feature-graphic").map((result) => [result.locale, result.screen])).toEqual([
				["en-US", null],
				["de-DE", null],
			]);

			// The ZIP: every image at fastlane's path, each PNG its size's exact pixels, RGB without alpha.
			expect(job.archive?.url).toBeDefined();
			const zipped = await unzip(await download(job.archive!.url!));
			expect(zipped.size).toBe(job.results.length);
			expect(job.archive!.bytes).toBeGreaterThan(0);
			const expected = new Map<string, { width: number; height: number }>();
			const deliver: Array<[string, string, string]> = [
				["screenshots", "01_APP_IPHONE_67", "app-store-iphone-6.9"],
				["screenshots-app-store-iphone-6.7", "01_APP_IPHONE_67", "app-store-iphone-6.7"],
				["screenshots", "02_APP_IPHONE_65", "app-store-iphone-6.5"],
				["screenshots", "03_APP_IPHONE_55", "app-store-iphone-5.5"],
				["screenshots", "04_APP_IPAD_PRO_3GEN_129", "app-store-ipad-13"],
				["screenshots", "05_APP_IPAD_PRO_129", "app-store-ipad-12.9"],
			];
			for (const locale of ["en-US", "de-DE"]) {
				for (const [folder, prefix, device] of deliver) for (const n of ["01", "02", "03"]) expected.set(`${folder}/${locale}/${prefix}_${n}.png`, SIZES[device]);
				for (const [folder, device] of [
					["phoneScreenshots", "google-play-phone"],
					["sevenInchScreenshots", "google-play-tablet-7"],
					["tenInchScreenshots", "google-play-tablet-10"],
				]) {
					for (const n of [1, 2, 3]) expected.set(`metadata/android/${locale}/images/${folder}/${n}_${locale}.png`, SIZES[device]);
				}
				expected.set(`metadata/android/${locale}/images/featureGraphic.png`, SIZES["google-play-feature-graphic"]);
			}
			expect([...zipped.keys()].sort()).toEqual([...expected.keys()].sort());
			for (const [path, size] of expected) {
				const bytes = zipped.get(path)!;
				expect(imageSize(bytes), path).toEqual({ format: "png", ...size });
				expect(bytes[25], `${path} is RGB without alpha (the stores refuse transparency)`).toBe(2);
			}
			// Each result says where it is in the ZIP, and its download is the same image.
			const first = job.results.find((result) => result.target === "google-play-phone" && result.locale === "de-DE" && result.screen === 2)!;
			expect(first.path).toBe("metadata/android/de-DE/images/phoneScreenshots/2_de-DE.png");
			expect(await download(first.url!)).toEqual(zipped.get(first.path!));

			// Framed and captioned: the background colour at the edges, a run of the frame's colour across the device,
			// the screen's screenshot inside it, white caption text in the top band, and each locale its own caption.
			const background = hexRgb("#1F6FEB");
			const frame = hexRgb("#101010");
			for (const [device, screen, colour] of [
				["app-store-iphone-6.9", 1, green],
				["app-store-iphone-6.9", 2, orange],
				["app-store-ipad-13", 1, tabletGreen],
				["app-store-ipad-13", 3, purple],
				["google-play-phone", 3, purple],
			] as Array<[string, number, Rgb]>) {
				const result = job.results.find((item) => item.target === device && item.locale === "en-US" && item.screen === screen)!;
				const png = decodePng(zipped.get(result.path!)!);
				const middle = Math.floor(png.height * 0.6);
				expect(near(png.pixel(2, 2), background), `${device} ${screen}: background ${png.pixel(2, 2)}`).toBe(true);
				expect(near(png.pixel(2, middle), background), `${device} ${screen}: background ${png.pixel(2, middle)}`).toBe(true);
				expect(longestRun(png, middle, frame), `${device} ${screen}: the frame's bezel`).toBeGreaterThanOrEqual(Math.floor(png.width * 0.012));
				expect(longestRun(png, middle, colour), `${device} ${screen}: the screenshot inside`).toBeGreaterThan(png.width * 0.3);
				expect(countIn(png, 0, Math.floor(png.height * 0.17), [255, 255, 255]), `${device} ${screen}: the caption`).toBeGreaterThan(50);
				const german = job.results.find((item) => item.target === device && item.locale === "de-DE" && item.screen === screen)!;
				expect(zipped.get(german.path!)!.equals(zipped.get(result.path!)!)).toBe(false);
			}
			const feature = decodePng(zipped.get("metadata/android/en-US/images/featureGraphic.png")!);
			expect(countIn(feature, 0, feature.height, [230, 57, 70]), "the feature graphic shows the icon").toBeGreaterThan(50);
			expect(countIn(feature, 0, feature.height, green), "and the first screen").toBeGreaterThan(50);

			// The owner's socket saw the render progress, up to 100.
			await socket.waitFor((frame) => frame.type === "screenshot.job.progress" && (frame.data as { id: string; status: string }).id === job.id && (frame.data as { status: string }).status === "succeeded");
			const progress = socket.frames.filter((frame) => frame.type === "screenshot.job.progress" && (frame.data as { id: string }).id === job.id).map((frame) => (frame.data as { progress: number }).progress);
			expect(progress.some((value) => value > 0 && value < 100)).toBe(true);

			// Deleting the job deletes every image and the ZIP.
			const fileIds = [...job.results.map((result) => result.fileId), job.archive!.fileId];
			expect(await sql(`SELECT id FROM files.files WHERE id = ANY($1)`, [fileIds])).toHaveLength(fileIds.length);
			expect((await api.delete(`/screenshot-jobs/${job.id}`, { token: alice.token })).status).toBe(204);
			expect(await sql(`SELECT id FROM files.files WHERE id = ANY($1)`, [fileIds])).toEqual([]);
		} finally {
			await socket.close();
		}
	}, 400_000);

	it("renders chosen sizes only, with a gradient, captions at the bottom and no frame", async () => {
		const bob = await signUp("bob");
		const screen = await upload(bob, shot(1170, 2532, [200, 30, 30]), "s.png");
		const app = await createApp(bob);
		const set = await createSet(bob, {
			appId: app.id,
			name: "Bare",
			locales: ["ja"],
			theme: { gradient: { from: "#000000", to: "#ffffff", angle: 180 }, captionPosition: "bottom", font: "lora", captionColor: "#FFD700" },
			frame: "none",
			screens: [{ fileId: screen, captions: { ja: "ランニング" } }],
		});
		expect(set.storeLocales).toEqual([{ tag: "ja", appStore: "ja", googlePlay: "ja-JP" }]);
		const render = await api.post<PublicScreenshotJob>(`/store-sets/${set.id}/render`, { targets: ["google-play-phone", "app-store-iphone-6.5-legacy"] }, { token: bob.token });
		expect(render.status, JSON.stringify(render.body)).toBe(202);
		const job = await settled(bob, render.body.id);
		expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
		expect(job.results.map((result) => [result.target, result.width, result.height, result.path])).toEqual([
			["app-store-iphone-6.5-legacy", 1242, 2688, "screenshots/ja/01_APP_IPHONE_65_01.png"],
			["google-play-phone", 1080, 1920, "metadata/android/ja-JP/images/phoneScreenshots/1_ja-JP.png"],
		]);
		const zipped = await unzip(await download(job.archive!.url!));
		expect([...zipped.keys()].sort()).toEqual(["metadata/android/ja-JP/images/phoneScreenshots/1_ja-JP.png", "screenshots/ja/01_APP_IPHONE_65_01.png"]);
		const png = decodePng(zipped.get("screenshots/ja/01_APP_IPHONE_65_01.png")!);
		// A gradient from black at the top to white at the bottom; the caption (gold) in the bottom band.
		expect(png.pixel(2, 2).every((value) => value < 20)).toBe(true);
		expect(png.pixel(2, png.height - 3).every((value) => value > 235)).toBe(true);
		expect(countIn(png, Math.floor(png.height * 0.83), png.height, [255, 215, 0])).toBeGreaterThan(20);
		expect(countIn(png, 0, Math.floor(png.height * 0.17), [255, 215, 0])).toBe(0);
	}, 120_000);

	it("refuses a render over the month's images with 403 PLAN_LIMIT_REACHED, and one whose files are gone with 422", async () => {
		const carol = await signUp("carol");
		const screen = await upload(carol, shot(1170, 2532, [10, 10, 10]), "s.png");
		const app = await createApp(carol);
		const set = await createSet(carol, { appId: app.id, name: "Quota", locales: ["en-US"], screens: [{ fileId: screen }] });
		await node.broker.call("tenants.setLimitOverrides", { tenantId: carol.tenantId, limits: { screenshotsPerMonth: 5 } }, { meta: { $system: true } });
		const over = await api.post(`/store-sets/${set.id}/render`, {}, { token: carol.token });
		expectProblem(over, 403, "PLAN_LIMIT_REACHED");
		expect(over.body).toMatchObject({ maximum: 5, requested: 10 });
		expect(await sql(`SELECT id FROM screenshot_jobs.screenshot_jobs WHERE tenant_id = $1`, [carol.tenantId])).toEqual([]);
		expectProblem(await api.post(`/store-sets/${set.id}/render`, { targets: ["app-store-iphone-6.9", "app-store-iphone-5.5", "google-play-phone", "google-play-tablet-7", "google-play-tablet-10", "google-play-feature-graphic"] }, { token: carol.token }), 403, "PLAN_LIMIT_REACHED");

		expect((await api.delete(`/files/${screen}`, { token: carol.token })).status).toBe(204);
		const gone = await api.post(`/store-sets/${set.id}/render`, { targets: ["google-play-phone"] }, { token: carol.token });
		expectProblem(gone, 422, "FILE_NOT_FOUND");
		expect(await sql(`SELECT id FROM screenshot_jobs.screenshot_jobs WHERE tenant_id = $1`, [carol.tenantId])).toEqual([]);
	}, 60_000);
});

describe("apps, sets and screens", () => {
	it("keeps apps, sets and screens: add, change, remove and reorder screens; delete an app with its sets", async () => {
		const dave = await signUp("dave");
		const files = await Promise.all([1, 2, 3].map((n) => upload(dave, shot(390, 844, [n * 60, 20, 20]), `${n}.png`)));
		const app = await createApp(dave, { name: "Notes", packageName: "com.example.notes", platforms: ["android"] });
		expect(app).toMatchObject({ name: "Notes", packageName: "com.example.notes", bundleId: null, platforms: ["android"], iconFileId: null });
		const renamed = await api.put<PublicApp>(`/apps/${app.id}`, { name: "Notes Pro", appStoreId: "987654321", iconFileId: files[0] }, { token: dave.token });
		expect(renamed.body).toMatchObject({ name: "Notes Pro", appStoreId: "987654321", iconFileId: files[0], packageName: "com.example.notes" });
		expect((await api.get<{ rows: PublicApp[]; total: number }>("/apps", { token: dave.token })).body).toMatchObject({ total: 1, rows: [{ id: app.id }] });

		const set = await createSet(dave, { appId: app.id, name: "Set", locales: ["en-US", "fr-FR"] });
		expect(set.screens).toEqual([]);
		const added: PublicStoreScreen[] = [];
		for (const [index, fileId] of files.entries()) {
			const response = await api.post<PublicStoreScreen>(`/store-sets/${set.id}/screens`, { fileId, captions: { "en-US": `Screen ${index + 1}` } }, { token: dave.token });
			expect(response.status, JSON.stringify(response.body)).toBe(201);
			expect(response.headers.get("location")).toBe(`/api/v1/store-sets/${set.id}/screens/${response.body.id}`);
			expect(response.body.position).toBe(index + 1);
			added.push(response.body);
		}
		expect((await api.get<PublicStoreScreen>(`/store-sets/${set.id}/screens/${added[1].id}`, { token: dave.token })).body).toMatchObject({ position: 2, fileId: files[1] });
		const changed = await api.put<PublicStoreScreen>(`/store-sets/${set.id}/screens/${added[1].id}`, { captions: { "en-US": "Two", "fr-FR": "Deux" }, tabletFileId: files[2] }, { token: dave.token });
		expect(changed.body).toMatchObject({ captions: { "en-US": "Two", "fr-FR": "Deux" }, tabletFileId: files[2], fileId: files[1] });

		const reordered = await api.post<PublicStoreSet>(`/store-sets/${set.id}/reorder`, { screenIds: [added[2].id, added[0].id, added[1].id] }, { token: dave.token });
		expect(reordered.status).toBe(200);
		expect(reordered.body.screens.map((screen) => [screen.id, screen.position])).toEqual([
			[added[2].id, 1],
			[added[0].id, 2],
			[added[1].id, 3],
		]);
		expect((await api.delete(`/store-sets/${set.id}/screens/${added[2].id}`, { token: dave.token })).status).toBe(204);
		const after = await api.get<PublicStoreSet>(`/store-sets/${set.id}`, { token: dave.token });
		expect(after.body.screens.map((screen) => [screen.id, screen.position])).toEqual([
			[added[0].id, 1],
			[added[1].id, 2],
		]);

		const updated = await api.put<PublicStoreSet>(`/store-sets/${set.id}`, { name: "Renamed", locales: ["en-US", "fr-FR", "zh-Hans"], theme: { gradient: { from: "#112233", to: "#445566" } }, frame: "none" }, { token: dave.token });
		expect(updated.body).toMatchObject({ name: "Renamed", frame: "none", theme: { gradient: { from: "#112233", to: "#445566", angle: 180 }, backgroundColor: "#1F6FEB" } });
		expect(updated.body.storeLocales[2]).toEqual({ tag: "zh-Hans", appStore: "zh-Hans", googlePlay: "zh-CN" });
		const cleared = await api.put<PublicStoreSet>(`/store-sets/${set.id}`, { theme: { gradient: null, backgroundImageFileId: files[0] } }, { token: dave.token });
		expect(cleared.body.theme).toMatchObject({ gradient: null, backgroundImageFileId: files[0] });

		const second = await createSet(dave, { appId: app.id, name: "Second", locales: ["en-US"] });
		expect((await api.get<{ total: number }>(`/store-sets?appId=${app.id}`, { token: dave.token })).body.total).toBe(2);
		expect((await api.delete(`/store-sets/${second.id}`, { token: dave.token })).status).toBe(204);
		expect((await api.delete(`/apps/${app.id}`, { token: dave.token })).status).toBe(204);
		expectProblem(await api.get(`/store-sets/${set.id}`, { token: dave.token }), 404, "ENTITY_NOT_FOUND");
		expect(await sql(`SELECT id FROM store_sets.store_screens WHERE store_set_id = $1`, [set.id])).toEqual([]);
		// The screenshots are the tenant's files: they stay.
		expect(await sql(`SELECT id FROM files.files WHERE id = ANY($1)`, [files])).toHaveLength(3);
	}, 60_000);

	it("works for an API key with the store-sets scopes only: a set, its render and an import", async () => {
		const owner = await signUp("keyed");
		const created = await api.post<{ key: string }>("/api-keys", { name: "store sets", scopes: ["store-sets:read", "store-sets:write"] }, { token: owner.token });
		expect(created.status, JSON.stringify(created.body)).toBe(201);
		const apiKey = created.body.key;
		const file = await upload(owner, shot(390, 844, [0, 128, 255]), "k.png");
		const app = await api.post<PublicApp>("/apps", { name: "Keyed" }, { apiKey });
		expect(app.status, JSON.stringify(app.body)).toBe(201);
		const set = await api.post<PublicStoreSet>("/store-sets", { appId: app.body.id, name: "Keyed", locales: ["en-US"], screens: [{ fileId: file }] }, { apiKey });
		expect(set.status, JSON.stringify(set.body)).toBe(201);
		const render = await api.post<PublicScreenshotJob>(`/store-sets/${set.body.id}/render`, { targets: ["google-play-feature-graphic"] }, { apiKey });
		expect(render.status, JSON.stringify(render.body)).toBe(202);
		const job = await settled(owner, render.body.id, 60_000);
		expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
		expect(job.results.map((result) => result.path)).toEqual(["metadata/android/en-US/images/featureGraphic.png"]);
		const imported = await api.post<StoreImport>(`/apps/${app.body.id}/import`, { store: "google_play", storeId: GOOGLE_PLAY_APP.packageName, country: "us" }, { apiKey });
		expect(imported.status, JSON.stringify(imported.body)).toBe(201);
		expect(imported.body.storeSet.screens).toHaveLength(4);
		// Without the scope, nothing.
		const readOnly = await api.post<{ key: string }>("/api-keys", { name: "read", scopes: ["store-sets:read"] }, { token: owner.token });
		expectProblem(await api.post(`/store-sets/${set.body.id}/render`, {}, { apiKey: readOnly.body.key }), 403, "SCOPE_REQUIRED");
	}, 90_000);

	it("refuses mistakes with 4xx problem+json and changes nothing", async () => {
		const erin = await signUp("erin");
		const other = await signUp("erin-other");
		const mine = await upload(erin, shot(390, 844, [1, 2, 3]), "mine.png");
		const theirs = await upload(other, shot(390, 844, [1, 2, 3]), "theirs.png");
		const text = await upload(erin, Buffer.from("just text\n"), "notes.txt", "text/plain");
		const app = await createApp(erin, { bundleId: "com.example.erin" });
		const theirApp = await createApp(other);
		const ok = { appId: app.id, name: "Set", locales: ["en-US"] };
		const cases: Array<[Record<string, unknown>, number, string]> = [
			[{ ...ok, locales: ["xx-YY"] }, 422, "UNSUPPORTED_LOCALE"],
			[{ ...ok, locales: ["af"] }, 422, "UNSUPPORTED_LOCALE"],
			[{ ...ok, locales: ["en-US", "en-us"] }, 422, "DUPLICATE_LOCALE"],
			[{ ...ok, locales: [] }, 400, "VALIDATION_ERROR"],
			[{ ...ok, locales: ["not a locale"] }, 400, "VALIDATION_ERROR"],
			[{ ...ok, screens: [{ fileId: mine, captions: { "de-DE": "Hallo" } }] }, 422, "UNKNOWN_CAPTION_LOCALE"],
			[{ ...ok, screens: [{ fileId: theirs }] }, 422, "FILE_NOT_FOUND"],
			[{ ...ok, screens: [{ fileId: "00000000-0000-4000-8000-000000000000" }] }, 422, "FILE_NOT_FOUND"],
			[{ ...ok, screens: [{ fileId: text }] }, 422, "FILE_NOT_IMAGE"],
			[{ ...ok, screens: [{ fileId: mine, tabletFileId: theirs }] }, 422, "FILE_NOT_FOUND"],
			[{ ...ok, screens: Array.from({ length: 11 }, () => ({ fileId: mine })) }, 400, "VALIDATION_ERROR"],
			[{ ...ok, theme: { gradient: { from: "#000000", to: "#ffffff" }, backgroundImageFileId: mine } }, 422, "BACKGROUND_CONFLICT"],
			[{ ...ok, theme: { backgroundColor: "blue" } }, 400, "VALIDATION_ERROR"],
			[{ ...ok, theme: { font: "comic-sans" } }, 400, "VALIDATION_ERROR"],
			[{ ...ok, theme: { captionPosition: "middle" } }, 400, "VALIDATION_ERROR"],
			[{ ...ok, theme: { backgroundImageFileId: theirs } }, 422, "FILE_NOT_FOUND"],
			[{ ...ok, frame: "polaroid" }, 400, "VALIDATION_ERROR"],
			[{ ...ok, appId: theirApp.id }, 422, "APP_NOT_FOUND"],
			[{ ...ok, name: "" }, 400, "VALIDATION_ERROR"],
			[{ ...ok, name: null }, 400, "VALIDATION_ERROR"],
		];
		for (const [body, status, code] of cases) expectProblem(await api.post("/store-sets", body, { token: erin.token }), status, code);
		expect(await sql(`SELECT id FROM store_sets.store_sets WHERE tenant_id = $1`, [erin.tenantId])).toEqual([]);

		expectProblem(await api.post("/apps", { name: "Dup", bundleId: "com.example.erin" }, { token: erin.token }), 409, "ALREADY_EXISTS");
		expectProblem(await api.post("/apps", { name: "Bad", bundleId: "not a bundle" }, { token: erin.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/apps", { name: "Bad", platforms: ["windows"] }, { token: erin.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post("/apps", { name: "Bad", iconFileId: text }, { token: erin.token }), 422, "FILE_NOT_IMAGE");
		expect(await sql(`SELECT name FROM store_sets.apps WHERE tenant_id = $1`, [erin.tenantId])).toEqual([{ name: "Runner" }]);

		const set = await createSet(erin, { ...ok, screens: [{ fileId: mine }] });
		const empty = await createSet(erin, { ...ok, name: "Empty" });
		expectProblem(await api.post(`/store-sets/${empty.id}/render`, {}, { token: erin.token }), 422, "NO_SCREENS");
		expectProblem(await api.post(`/store-sets/${set.id}/render`, { targets: ["iphone-13"] }, { token: erin.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post(`/store-sets/${set.id}/render`, { targets: [] }, { token: erin.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post(`/store-sets/${set.id}/reorder`, { screenIds: [set.screens[0].id, "00000000-0000-4000-8000-000000000000"] }, { token: erin.token }), 422, "SCREEN_ORDER_MISMATCH");
		expectProblem(await api.put(`/store-sets/${set.id}`, { theme: { gradient: { from: "#000000", to: "#111111" }, backgroundImageFileId: mine } }, { token: erin.token }), 422, "BACKGROUND_CONFLICT");
		expectProblem(await api.put(`/store-sets/${set.id}/screens/${set.screens[0].id}`, { captions: { "fr-FR": "Non" } }, { token: erin.token }), 422, "UNKNOWN_CAPTION_LOCALE");
		expectProblem(await api.get(`/store-sets/${set.id}/screens/00000000-0000-4000-8000-000000000000`, { token: erin.token }), 404, "ENTITY_NOT_FOUND");
		for (let n = 1; n < 10; n += 1) expect((await api.post(`/store-sets/${set.id}/screens`, { fileId: mine }, { token: erin.token })).status).toBe(201);
		expectProblem(await api.post(`/store-sets/${set.id}/screens`, { fileId: mine }, { token: erin.token }), 422, "TOO_MANY_SCREENS");
		expect((await api.get<PublicStoreSet>(`/store-sets/${set.id}`, { token: erin.token })).body.screens).toHaveLength(10);
		expect(await sql(`SELECT id FROM screenshot_jobs.screenshot_jobs WHERE tenant_id = $1`, [erin.tenantId])).toEqual([]);
		expectProblem(await api.post("/store-sets", ok), 401, "UNAUTHORIZED");
	}, 60_000);

	it("answers another tenant's apps, sets and screens like missing ones (404) on every route, and changes nothing", async () => {
		const fay = await signUp("fay");
		const mallory = await signUp("mallory");
		const file = await upload(fay, shot(390, 844, [9, 9, 9]), "f.png");
		const app = await createApp(fay);
		const set = await createSet(fay, { appId: app.id, name: "Mine", locales: ["en-US"], screens: [{ fileId: file }] });
		const screen = set.screens[0].id;
		for (const id of [app.id, "not-a-uuid", "00000000-0000-4000-8000-000000000000"]) {
			expectProblem(await api.get(`/apps/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.put(`/apps/${id}`, { name: "Stolen" }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.delete(`/apps/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.post(`/apps/${id}/import`, { store: "app_store", storeId: String(APP_STORE_APP.trackId), country: "us" }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
		}
		for (const id of [set.id, "not-a-uuid", "00000000-0000-4000-8000-000000000000"]) {
			expectProblem(await api.get(`/store-sets/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.put(`/store-sets/${id}`, { name: "Stolen" }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.delete(`/store-sets/${id}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.post(`/store-sets/${id}/render`, {}, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.post(`/store-sets/${id}/screens`, { fileId: file }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.get(`/store-sets/${id}/screens/${screen}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.put(`/store-sets/${id}/screens/${screen}`, { captions: {} }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.delete(`/store-sets/${id}/screens/${screen}`, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
			expectProblem(await api.post(`/store-sets/${id}/reorder`, { screenIds: [screen] }, { token: mallory.token }), 404, "ENTITY_NOT_FOUND");
		}
		// Their own set can't take another tenant's app either.
		expectProblem(await api.post("/store-sets", { appId: app.id, name: "Mine now", locales: ["en-US"] }, { token: mallory.token }), 422, "APP_NOT_FOUND");
		expect((await api.get<{ total: number }>("/apps", { token: mallory.token })).body.total).toBe(0);
		expect((await api.get<{ total: number }>("/store-sets", { token: mallory.token })).body.total).toBe(0);
		const unchanged = await api.get<PublicStoreSet>(`/store-sets/${set.id}`, { token: fay.token });
		expect(unchanged.body).toMatchObject({ name: "Mine", screens: [{ id: screen, fileId: file }] });
		expect((await api.get<PublicApp>(`/apps/${app.id}`, { token: fay.token })).body.name).toBe("Runner");
	}, 60_000);
});

describe("store import", () => {
	it("imports an App Store listing from the lookup API: name, ids, icon, iPhone and iPad screenshots as files, and a new store set of them", async () => {
		const gus = await signUp("gus");
		const app = await createApp(gus, { name: "Placeholder", platforms: [] });
		const response = await api.post<StoreImport>(`/apps/${app.id}/import`, { store: "app_store", storeId: String(APP_STORE_APP.trackId), country: "US" }, { token: gus.token });
		expect(response.status, JSON.stringify(response.body)).toBe(201);
		const imported = response.body;
		expect(response.headers.get("location")).toBe(`/api/v1/store-sets/${imported.storeSet.id}`);
		expect(imported.app).toMatchObject({ id: app.id, name: APP_STORE_APP.name, bundleId: APP_STORE_APP.bundleId, appStoreId: String(APP_STORE_APP.trackId), platforms: ["ios"] });
		expect(imported.source).toMatchObject({ store: "app_store", id: String(APP_STORE_APP.trackId), country: "us" });
		expect(stores.requests).toContain(`/lookup?id=${APP_STORE_APP.trackId}&country=us&entity=software`);
		expect(imported.screenshots.map((item) => item.device)).toEqual(["iphone", "iphone", "iphone", "ipad", "ipad"]);
		expect(imported.storeSet).toMatchObject({ appId: app.id, locales: ["en-US"], frame: "device" });
		const iphones = imported.screenshots.filter((item) => item.device === "iphone").map((item) => item.fileId);
		const ipads = imported.screenshots.filter((item) => item.device === "ipad").map((item) => item.fileId);
		expect(imported.storeSet.screens.map((screen) => [screen.position, screen.fileId, screen.tabletFileId])).toEqual([
			[1, iphones[0], ipads[0]],
			[2, iphones[1], ipads[1]],
			[3, iphones[2], null],
		]);
		// The files are the tenant's, with the store's bytes.
		const rows = await sql<{ id: string; tenant_id: string; content_type: string; size: string }>(`SELECT id, tenant_id, content_type, size FROM files.files WHERE id = ANY($1)`, [[imported.app.iconFileId!, ...iphones, ...ipads]]);
		expect(rows).toHaveLength(6);
		for (const row of rows) expect(row).toMatchObject({ tenant_id: gus.tenantId, content_type: "image/png" });
		const icon = rows.find((row) => row.id === imported.app.iconFileId)!;
		expect(Number(icon.size)).toBe(storeImageBytes("ios-icon").length);
		expect((await api.get<{ rows: PublicStoreSet[] }>(`/store-sets?appId=${app.id}`, { token: gus.token })).body.rows.map((set) => set.id)).toEqual([imported.storeSet.id]);

		// By bundle id as well; the app keeps one bundle id, so importing it into a second app of the tenant is 409.
		const other = await createApp(gus, { name: "Other" });
		const before = (await sql(`SELECT id FROM files.files WHERE tenant_id = $1`, [gus.tenantId])).length;
		expectProblem(await api.post(`/apps/${other.id}/import`, { store: "app_store", storeId: APP_STORE_APP.bundleId, country: "us" }, { token: gus.token }), 409, "ALREADY_EXISTS");
		// Nothing of the failed import stays.
		expect(await sql(`SELECT id FROM files.files WHERE tenant_id = $1`, [gus.tenantId])).toHaveLength(before);
		expect((await api.get<{ total: number }>(`/store-sets?appId=${other.id}`, { token: gus.token })).body.total).toBe(0);
	}, 60_000);

	it("imports a Google Play listing from its page: the name, icon and screenshots (largest srcset) it shows", async () => {
		const hal = await signUp("hal");
		const app = await createApp(hal, { name: "Notes" });
		const response = await api.post<StoreImport>(`/apps/${app.id}/import`, { store: "google_play", storeId: GOOGLE_PLAY_APP.packageName, country: "de", locale: "de-DE" }, { token: hal.token });
		expect(response.status, JSON.stringify(response.body)).toBe(201);
		const imported = response.body;
		expect(imported.app).toMatchObject({ name: GOOGLE_PLAY_APP.name, packageName: GOOGLE_PLAY_APP.packageName, platforms: ["ios", "android"] });
		expect(stores.requests).toContain(`/store/apps/details?id=${GOOGLE_PLAY_APP.packageName}&hl=de&gl=de`);
		expect(imported.screenshots.map((item) => [item.device, new URL(item.url).pathname])).toEqual([1, 2, 3, 4].map((n) => ["phone", `/images/play-phone-${n}.png`]));
		expect(imported.storeSet).toMatchObject({ locales: ["de-DE"], name: `${GOOGLE_PLAY_APP.name} (Google Play DE)` });
		expect(imported.storeSet.screens).toHaveLength(4);
		const [icon] = await sql<{ size: string }>(`SELECT size FROM files.files WHERE id = $1`, [imported.app.iconFileId]);
		expect(Number(icon.size)).toBe(storeImageBytes("play-icon").length);
	}, 60_000);

	it("answers a listing the store doesn't have with 422, a screenshot on a host the guard refuses with 503, and stores nothing", async () => {
		const ivy = await signUp("ivy");
		const app = await createApp(ivy, { name: "Nothing" });
		expectProblem(await api.post(`/apps/${app.id}/import`, { store: "app_store", storeId: "42", country: "us" }, { token: ivy.token }), 422, "STORE_APP_NOT_FOUND");
		expectProblem(await api.post(`/apps/${app.id}/import`, { store: "google_play", storeId: "com.example.missing", country: "us" }, { token: ivy.token }), 422, "STORE_APP_NOT_FOUND");
		expectProblem(await api.post(`/apps/${app.id}/import`, { store: "itunes", storeId: "1", country: "us" }, { token: ivy.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post(`/apps/${app.id}/import`, { store: "app_store", storeId: "1", country: "usa" }, { token: ivy.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post(`/apps/${app.id}/import`, { store: "app_store", storeId: "../etc", country: "us" }, { token: ivy.token }), 400, "VALIDATION_ERROR");
		expectProblem(await api.post(`/apps/${app.id}/import`, { store: "app_store", storeId: "1", country: "us", locale: "xx-YY" }, { token: ivy.token }), 422, "UNSUPPORTED_LOCALE");
		const hostile = await api.post(`/apps/${app.id}/import`, { store: "app_store", storeId: String(HOSTILE_APP.trackId), country: "us" }, { token: ivy.token });
		expectProblem(hostile, 503, "STORE_UNAVAILABLE");
		expect(String(hostile.body.detail ?? hostile.body.message ?? hostile.body.title)).toMatch(/loopback|refused|not allowed/i);
		expect(stores.forbiddenHits()).toBe(0);
		expect(await sql(`SELECT id FROM files.files WHERE tenant_id = $1`, [ivy.tenantId])).toEqual([]);
		expect(await sql(`SELECT id FROM store_sets.store_sets WHERE tenant_id = $1`, [ivy.tenantId])).toEqual([]);
		expect((await api.get<PublicApp>(`/apps/${app.id}`, { token: ivy.token })).body).toMatchObject({ name: "Nothing", bundleId: null });
	}, 60_000);
});
