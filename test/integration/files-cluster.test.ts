/**
 * Files on a real cluster: the gateway, the identity domain and the files domain in three OS processes on
 * NATS, with S3_ENDPOINT pointing at an s3rver this test starts. An upload crosses NATS as a stream from
 * the gateway to the files node; the download is a redirect to the object store.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "moleculer";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";
import { apiClient, uniqueEmail, type ApiClient } from "../helpers/api";
import { startEmbeddedS3, type EmbeddedS3 } from "../../lib/storage/embedded-s3";

const testEnv = inject("testEnv");
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
const s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), "lattice-files-cluster-"));
const processes: NodeProcess[] = [];
let s3: EmbeddedS3;
let url: string;
let api: ApiClient;
let clusterEnv: Record<string, string>;

interface Session {
	tenant: { id: string };
	accessToken: string;
}

beforeAll(async () => {
	s3 = await startEmbeddedS3(s3Dir, 0, { info: () => undefined } as unknown as Logger);
	const [port, identityOps, filesOps] = await Promise.all([freePort(), freePort(), freePort()]);
	clusterEnv = {
		TRANSPORTER: testEnv.natsUrl,
		CACHER: testEnv.redisUrl,
		NAMESPACE: `${testEnv.namespace}-files`,
		S3_ENDPOINT: s3.connection.endpoint,
		S3_ACCESS_KEY: s3.connection.accessKey,
		S3_SECRET_KEY: s3.connection.secretKey,
		S3_BUCKET: "lattice-cluster-files",
		// Nodes reach the store at 127.0.0.1, clients at "localhost": presigned URLs are signed for the latter.
		S3_PUBLIC_URL: s3.connection.endpoint.replace("127.0.0.1", "localhost"),
		RATE_LIMIT_MAX: "100000",
		// Short for service calls, long for uploads: a slow upload must outlast the former (see below).
		REQUEST_TIMEOUT_MS: "3000",
		FILES_UPLOAD_TIMEOUT: "60s",
	};
	processes.push(spawnNode(baseEnv({ ...clusterEnv, SERVICES: "gateway", NODE_ID: `gw-files-${testEnv.runId}`, PORT: String(port) })));
	processes.push(spawnNode(baseEnv({ ...clusterEnv, SERVICES: "identity,platform", NODE_ID: `id-files-${testEnv.runId}`, OPS_PORT: String(identityOps) })));
	processes.push(spawnNode(baseEnv({ ...clusterEnv, SERVICES: "files", NODE_ID: `files-${testEnv.runId}`, OPS_PORT: String(filesOps) })));
	url = `http://127.0.0.1:${port}`;
	try {
		await waitForHttp(`${url}/readyz`, 200, 60_000);
		await waitForHttp(`http://127.0.0.1:${identityOps}/readyz`, 200, 60_000);
		await waitForHttp(`http://127.0.0.1:${filesOps}/readyz`, 200, 60_000);
		await waitForHttp(`${url}/api/v1/auth/jwks`, 200, 30_000);
		// The files routes exist on the gateway once the files node is known: unauthenticated, they answer 401.
		await waitForHttp(`${url}/api/v1/files`, 401, 30_000);
	} catch (err) {
		throw new Error(`${(err as Error).message}\n${processes.map((child) => child.output().slice(-3000)).join("\n---\n")}`);
	}
	api = apiClient(url);
}, 120_000);

afterAll(async () => {
	await Promise.all(processes.map((child) => child.stop()));
	await s3?.stop();
	fs.rmSync(s3Dir, { recursive: true, force: true });
});

async function register(label: string): Promise<Session> {
	const response = await api.post<Session>("/auth/register", { email: uniqueEmail(label), password: "cluster password 1", fullName: `${label} Tester`, organization: `${label} Co` });
	expect(response.status).toBe(201);
	return response.body;
}

async function upload(token: string, bytes: Buffer, filename: string) {
	const form = new FormData();
	form.append("file", new Blob([bytes], { type: "image/png" }), filename);
	const response = await fetch(`${url}/api/v1/files`, { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: form });
	return { status: response.status, body: (await response.json()) as { id: string; size: number; checksum: string; contentType: string } };
}

describe("files behind a gateway on another node", () => {
	it("uploads through the gateway, downloads the same bytes, and keeps them from another tenant", async () => {
		const owner = await register("uploader");
		const stranger = await register("stranger");
		// Several megabytes: many stream chunks over NATS, and more than one S3 upload part.
		const bytes = Buffer.concat([PNG, randomBytes(9 * 1024 * 1024)]);
		const uploaded = await upload(owner.accessToken, bytes, "cluster.png");
		expect(uploaded.status).toBe(201);
		expect(uploaded.body).toMatchObject({ size: bytes.length, contentType: "image/png", checksum: createHash("sha256").update(bytes).digest("hex") });

		const downloaded = await fetch(`${url}/api/v1/files/${uploaded.body.id}/download`, { headers: { Authorization: `Bearer ${owner.accessToken}` } });
		expect(downloaded.status).toBe(200);
		expect(downloaded.url.startsWith(s3.connection.endpoint.replace("127.0.0.1", "localhost"))).toBe(true);
		expect(Buffer.from(await downloaded.arrayBuffer()).equals(bytes)).toBe(true);

		expect((await api.get(`/files/${uploaded.body.id}`, { token: stranger.accessToken })).status).toBe(404);
		expect((await api.get(`/files/${uploaded.body.id}/download`, { token: stranger.accessToken })).status).toBe(404);
		expect((await api.delete(`/files/${uploaded.body.id}`, { token: stranger.accessToken })).status).toBe(404);
		expect((await api.get<{ total: number }>("/files", { token: stranger.accessToken })).body.total).toBe(0);
		expect((await api.get<{ total: number }>("/files", { token: owner.accessToken })).body.total).toBe(1);
	}, 60_000);

	it("takes an upload slower than a service call may be (FILES_UPLOAD_TIMEOUT, not REQUEST_TIMEOUT_MS)", async () => {
		const owner = await register("slow");
		const bytes = Buffer.concat([PNG, randomBytes(256 * 1024)]);
		const boundary = `lattice-${randomBytes(8).toString("hex")}`;
		const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`);
		const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
		const answer = await new Promise<{ status: number; body: { size?: number; checksum?: string } }>((resolve, reject) => {
			const request = http.request(`${url}/api/v1/files`, {
				method: "POST",
				headers: { Authorization: `Bearer ${owner.accessToken}`, "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": head.length + bytes.length + tail.length },
			});
			request.on("response", (response) => {
				let text = "";
				response.on("data", (chunk: Buffer) => (text += chunk.toString()));
				response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as { size?: number; checksum?: string } }));
			});
			request.on("error", reject);
			void (async () => {
				request.write(head);
				// The file arrives over ~4.5 s, past the 3 s that every other call of this cluster gets.
				const slice = Math.ceil(bytes.length / 9);
				for (let offset = 0; offset < bytes.length; offset += slice) {
					request.write(bytes.subarray(offset, offset + slice));
					await sleep(500);
				}
				request.end(tail);
			})();
		});
		expect(answer.status, JSON.stringify(answer.body)).toBe(201);
		expect(answer.body).toMatchObject({ size: bytes.length, checksum: createHash("sha256").update(bytes).digest("hex") });
	}, 60_000);

	it("refuses a disallowed type across the cluster with 415 and stores nothing", async () => {
		const owner = await register("refused");
		const form = new FormData();
		form.append("file", new Blob([Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")], { type: "image/png" }), "logo.png");
		const refused = await fetch(`${url}/api/v1/files`, { method: "POST", headers: { Authorization: `Bearer ${owner.accessToken}` }, body: form });
		expect(refused.status).toBe(415);
		expect(await refused.json()).toMatchObject({ code: "UNSUPPORTED_FILE_TYPE", contentType: "image/svg+xml" });
		expect((await api.get<{ total: number }>("/files?status=all", { token: owner.accessToken })).body.total).toBe(0);
	});

	it("won't start a files node of a cluster without S3_ENDPOINT", async () => {
		const refused = spawnNode(baseEnv({ ...clusterEnv, SERVICES: "files", NODE_ID: `files-no-s3-${testEnv.runId}`, OPS_PORT: "0", S3_ENDPOINT: undefined, S3_ACCESS_KEY: undefined, S3_SECRET_KEY: undefined, S3_PUBLIC_URL: undefined }));
		const code = await new Promise<number | null>((resolve) => refused.child.once("exit", resolve));
		expect(code).toBe(78);
		expect(refused.output()).toContain("S3_ENDPOINT is required when TRANSPORTER is set");
	}, 60_000);
});
