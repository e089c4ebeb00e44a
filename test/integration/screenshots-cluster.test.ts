/**
 * Screenshot jobs on a real cluster over NATS (the render channel on JetStream): the gateway, a core node
 * (identity, files, notifications), the jobs' API node and the screenshots worker, each its own OS process, with
 * the run's PostgreSQL, S3 and the real Chromium.
 *
 * The worker is killed (SIGKILL) in the middle of a job, after it stored one image and while it renders the
 * others; a second worker started afterwards takes the job over from JetStream, renders only what is missing,
 * and the job succeeds exactly once: one image per device, one file each, one notification. The owner's socket
 * sees the progress throughout.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";
import { apiClient, uniqueEmail, type ApiClient } from "../helpers/api";
import { connectRealtime } from "../helpers/realtime";
import { sql } from "../helpers/db";
import { imageSize } from "../../services/screenshots/image-size";
import type { PublicScreenshotJob } from "../../services/screenshots/contracts";

const testEnv = inject("testEnv");
const processes: NodeProcess[] = [];
let api: ApiClient;
let gatewayUrl: string;
let site: http.Server;
let clusterEnv: Record<string, string>;
/** While true, the page answers Android devices only after the test lets it (the first worker is killed meanwhile). */
let holdAndroid = true;
const requests: Array<{ ua: string; at: number }> = [];

const PAGE = `<!doctype html><meta name="viewport" content="width=device-width"><title>cluster</title><h1>Rendered on a cluster</h1>`;

beforeAll(async () => {
	site = await new Promise<http.Server>((resolve) => {
		const server = http.createServer((req, res) => {
			const ua = String(req.headers["user-agent"] ?? "");
			requests.push({ ua, at: Date.now() });
			const answer = () => res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
			if (!ua.includes("Android") || !holdAndroid) return answer();
			const timer = setInterval(() => {
				if (holdAndroid && !res.destroyed) return;
				clearInterval(timer);
				if (!res.destroyed) answer();
			}, 50);
		});
		server.listen(0, "127.0.0.1", () => resolve(server));
	});
	const [port, coreOps, jobsOps, workerOps] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
	clusterEnv = {
		TRANSPORTER: testEnv.natsUrl,
		CACHER: testEnv.redisUrl,
		NAMESPACE: `${testEnv.namespace}-shots`,
		RATE_LIMIT_MAX: "100000",
		OUTBOUND_ALLOW_HOSTS: `127.0.0.1:${(site.address() as AddressInfo).port}`,
		SCREENSHOT_CONCURRENCY: "2",
		SCREENSHOT_PAGE_TIMEOUT: "30s",
	};
	processes.push(spawnNode(baseEnv({ ...clusterEnv, SERVICES: "gateway", NODE_ID: `gw-shots-${testEnv.runId}`, PORT: String(port) })));
	processes.push(spawnNode(baseEnv({ ...clusterEnv, SERVICES: "identity,platform,files,notifications", NODE_ID: `core-shots-${testEnv.runId}`, OPS_PORT: String(coreOps) })));
	processes.push(spawnNode(baseEnv({ ...clusterEnv, SERVICES: "screenshots/screenshot-jobs,screenshots/devices", NODE_ID: `jobs-shots-${testEnv.runId}`, OPS_PORT: String(jobsOps) })));
	processes.push(startWorker("a", workerOps));
	gatewayUrl = `http://127.0.0.1:${port}`;
	try {
		for (const url of [`${gatewayUrl}/readyz`, `http://127.0.0.1:${coreOps}/readyz`, `http://127.0.0.1:${jobsOps}/readyz`, `http://127.0.0.1:${workerOps}/readyz`]) await waitForHttp(url, 200, 90_000);
		await waitForHttp(`${gatewayUrl}/api/v1/auth/jwks`, 200, 30_000);
		await waitForHttp(`${gatewayUrl}/api/v1/screenshot-jobs`, 401, 30_000);
	} catch (err) {
		throw new Error(`${(err as Error).message}\n${processes.map((child) => child.output().slice(-3000)).join("\n---\n")}`);
	}
	api = apiClient(gatewayUrl);
}, 150_000);

afterAll(async () => {
	await Promise.all(processes.map((child) => child.stop()));
	await new Promise((resolve) => site?.close(resolve));
});

function startWorker(name: string, opsPort: number): NodeProcess {
	return spawnNode(baseEnv({ ...clusterEnv, SERVICES: "screenshots/screenshot-renderer", NODE_ID: `worker-${name}-shots-${testEnv.runId}`, OPS_PORT: String(opsPort), LOG_LEVEL: "info" }));
}

