/**
 * The screenshot worker: consumes SCREENSHOT_CHANNELS.render (group "screenshot-renderer", at most
 * SCREENSHOT_CONCURRENCY jobs in flight per node), renders each job's targets in this node's browser pool
 * (lib/browser-pool.ts), stores every image through files (files.store, into S3 with SCREENSHOT_CACHE_CONTROL)
 * and reports to screenshot-jobs. It keeps no data of its own: nodes of the `screenshots` role run it alone, with
 * Chromium, and reach the jobs and files over the broker.
 *
 * At least once, finished once: a worker killed mid-job leaves its message unacknowledged, and another takes it
 * (JetStream after its ack wait, the PostgreSQL adapter after its lease). The claim hands that worker the targets
 * already stored; each image's file id derives from (job, target), so storing it again keeps one file; and the
 * job's final transition is guarded, so only one worker finishes it.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { BrowserPool, PageFailedError } from "../../lib/browser-pool";
import { systemCall } from "../../lib/caller";
import { isFinalRefusal } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import { OutboundClient } from "../../lib/outbound/client";
import type { ScreenshotsConfig } from "../../lib/config";
import type { ScreenshotTarget } from "../../models/screenshots/screenshot-jobs/screenshot-job.model";
import type { PublicFile, StoreParams } from "../files/contracts";
import { SCREENSHOT_CHANNELS, SCREENSHOT_JOB_EVENTS, type ScreenshotJobEvent, type ScreenshotRenderMessage } from "./contracts";
import { CaptureError, captureTarget, type Captured } from "./capture";
import { MAX_ATTEMPTS } from "./job-lifecycle";
import type { FinishParams, JobState, RecordResultParams, RenderSpec } from "./screenshot-jobs.types";

/** While a job renders, its message is reported in progress this often (JetStream's ack wait is 10 s). */
const KEEP_ALIVE_MS = 3_000;
const EXTENSIONS = { png: "png", jpeg: "jpg", webp: "webp" } as const;
const MIME = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" } as const;

/** The job stopped being ours (canceled or deleted): what is in flight is dropped, and the message acknowledged. */
class JobWithdrawn extends Error {
	constructor(readonly status: string) {
		super(`The job is ${status}`);
	}
}

interface RendererMethods {
	renderJob(message: ScreenshotRenderMessage, raw: unknown): Promise<void>;
	renderTarget(spec: RenderSpec, target: ScreenshotTarget, controller: AbortController): Promise<void>;
	storeImage(spec: RenderSpec, target: ScreenshotTarget, image: Captured): Promise<PublicFile>;
	finish(params: FinishParams): Promise<void>;
	screenshotSettings(): ScreenshotsConfig;
}

interface RendererLocals {
	pool: BrowserPool;
	/** Jobs rendering on this node, so a cancel or delete stops them at once. */
	inFlight: Map<string, AbortController>;
}

