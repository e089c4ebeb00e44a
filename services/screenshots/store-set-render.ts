/**
 * The worker's half of a store set job (kind `store_set`), run by screenshot-renderer.service.ts in its browser
 * pool: every (size, locale, screen) composed as HTML (store-compose.ts) and captured at the size's exact pixels,
 * each PNG's header checked against the size before it is stored, then the ZIP in fastlane's layout
 * (store-archive.ts) built from the stored images, each checked again, and recorded on the job. Only then may the
 * job succeed.
 *
 * Reruns (a worker killed mid-job) skip the images an earlier attempt stored; every file id derives from the job
 * and the image's key (or "archive"), so storing one again keeps one file.
 */
import { Readable } from "node:stream";
import type { BrowserPool } from "../../lib/browser-pool";
import type { PublicFile, StoreParams } from "../files/contracts";
import { CaptureError } from "./capture";
import { deviceById } from "./devices";
import { imageSize } from "./image-size";
import type { RecordArchiveParams, RecordResultParams, RenderSpec } from "./screenshot-jobs.types";
import { buildArchive } from "./store-archive";
import { composeBanner, composeScreen, type InlineImage } from "./store-compose";
import { planStoreSetJob, type StoreSetSnapshot } from "./store-set-job";
import { STORE_SET_TARGETS, type StoreSetItem } from "./store-set-plan";

/** What the renderer service lends this module: its pool, its calls to files and to the jobs. */
export interface StoreSetHost {
	pool: BrowserPool;
	timeoutMs: number;
	maxBytes: number;
	/** The job's file id of an image (by key) or of the archive. */
	fileIdOf(jobId: string, key: string): string;
	/** files.getFile as the platform; undefined when there is no such file. */
	getFile(id: string): Promise<PublicFile | undefined>;
	/** files.openStream as the platform, read whole. */
	readFile(id: string): Promise<Buffer>;
	storeFile(params: StoreParams, stream: Readable): Promise<PublicFile>;
	removeFile(id: string): Promise<void>;
	/** screenshot-jobs.recordResult; throws (the job withdrawn) unless it is still running. */
	recordImage(result: RecordResultParams, fileId: string): Promise<void>;
	recordArchive(params: RecordArchiveParams): Promise<void>;
}

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/webp"]);

/** Renders what is left of the job and its ZIP; answers the first failure (the others were aborted by it), or nothing. */
export async function renderStoreSet(host: StoreSetHost, spec: RenderSpec, controller: AbortController): Promise<PromiseRejectedResult | undefined> {
	const snapshot = spec.storeSet!;
	const plan = planStoreSetJob(snapshot);
	try {
		const sources = await loadSources(host, spec.tenantId, snapshot);
		const todo = plan.items.filter((item) => !spec.done.includes(item.key));
		const outcomes = await Promise.allSettled(
			todo.map(async (item) => {
				try {
					await renderItem(host, spec, item, sources, controller);
				} catch (err) {
					// One image failing ends the job: the others stop rather than render for nothing.
					if (!controller.signal.aborted) controller.abort(err);
					throw err;
				}
			}),
		);
		const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
		if (failed || controller.signal.aborted) return failed ?? { status: "rejected", reason: controller.signal.reason };
		await archive(host, spec, plan.items, plan.paths);
		return undefined;
	} catch (err) {
		return { status: "rejected", reason: err };
	}
}

/** Every file the set's images show, inlined once per job. A file gone, another tenant's or not an image fails the job. */
async function loadSources(host: StoreSetHost, tenantId: string, snapshot: StoreSetSnapshot): Promise<Map<string, InlineImage>> {
	const wanted = new Map<string, string>();
	snapshot.screens.forEach((screen, index) => {
		wanted.set(screen.fileId, `screen ${index + 1}'s screenshot`);
		if (screen.tabletFileId && snapshot.targets.some((device) => STORE_SET_TARGETS[device].form === "tablet")) wanted.set(screen.tabletFileId, `screen ${index + 1}'s tablet screenshot`);
	});
	if (snapshot.iconFileId && snapshot.targets.some((device) => STORE_SET_TARGETS[device].form === "banner")) wanted.set(snapshot.iconFileId, "the app's icon");
	if (snapshot.theme.backgroundImageFileId) wanted.set(snapshot.theme.backgroundImageFileId, "the background image");
	const sources = new Map<string, InlineImage>();
	for (const [fileId, what] of wanted) {
		const file = await host.getFile(fileId);
		if (!file || file.tenantId !== tenantId || file.status !== "ready") throw new CaptureError("SOURCE_MISSING", `The file of ${what} (${fileId}) is no longer there`);
		if (!IMAGE_TYPES.has(file.contentType)) throw new CaptureError("SOURCE_NOT_IMAGE", `The file of ${what} is ${file.contentType}, not a PNG, JPEG or WebP image`);
		const bytes = await host.readFile(fileId);
		let size;
		try {
			size = imageSize(bytes);
		} catch (err) {
			throw new CaptureError("SOURCE_NOT_IMAGE", `The file of ${what} can't be read as an image: ${(err as Error).message}`);
		}
		sources.set(fileId, { dataUrl: `data:${file.contentType};base64,${bytes.toString("base64")}`, width: size.width, height: size.height });
	}
	return sources;
}