async function job(token: string, id: string): Promise<PublicScreenshotJob> {
	const response = await api.get<PublicScreenshotJob>(`/screenshot-jobs/${id}`, { token });
	expect(response.status).toBe(200);
	return response.body;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
	const started = Date.now();
	while (!(await check())) {
		if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}\n${processes.map((child) => child.output().slice(-2000)).join("\n---\n")}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

describe("screenshots on a cluster", () => {
	it("survives the worker being killed mid-job: another worker finishes it, exactly once", async () => {
		const registered = await api.post<{ accessToken: string; tenant: { id: string }; user: { id: string } }>("/auth/register", {
			email: uniqueEmail("cluster-shots"),
			password: "cluster password 1",
			fullName: "Cluster Shots",
			organization: "Shots Co",
		});
		expect(registered.status).toBe(201);
		const token = registered.body.accessToken;
		const socket = await connectRealtime(gatewayUrl, token);
		try {
			const devices = ["iphone-se", "pixel-7", "galaxy-s9-plus"];
			const created = await api.post<PublicScreenshotJob>("/screenshot-jobs", { url: `http://127.0.0.1:${(site.address() as AddressInfo).port}/`, devices }, { token });
			expect(created.status, JSON.stringify(created.body)).toBe(202);
			const id = created.body.id;

			// Worker a stores the iPhone's image, and hangs on the two Android pages.
			await until("the first image", async () => (await job(token, id)).results.length === 1, 60_000);
			await until("both Android pages requested", async () => requests.filter((request) => request.ua.includes("Android")).length >= 2, 30_000);
			const iphoneRequests = requests.filter((request) => request.ua.includes("iPhone")).length;
			expect(await job(token, id)).toMatchObject({ status: "running", attempts: 1, progress: 33 });

			await processes[3].stop("SIGKILL");
			holdAndroid = false;
			const workerOps = await freePort();
			processes.push(startWorker("b", workerOps));
			await waitForHttp(`http://127.0.0.1:${workerOps}/readyz`, 200, 90_000);

			await until("the job to finish", async () => ["succeeded", "failed"].includes((await job(token, id)).status), 90_000);
			const finished = await job(token, id);
			expect(finished.status, JSON.stringify(finished.error)).toBe("succeeded");
			expect(finished).toMatchObject({ progress: 100, attempts: 2, error: null });
			expect(finished.results.map((result) => result.target)).toEqual(devices);
			// The iPhone's image wasn't rendered again, and nothing was stored twice.
			expect(requests.filter((request) => request.ua.includes("iPhone")).length).toBe(iphoneRequests);
			expect(await sql(`SELECT target_id FROM screenshot_jobs.screenshot_results WHERE job_id = $1`, [id])).toHaveLength(3);
			const files = await sql<{ id: string }>(`SELECT id FROM files.files WHERE tenant_id = $1`, [registered.body.tenant.id]);
			expect(files.map((file) => file.id).sort()).toEqual(finished.results.map((result) => result.fileId).sort());
			const expected: Record<string, { width: number; height: number }> = { "iphone-se": { width: 640, height: 1136 }, "pixel-7": { width: 1082, height: 2202 }, "galaxy-s9-plus": { width: 1440, height: 2961 } };
			for (const result of finished.results) {
				const bytes = Buffer.from(await (await fetch(result.url!)).arrayBuffer());
				expect(imageSize(bytes)).toEqual({ format: "png", ...expected[result.target] });
			}

			// One notification, one succeeded push; progress reached the socket on the way.
			await until("the notification", async () => (await api.get<{ rows: unknown[] }>("/notifications?type=screenshot.job.succeeded", { token })).body.rows.length > 0, 30_000);
			await new Promise((resolve) => setTimeout(resolve, 1_000));
			expect((await api.get<{ rows: unknown[] }>("/notifications?type=screenshot.job.succeeded", { token })).body.rows).toHaveLength(1);
			const progress = socket.frames.filter((frame) => frame.type === "screenshot.job.progress").map((frame) => frame.data as { status: string; progress: number });
			expect(progress.some((frame) => frame.status === "running" && frame.progress === 33)).toBe(true);
			expect(progress.filter((frame) => frame.status === "succeeded")).toEqual([expect.objectContaining({ progress: 100 })]);
		} finally {
			await socket.close();
		}
	}, 240_000);
});