/** A UUID (version 5 form) from the job and the target: the same image always gets the same file id. */
export function resultFileId(jobId: string, targetId: string): string {
	const hex = createHash("sha256").update(`screenshot-result:${jobId}:${targetId}`).digest("hex");
	const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
	return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** What the job's error says about a failure that is the page's or the job's, not the platform's. */
function finalFailure(err: unknown): FinishParams["error"] | undefined {
	if (err instanceof PageFailedError && !err.retryable) return { code: err.code, message: err.message };
	if (err instanceof CaptureError) return { code: err.code, message: err.message };
	// files refused the image (quota, size): another attempt would be refused the same way.
	if (isFinalRefusal(err)) return { code: "STORAGE_REFUSED", message: (err as Error).message };
	return undefined;
}

const ScreenshotRendererService: ServiceSchema<ServiceSettingSchema, RendererMethods, RendererLocals> = {
	name: "screenshot-renderer",

	/** The channel's in-flight limit is the node's page concurrency, which only the configuration knows. */
	merged(this: Service, schema: ServiceSchema) {
		const channels = schema.channels as unknown as Record<string, Record<string, unknown>>;
		// A copy: the schema's objects are this module's, shared by every broker of the process (tests start several).
		channels[SCREENSHOT_CHANNELS.render] = { ...channels[SCREENSHOT_CHANNELS.render], maxInFlight: platformConfigOf(this.broker).screenshots.concurrency };
	},

	channels: {
		[SCREENSHOT_CHANNELS.render]: {
			group: "screenshot-renderer",
			// The job row counts attempts (MAX_ATTEMPTS) and fails the job past them; the channel only has to keep trying.
			maxRetries: MAX_ATTEMPTS * 2,
			async handler(message: ScreenshotRenderMessage, raw: unknown) {
				await this.renderJob(message, raw);
			},
		},
	},

	events: {
		[SCREENSHOT_JOB_EVENTS.canceled]: {
			handler(ctx: Context<ScreenshotJobEvent>) {
				this.inFlight.get(ctx.params.screenshotjob.id)?.abort(new JobWithdrawn("canceled"));
			},
		},
		[SCREENSHOT_JOB_EVENTS.deleted]: {
			handler(ctx: Context<ScreenshotJobEvent>) {
				this.inFlight.get(ctx.params.screenshotjob.id)?.abort(new JobWithdrawn("deleted"));
			},
		},
	},

	methods: {
		screenshotSettings() {
			return platformConfigOf(this.broker).screenshots;
		},

		async renderJob(message: ScreenshotRenderMessage, raw: unknown) {
			const spec = await this.broker.call<RenderSpec | null, { id: string }>("screenshot-jobs.claim", { id: message.screenshotjobId }, systemCall());
			if (!spec) return;
			// JetStream redelivers a message not acknowledged within its ack wait: say it is being worked on.
			const working = (raw as { working?: () => void } | undefined)?.working;
			const keepAlive = working ? setInterval(() => working.call(raw), KEEP_ALIVE_MS) : undefined;
			const controller = new AbortController();
			this.inFlight.set(spec.id, controller);
			try {
				const todo = spec.targets.filter((target) => !spec.done.includes(target.id));
				const outcomes = await Promise.allSettled(todo.map((target) => this.renderTarget(spec, target, controller)));
				const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
				if (!failed && !controller.signal.aborted) return await this.finish({ id: spec.id });
				// The first failure aborted the others: it is what happened, whatever they threw after it.
				const cause: unknown = controller.signal.aborted ? controller.signal.reason : failed!.reason;
				if (cause instanceof JobWithdrawn) return;
				const error = finalFailure(cause);
				if (error) return await this.finish({ id: spec.id, error });
				// The platform failed (browser, storage, a node, this worker stopping): the message comes back, unless
				// this was the last try.
				if (spec.attempt >= MAX_ATTEMPTS) return await this.finish({ id: spec.id, error: { code: "RENDER_FAILED", message: String((cause as Error)?.message ?? cause) } });
				throw cause;
			} finally {
				clearInterval(keepAlive);
				this.inFlight.delete(spec.id);
			}
		},

		async renderTarget(spec: RenderSpec, target: ScreenshotTarget, controller: AbortController) {
			const { pageTimeoutMs, pageMaxBytes } = this.screenshotSettings();
			try {
				const image = await captureTarget(this.pool, spec, target, { timeoutMs: pageTimeoutMs, maxBytes: pageMaxBytes, signal: controller.signal });
				if (controller.signal.aborted) throw controller.signal.reason;
				const file = await this.storeImage(spec, target, image);
				const result: RecordResultParams = { id: spec.id, target: target.id, fileId: file.id, format: image.format, width: image.width, height: image.height, bytes: file.size, blockedRequests: image.blockedRequests };
				const state = await this.broker.call<JobState, RecordResultParams>("screenshot-jobs.recordResult", result, systemCall());
				if (state.status === "deleted") {
					// The job went while this image was stored: nobody will list it, so it goes too.
					await this.broker.call("files.deleteFile", { id: file.id }, systemCall()).catch(() => undefined);
				}
				if (state.status !== "running") throw new JobWithdrawn(state.status);
			} catch (err) {
				// One target failing ends the job: the others stop rather than render for nothing.
				if (!controller.signal.aborted) controller.abort(err);
				throw err;
			}
		},

		storeImage(spec: RenderSpec, target: ScreenshotTarget, image: Captured) {
			const params: StoreParams = {
				name: `screenshot-${target.id}.${EXTENSIONS[image.format]}`,
				contentType: MIME[image.format],
				tenantId: spec.tenantId,
				id: resultFileId(spec.id, target.id),
				cacheControl: this.screenshotSettings().cacheControl,
			};
			return this.broker.call<PublicFile, StoreParams>("files.store", params, { ...systemCall(), stream: Readable.from([image.bytes]) });
		},

		async finish(params: FinishParams) {
			await this.broker.call("screenshot-jobs.finish", params, systemCall());
		},
	},

	created() {
		const config = platformConfigOf(this.broker);
		this.inFlight = new Map();
		this.pool = new BrowserPool({
			executablePath: config.screenshots.chromiumPath,
			concurrency: config.screenshots.concurrency,
			pagesPerContext: config.screenshots.pagesPerContext,
			outbound: new OutboundClient({ allowHosts: config.outbound.allowHosts }),
			logger: this.logger,
		});
	},

	async stopped() {
		for (const controller of this.inFlight.values()) controller.abort(new PageFailedError("BROWSER_CRASHED", "The worker is stopping", true));
		await this.pool.stop();
	},
};

export default ScreenshotRendererService;