async function renderItem(host: StoreSetHost, spec: RenderSpec, item: StoreSetItem, sources: Map<string, InlineImage>, controller: AbortController): Promise<void> {
	const snapshot = spec.storeSet!;
	const device = deviceById(item.device)!;
	const target = STORE_SET_TARGETS[item.device];
	// The feature graphic shows the first screen and its caption.
	const screen = snapshot.screens[(item.screen ?? 1) - 1];
	const shotId = target.form === "tablet" && screen.tabletFileId ? screen.tabletFileId : screen.fileId;
	const locale = snapshot.locales.find((entry) => entry.tag === item.locale)!;
	const input = {
		viewport: device.viewport,
		target,
		theme: snapshot.theme,
		frame: snapshot.frame,
		locale: locale.tag,
		caption: screen.captions[item.locale] ?? "",
		screenshot: sources.get(shotId)!,
		backgroundImage: snapshot.theme.backgroundImageFileId ? sources.get(snapshot.theme.backgroundImageFileId) : undefined,
		appName: snapshot.appName,
		icon: snapshot.iconFileId ? sources.get(snapshot.iconFileId) : undefined,
	};
	const png = await host.pool.withPage(
		{
			isolationKey: `${spec.tenantId}|store-set|${device.id}`,
			// Not isMobile: a phone's viewport would lay the document out at 980 CSS pixels and zoom it out.
			context: { viewport: device.viewport, deviceScaleFactor: device.deviceScaleFactor, isMobile: false, hasTouch: false },
			timeoutMs: host.timeoutMs,
			maxBytes: host.maxBytes,
			signal: controller.signal,
		},
		async (page) => {
			await page.setContent(target.form === "banner" ? composeBanner(input) : composeScreen(input), { waitUntil: "load", timeout: host.timeoutMs });
			await page.evaluate("document.fonts.ready.then(() => undefined)");
			return page.screenshot({ type: "png", animations: "disabled", timeout: host.timeoutMs });
		},
	);
	if (controller.signal.aborted) throw controller.signal.reason;
	checkSize(png, item.device, item.key);
	const fileId = host.fileIdOf(spec.id, item.key);
	const file = await host.storeFile(
		{ name: `${item.locale}-${item.device}-${item.screen ?? "feature-graphic"}.png`, contentType: "image/png", tenantId: spec.tenantId, id: fileId },
		Readable.from([png]),
	);
	const { width, height } = device.screenshot;
	await host.recordImage(
		{ id: spec.id, target: item.key, fileId: file.id, format: "png", width, height, bytes: file.size, blockedRequests: 0, device: item.device, locale: item.locale, screen: item.screen },
		file.id,
	);
}

/** A PNG of exactly the size's pixels, or the job fails: a store refuses any other size. */
function checkSize(bytes: Buffer, deviceId: string, key: string): void {
	const wanted = deviceById(deviceId)!.screenshot;
	let size;
	try {
		size = imageSize(bytes);
	} catch (err) {
		throw new CaptureError("SIZE_MISMATCH", `The image ${key} is not a readable PNG: ${(err as Error).message}`);
	}
	if (size.format !== "png" || size.width !== wanted.width || size.height !== wanted.height) {
		throw new CaptureError("SIZE_MISMATCH", `The image ${key} is a ${size.width} × ${size.height} ${size.format}, not the ${wanted.width} × ${wanted.height} PNG its store requires`);
	}
}

/** The ZIP of every image (stored by this attempt or an earlier one), each read back and checked again. */
async function archive(host: StoreSetHost, spec: RenderSpec, items: StoreSetItem[], paths: Map<string, string>): Promise<void> {
	const snapshot = spec.storeSet!;
	const archiveId = host.fileIdOf(spec.id, "archive");
	let file = await host.getFile(archiveId);
	if (!file) {
		const mismatches: string[] = [];
		const entries = items.map((item) => ({
			path: paths.get(item.key)!,
			read: async () => {
				const bytes = await host.readFile(host.fileIdOf(spec.id, item.key));
				try {
					checkSize(bytes, item.device, item.key);
				} catch (err) {
					// The ZIP is finished anyway (a stream broken halfway may not reach files whole); it is thrown away below.
					mismatches.push((err as Error).message);
				}
				return bytes;
			},
		}));
		const slug = snapshot.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "store-set";
		file = await host.storeFile({ name: `${slug}-fastlane.zip`, contentType: "application/zip", tenantId: spec.tenantId, id: archiveId }, buildArchive(entries));
		if (mismatches.length > 0) {
			await host.removeFile(file.id);
			throw new CaptureError("SIZE_MISMATCH", mismatches[0]);
		}
	}
	await host.recordArchive({ id: spec.id, fileId: file.id, bytes: file.size });
}
