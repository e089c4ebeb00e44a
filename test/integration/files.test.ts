/**
 * Files as a client drives them through the gateway, on one node with its own embedded object store
 * (s3rver under a temporary DATA_DIR, on a free port) and the run's PostgreSQL: multipart uploads streamed
 * to storage, presigned uploads, downloads by redirect, tenancy, type sniffing, size limit and quota, and
 * the internal stream actions. Storage is inspected through the S3 API itself, never mocked.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { Client as MinioClient } from "minio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedStorageEnv, startNode, type RunningNode } from "../helpers/nodes";
import { sql } from "../helpers/db";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { storageConnectionOf } from "../../lib/storage/object-store";

const PASSWORD = "correct horse battery";
const MAX_BYTES = 12 * 1024 * 1024;
/** A 1×1 PNG: file-type recognises it by its signature and IHDR chunk. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");

interface Session {
	user: { id: string };
	tenant: { id: string };
	accessToken: string;
}

interface FileBody {
	id: string;
	name: string;
	size: number;
	contentType: string;
	checksum: string | null;
	status: string;
	uploadedBy: string | null;
	code?: string;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lattice-files-"));
let node: RunningNode;
let api: ApiClient;
let s3: MinioClient;
let bucket: string;

beforeAll(async () => {
	node = await startNode({
		...embeddedStorageEnv(dataDir),
		S3_BUCKET: "lattice-files-test",
		FILES_MAX_BYTES: String(MAX_BYTES),
		FILES_PRESIGN_TTL_SECONDS: "60",
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
	});
	api = apiClient(node.url);
	const connection = storageConnectionOf(node.broker)!;
	const endpoint = new URL(connection.endpoint);
	s3 = new MinioClient({ endPoint: endpoint.hostname, port: Number(endpoint.port), useSSL: false, accessKey: connection.accessKey, secretKey: connection.secretKey, region: connection.region, pathStyle: true });
	bucket = node.config.storage.bucket;
}, 60_000);

afterAll(async () => {
	await node?.stop();
	fs.rmSync(dataDir, { recursive: true, force: true });
});

async function register(label: string): Promise<Session> {
	const response = await api.post<Session>("/auth/register", { email: uniqueEmail(label), password: PASSWORD, fullName: `${label} Tester`, organization: `${label} Inc` }, { ip: uniqueIp() });
	expect(response.status).toBe(201);
	return response.body;
}

function auth(credentials: { token?: string; apiKey?: string }): Record<string, string> {
	return credentials.apiKey ? { "X-API-Key": credentials.apiKey } : { Authorization: `Bearer ${credentials.token}` };
}

async function upload(credentials: { token?: string; apiKey?: string }, bytes: Buffer, filename: string, options: { type?: string; field?: string; before?: Record<string, string> } = {}) {
	const form = new FormData();
	for (const [name, value] of Object.entries(options.before ?? {})) form.append(name, value);
	form.append(options.field ?? "file", new Blob([bytes], { type: options.type ?? "application/octet-stream" }), filename);
	const response = await fetch(`${node.url}/api/v1/files`, { method: "POST", headers: { ...auth(credentials), "X-Forwarded-For": uniqueIp() }, body: form });
	const text = await response.text();
	return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as FileBody };
}

/** The object keys stored under a tenant, listed through the S3 API. */
async function objectsOf(tenantId: string): Promise<string[]> {
	const keys: string[] = [];
	for await (const item of s3.listObjectsV2(bucket, `${tenantId}/`, true)) if (item.name) keys.push(item.name);
	return keys;
}

async function rowsOf(tenantId: string): Promise<Array<{ id: string; status: string; object_key: string }>> {
	return sql("SELECT id, status, object_key FROM files.files WHERE tenant_id = $1", [tenantId]);
}

function sha256(bytes: Buffer): string {
	return createHash("sha256").update(bytes).digest("hex");
}

/** Follows the download redirect with fetch, as a browser would. */
async function download(token: string, id: string): Promise<{ status: number; bytes: Buffer; disposition: string | null; type: string | null }> {
	const response = await fetch(`${node.url}/api/v1/files/${id}/download`, { headers: { Authorization: `Bearer ${token}` } });
	return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()), disposition: response.headers.get("content-disposition"), type: response.headers.get("content-type") };
}

describe("multipart uploads", () => {
	it("streams a file to storage and gives back the same bytes through a presigned redirect", async () => {
		const alice = await register("alice");
		// Larger than the sniffing sample, so sniffing works on a head and the rest streams behind it.
		const bytes = Buffer.concat([PNG, randomBytes(200 * 1024)]);
		const uploaded = await upload({ token: alice.accessToken }, bytes, "../../Screen shot\u202e.png", { type: "image/png" });
		expect(uploaded.status).toBe(201);
		expect(uploaded.headers.get("location")).toBe(`/api/v1/files/${uploaded.body.id}`);
		expect(uploaded.body).toMatchObject({ name: "Screen shot.png", size: bytes.length, contentType: "image/png", checksum: sha256(bytes), status: "ready", uploadedBy: alice.user.id });

		const metadata = await api.get<FileBody>(`/files/${uploaded.body.id}`, { token: alice.accessToken });
		expect(metadata.status).toBe(200);
		expect(metadata.body).toMatchObject({ id: uploaded.body.id, size: bytes.length, checksum: sha256(bytes) });
		expect(metadata.body).not.toHaveProperty("objectKey");

		const redirect = await fetch(`${node.url}/api/v1/files/${uploaded.body.id}/download`, { headers: { Authorization: `Bearer ${alice.accessToken}` }, redirect: "manual" });
		expect(redirect.status).toBe(302);
		const location = redirect.headers.get("location")!;
		expect(location.startsWith(storageConnectionOf(node.broker)!.endpoint)).toBe(true);
		expect(redirect.headers.get("cache-control")).toBe("no-store");

		const downloaded = await download(alice.accessToken, uploaded.body.id);
		expect(downloaded.status).toBe(200);
		expect(downloaded.bytes.equals(bytes)).toBe(true);
		expect(downloaded.type).toBe("image/png");
		expect(downloaded.disposition).toContain("attachment");
		expect(downloaded.disposition).toContain('filename="Screen shot.png"');

		// The object key is the tenant's prefix and the file id, never the client's name.
		const [row] = await rowsOf(alice.tenant.id);
		expect(row.object_key).toBe(`${alice.tenant.id}/${uploaded.body.id}`);
		expect(await objectsOf(alice.tenant.id)).toEqual([row.object_key]);
	});

	it("stores a file larger than one upload part (S3 multipart) intact", async () => {
		const bruno = await register("bruno");
		const bytes = Buffer.concat([PNG, randomBytes(9 * 1024 * 1024)]);
		const uploaded = await upload({ token: bruno.accessToken }, bytes, "big.png");
		expect(uploaded.status).toBe(201);
		expect(uploaded.body).toMatchObject({ size: bytes.length, checksum: sha256(bytes) });
		const downloaded = await download(bruno.accessToken, uploaded.body.id);
		expect(sha256(downloaded.bytes)).toBe(sha256(bytes));
	}, 60_000);

	it("judges the type by the bytes: declared types only choose among what the bytes can be", async () => {
		const cleo = await register("cleo");
		const text = await upload({ token: cleo.accessToken }, Buffer.from("just some words, nothing more\n"), "notes.png", { type: "image/png" });
		expect(text.status).toBe(201);
		expect(text.body.contentType).toBe("text/plain");
		const csv = await upload({ token: cleo.accessToken }, Buffer.from("name,qty\nbolt,3\nnut,5\n"), "parts.csv", { type: "text/csv" });
		expect(csv.body.contentType).toBe("text/csv");
		const json = await upload({ token: cleo.accessToken }, Buffer.from('{"a": [1, 2, {"b": null}]}'), "data.json", { type: "application/json" });
		expect(json.body.contentType).toBe("application/json");
		// The same CSV bytes declared as plain text stay plain text.
		const plain = await upload({ token: cleo.accessToken }, Buffer.from("name,qty\nbolt,3\nnut,5\n"), "parts.txt", { type: "text/plain" });
		expect(plain.body.contentType).toBe("text/plain");
	});

	it("refuses a type that is not allowed with 415, storing nothing", async () => {
		const dana = await register("dana");
		const html = await upload({ token: dana.accessToken }, Buffer.from("<!DOCTYPE html><html><script>alert(1)</script></html>"), "page.txt", { type: "text/plain" });
		expect(html.status).toBe(415);
		expect(html.headers.get("content-type")).toContain("application/problem+json");
		expect(html.body).toMatchObject({ code: "UNSUPPORTED_FILE_TYPE", contentType: "text/html" });
		const executable = await upload({ token: dana.accessToken }, Buffer.concat([Buffer.from("MZ"), Buffer.alloc(62), randomBytes(512)]), "setup.pdf", { type: "application/pdf" });
		expect(executable.status).toBe(415);
		expect(await rowsOf(dana.tenant.id)).toEqual([]);
		expect(await objectsOf(dana.tenant.id)).toEqual([]);
	});

	it("refuses a file over the size limit with 413, storing nothing", async () => {
		const emil = await register("emil");
		const tooBig = await upload({ token: emil.accessToken }, Buffer.concat([PNG, randomBytes(MAX_BYTES)]), "huge.png");
		expect(tooBig.status).toBe(413);
		expect(tooBig.headers.get("content-type")).toContain("application/problem+json");
		expect(await rowsOf(emil.tenant.id)).toEqual([]);
		expect(await objectsOf(emil.tenant.id)).toEqual([]);
		// The node is fine afterwards.
		expect((await upload({ token: emil.accessToken }, PNG, "small.png")).status).toBe(201);
	}, 60_000);

	it("refuses an upload over the tenant's storage quota with 413, storing nothing", async () => {
		const fay = await register("fay");
		await node.broker.call("tenants.setLimitOverrides", { tenantId: fay.tenant.id, limits: { storageBytes: 150 * 1024 } }, { meta: { $system: true } });
		const first = await upload({ token: fay.accessToken }, Buffer.concat([PNG, randomBytes(100 * 1024)]), "one.png");
		expect(first.status).toBe(201);
		const second = await upload({ token: fay.accessToken }, Buffer.concat([PNG, randomBytes(100 * 1024)]), "two.png");
		expect(second.status).toBe(413);
		expect(second.body).toMatchObject({ code: "QUOTA_EXCEEDED" });
		expect((await rowsOf(fay.tenant.id)).map((row) => row.id)).toEqual([first.body.id]);
		expect(await objectsOf(fay.tenant.id)).toEqual([`${fay.tenant.id}/${first.body.id}`]);
		// A presigned upload reserves its declared size against the same quota.
		const reserved = await api.post("/files/upload-url", { name: "three.png", size: 60 * 1024, contentType: "image/png" }, { token: fay.accessToken });
		expect(reserved.status).toBe(413);
		// Deleting frees the room.
		expect((await api.delete(`/files/${first.body.id}`, { token: fay.accessToken })).status).toBe(204);
		expect((await upload({ token: fay.accessToken }, Buffer.concat([PNG, randomBytes(100 * 1024)]), "two.png")).status).toBe(201);
	});

	it("lets no two concurrent uploads squeeze past the quota together", async () => {
		const ray = await register("ray");
		await node.broker.call("tenants.setLimitOverrides", { tenantId: ray.tenant.id, limits: { storageBytes: 250 * 1024 } }, { meta: { $system: true } });
		const attempts = await Promise.all([1, 2, 3].map((n) => upload({ token: ray.accessToken }, Buffer.concat([PNG, randomBytes(100 * 1024)]), `race-${n}.png`)));
		const accepted = attempts.filter((attempt) => attempt.status === 201);
		expect(attempts.every((attempt) => attempt.status === 201 || attempt.status === 413)).toBe(true);
		// Two fit, three don't: whatever the interleaving, the tenant never ends up over its quota.
		expect(accepted.length).toBeLessThanOrEqual(2);
		const [usage] = await sql<{ used: string }>("SELECT COALESCE(SUM(size), 0) AS used FROM files.files WHERE tenant_id = $1", [ray.tenant.id]);
		expect(Number(usage.used)).toBeLessThanOrEqual(250 * 1024);
		expect((await objectsOf(ray.tenant.id)).length).toBe(accepted.length);
	});

	it("answers bad requests with 4xx problems and changes nothing", async () => {
		const gus = await register("gus");
		const wrongField = await upload({ token: gus.accessToken }, PNG, "a.png", { field: "document" });
		expect(wrongField.status).toBe(400);
		expect(wrongField.body).toMatchObject({ code: "FILE_FIELD_REQUIRED" });
		const json = await api.post("/files", { name: "a.png" }, { token: gus.accessToken });
		expect(json.status).toBe(415);
		expect(json.body).toMatchObject({ code: "MULTIPART_REQUIRED" });
		const noFile = await fetch(`${node.url}/api/v1/files`, { method: "POST", headers: auth({ token: gus.accessToken }), body: (() => { const form = new FormData(); form.append("name", "x"); return form; })() });
		expect(noFile.status).toBe(400);
		expect((await upload({}, PNG, "anonymous.png")).status).toBe(401);
		expect((await api.get("/files?page=0", { token: gus.accessToken })).status).toBe(400);
		expect((await api.get("/files/not-a-uuid", { token: gus.accessToken })).status).toBe(404);
		expect((await api.post("/files/upload-url", { name: "a.png", size: -1, contentType: "image/png" }, { token: gus.accessToken })).status).toBe(400);
		expect((await api.post("/files/upload-url", { name: "a.png", size: 10, contentType: "not a type" }, { token: gus.accessToken })).status).toBe(400);
		expect((await api.post("/files/upload-url", { name: "a.exe", size: 10, contentType: "application/x-msdownload" }, { token: gus.accessToken })).status).toBe(415);
		expect((await api.post("/files/upload-url", { name: "a.png", size: MAX_BYTES + 1, contentType: "image/png" }, { token: gus.accessToken })).status).toBe(413);
		expect(await rowsOf(gus.tenant.id)).toEqual([]);
		expect(await objectsOf(gus.tenant.id)).toEqual([]);
	});

	it("survives a client that disconnects mid-upload, leaving no row and no object", async () => {
		const hana = await register("hana");
		const boundary = "----lattice-test-boundary";
		const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.png"\r\nContent-Type: image/png\r\n\r\n`;
		const port = Number(new URL(node.url).port);
		await new Promise<void>((resolve, reject) => {
			const socket = net.connect(port, "127.0.0.1", () => {
				socket.write(
					`POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${hana.accessToken}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n`,
				);
				socket.write(head);
				socket.write(Buffer.concat([PNG, randomBytes(256 * 1024)]), () => setTimeout(() => (socket.destroy(), resolve()), 300));
			});
			socket.on("error", reject);
		});
		const healthy = await fetch(`${node.url}/healthz`);
		expect(healthy.status).toBe(200);
		// Nothing was, or stays, stored for the half-sent file.
		await new Promise((resolve) => setTimeout(resolve, 1_000));
		expect(await rowsOf(hana.tenant.id)).toEqual([]);
		expect(await objectsOf(hana.tenant.id)).toEqual([]);
		expect((await upload({ token: hana.accessToken }, PNG, "after.png")).status).toBe(201);
	});
});

describe("presigned uploads", () => {
	it("hands out a PUT URL, then checks size and type on completion and makes the file ready", async () => {
		const ines = await register("ines");
		const bytes = Buffer.from("sku,name,price\nA1,Bolt,0.10\nA2,Nut,0.05\n");
		const reserved = await api.post<{ id: string; uploadUrl: string; expiresAt: string; file: FileBody }>("/files/upload-url", { name: "prices.csv", size: bytes.length, contentType: "text/csv" }, { token: ines.accessToken });
		expect(reserved.status).toBe(201);
		expect(new Date(reserved.body.expiresAt).getTime()).toBeGreaterThan(Date.now());
		expect(reserved.body.file).toMatchObject({ status: "pending", size: bytes.length, checksum: null });
		// Pending files are not listed by default, and can't be downloaded yet.
		expect((await api.get<{ total: number }>("/files", { token: ines.accessToken })).body.total).toBe(0);
		expect((await api.get<{ total: number }>("/files?status=pending", { token: ines.accessToken })).body.total).toBe(1);
		expect((await api.get(`/files/${reserved.body.id}/download`, { token: ines.accessToken })).status).toBe(409);
		expect((await api.post(`/files/${reserved.body.id}/complete`, {}, { token: ines.accessToken })).status).toBe(409);

		const put = await fetch(reserved.body.uploadUrl, { method: "PUT", body: bytes });
		expect(put.status).toBe(200);
		const completed = await api.post<FileBody>(`/files/${reserved.body.id}/complete`, {}, { token: ines.accessToken });
		expect(completed.status).toBe(200);
		expect(completed.body).toMatchObject({ status: "ready", contentType: "text/csv", size: bytes.length, checksum: sha256(bytes) });
		// Completing twice is harmless.
		expect((await api.post<FileBody>(`/files/${reserved.body.id}/complete`, {}, { token: ines.accessToken })).body.status).toBe("ready");
		expect((await download(ines.accessToken, reserved.body.id)).bytes.equals(bytes)).toBe(true);
		// The presigned URL can't replace the checked bytes afterwards: they were moved to the file's own key.
		await fetch(reserved.body.uploadUrl, { method: "PUT", body: "evil" });
		expect((await download(ines.accessToken, reserved.body.id)).bytes.equals(bytes)).toBe(true);
		expect((await api.get<{ total: number }>("/files", { token: ines.accessToken })).body.total).toBe(1);
	});

	it("rejects bytes that don't match the declared type or size with 422 and deletes them", async () => {
		const jon = await register("jon");
		const text = Buffer.from("this is not an image at all");
		const wrongType = await api.post<{ id: string; uploadUrl: string }>("/files/upload-url", { name: "photo.png", size: text.length, contentType: "image/png" }, { token: jon.accessToken });
		await fetch(wrongType.body.uploadUrl, { method: "PUT", body: text });
		const mismatch = await api.post(`/files/${wrongType.body.id}/complete`, {}, { token: jon.accessToken });
		expect(mismatch.status).toBe(422);
		expect(mismatch.body).toMatchObject({ code: "CONTENT_TYPE_MISMATCH", declared: "image/png", detected: "text/plain" });

		const wrongSize = await api.post<{ id: string; uploadUrl: string }>("/files/upload-url", { name: "photo.png", size: PNG.length + 10, contentType: "image/png" }, { token: jon.accessToken });
		await fetch(wrongSize.body.uploadUrl, { method: "PUT", body: PNG });
		const short = await api.post(`/files/${wrongSize.body.id}/complete`, {}, { token: jon.accessToken });
		expect(short.status).toBe(422);
		expect(short.body).toMatchObject({ code: "SIZE_MISMATCH", declared: PNG.length + 10, actual: PNG.length });

		expect(await objectsOf(jon.tenant.id)).toEqual([]);
		expect((await rowsOf(jon.tenant.id)).every((row) => row.status === "pending")).toBe(true);
		expect((await api.get<{ total: number }>("/files", { token: jon.accessToken })).body.total).toBe(0);
	});

	it("sweeps uploads that were never completed, with their bytes, once their URL has expired", async () => {
		const sam = await register("sam");
		const reserved = await api.post<{ id: string; uploadUrl: string }>("/files/upload-url", { name: "late.png", size: PNG.length, contentType: "image/png" }, { token: sam.accessToken });
		await fetch(reserved.body.uploadUrl, { method: "PUT", body: PNG });
		expect(await objectsOf(sam.tenant.id)).toHaveLength(1);
		await sql("UPDATE files.files SET created_at = now() - interval '1 hour' WHERE id = $1", [reserved.body.id]);
		const files = node.broker.getLocalService("files") as unknown as { sweepExpiredUploads(): Promise<number> };
		expect(await files.sweepExpiredUploads()).toBeGreaterThanOrEqual(1);
		expect(await rowsOf(sam.tenant.id)).toEqual([]);
		expect(await objectsOf(sam.tenant.id)).toEqual([]);
		expect((await api.post(`/files/${reserved.body.id}/complete`, {}, { token: sam.accessToken })).status).toBe(404);
	});
});

/** Checks an answer against a documented schema: the same keys at every level, and the declared types and values. */
function expectShape(value: unknown, schema: Record<string, unknown>, where: string): void {
	const types = ([] as unknown[]).concat(schema.type ?? []);
	if (types.length > 0) {
		const actual = value === null ? "null" : Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value;
		expect(types, `${where}: ${JSON.stringify(value)}`).toContain(actual === "integer" && !types.includes("integer") ? "number" : actual);
	}
	if (Array.isArray(schema.enum)) expect(schema.enum, where).toContain(value);
	if ("const" in schema) expect(value, where).toEqual(schema.const);
	const properties = schema.properties as Record<string, Record<string, unknown>> | undefined;
	if (properties && value !== null && typeof value === "object") {
		expect(Object.keys(value).sort(), where).toEqual(Object.keys(properties).sort());
		for (const [key, property] of Object.entries(properties)) expectShape((value as Record<string, unknown>)[key], property, `${where}.${key}`);
	}
	const items = schema.items as Record<string, unknown> | undefined;
	if (items && Array.isArray(value)) value.forEach((item, index) => expectShape(item, items, `${where}[${index}]`));
}

describe("the OpenAPI document", () => {
	it("describes what the files endpoints really answer", async () => {
		type Operation = { responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> };
		const document = (await (await fetch(`${node.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, Operation>> };
		const schemaOf = (pathKey: string, method: string, status: string) => document.paths[pathKey][method].responses[status].content!["application/json"].schema;
		const kim = await register("kim");
		const bytes = Buffer.from("a,b\n1,2\n");

		const reserved = await api.post("/files/upload-url", { name: "kim.csv", size: bytes.length, contentType: "text/csv" }, { token: kim.accessToken });
		expect(reserved.status).toBe(201);
		expectShape(reserved.body, schemaOf("/api/v1/files/upload-url", "post", "201"), "upload-url");
		const id = String(reserved.body.id);
		expect((await fetch(String(reserved.body.uploadUrl), { method: "PUT", body: bytes })).status).toBe(200);
		const completed = await api.post(`/files/${id}/complete`, {}, { token: kim.accessToken });
		expect(completed.status).toBe(200);
		expectShape(completed.body, schemaOf("/api/v1/files/{id}/complete", "post", "200"), "complete");
		const file = await api.get(`/files/${id}`, { token: kim.accessToken });
		expectShape(file.body, schemaOf("/api/v1/files/{id}", "get", "200"), "get");
		const page = await api.get<{ rows: unknown[] }>("/files", { token: kim.accessToken });
		expect(page.body.rows).toHaveLength(1);
		expectShape(page.body, schemaOf("/api/v1/files", "get", "200"), "list");
	});
});

describe("listing, tenancy and deletion", () => {
	it("pages through a tenant's files, newest first", async () => {
		const kim = await register("kim");
		const ids: string[] = [];
		for (const name of ["a.txt", "b.txt", "c.txt"]) ids.push((await upload({ token: kim.accessToken }, Buffer.from(`file ${name}\n`), name)).body.id);
		const first = await api.get<{ rows: FileBody[]; total: number; page: number; pageSize: number; totalPages: number }>("/files?page=1&pageSize=2", { token: kim.accessToken });
		expect(first.body).toMatchObject({ total: 3, page: 1, pageSize: 2, totalPages: 2 });
		expect(first.body.rows.map((row) => row.id)).toEqual([ids[2], ids[1]]);
		const second = await api.get<{ rows: FileBody[] }>("/files?page=2&pageSize=2", { token: kim.accessToken });
		expect(second.body.rows.map((row) => row.id)).toEqual([ids[0]]);
	});

	it("keeps a tenant's files from every other tenant: 404, exactly like a missing file", async () => {
		const lea = await register("lea");
		const mo = await register("mo");
		const file = await upload({ token: lea.accessToken }, PNG, "private.png");
		const missing = "00000000-0000-4000-8000-000000000000";
		for (const id of [file.body.id, missing]) {
			expect((await api.get(`/files/${id}`, { token: mo.accessToken })).status).toBe(404);
			expect((await api.get(`/files/${id}/download`, { token: mo.accessToken })).status).toBe(404);
			expect((await api.delete(`/files/${id}`, { token: mo.accessToken })).status).toBe(404);
			expect((await api.post(`/files/${id}/complete`, {}, { token: mo.accessToken })).status).toBe(404);
		}
		expect((await api.get<{ total: number }>("/files", { token: mo.accessToken })).body.total).toBe(0);
		expect((await api.get(`/files/${file.body.id}`, { token: lea.accessToken })).status).toBe(200);
	});

	it("deletes the object and the row", async () => {
		const nia = await register("nia");
		const file = await upload({ token: nia.accessToken }, PNG, "gone.png");
		expect(await objectsOf(nia.tenant.id)).toHaveLength(1);
		const removed = await api.delete(`/files/${file.body.id}`, { token: nia.accessToken });
		expect(removed.status).toBe(204);
		expect((await api.get(`/files/${file.body.id}`, { token: nia.accessToken })).status).toBe(404);
		expect(await rowsOf(nia.tenant.id)).toEqual([]);
		expect(await objectsOf(nia.tenant.id)).toEqual([]);
		expect((await api.delete(`/files/${file.body.id}`, { token: nia.accessToken })).status).toBe(404);
	});

	it("lets API keys work within their scopes; a member deletes only what it uploaded, an admin anything", async () => {
		const owen = await register("owen");
		const writer = await api.post<{ id: string; key: string }>("/api-keys", { name: "uploader", scopes: ["files:read", "files:write"] }, { token: owen.accessToken });
		const reader = await api.post<{ key: string }>("/api-keys", { name: "reader", scopes: ["files:read"] }, { token: owen.accessToken });
		const ownersFile = await upload({ token: owen.accessToken }, PNG, "owner.png");
		const keysFile = await upload({ apiKey: writer.body.key }, PNG, "key.png");
		expect(keysFile.status).toBe(201);
		expect(keysFile.body).toMatchObject({ uploadedBy: writer.body.id, uploaderKind: "api_key" });

		expect((await upload({ apiKey: reader.body.key }, PNG, "nope.png")).status).toBe(403);
		expect((await api.get<{ total: number }>("/files", { apiKey: reader.body.key })).body.total).toBe(2);
		expect((await api.delete(`/files/${keysFile.body.id}`, { apiKey: reader.body.key })).status).toBe(403);

		const notOwner = await api.delete(`/files/${ownersFile.body.id}`, { apiKey: writer.body.key });
		expect(notOwner.status).toBe(403);
		expect(notOwner.body).toMatchObject({ code: "NOT_FILE_OWNER" });
		expect((await api.delete(`/files/${keysFile.body.id}`, { apiKey: writer.body.key })).status).toBe(204);
		expect((await api.delete(`/files/${ownersFile.body.id}`, { token: owen.accessToken })).status).toBe(204);
	});
});

describe("files.* actions for other services", () => {
	it("stores a stream for a tenant, streams it back and presigns a download", async () => {
		const pia = await register("pia");
		const bytes = Buffer.concat([PNG, randomBytes(70 * 1024)]);
		const stored = await node.broker.call<FileBody, object>("files.store", { name: "shot.png", contentType: "image/png", tenantId: pia.tenant.id }, { stream: Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), meta: { $system: true } });
		expect(stored).toMatchObject({ name: "shot.png", size: bytes.length, contentType: "image/png", checksum: sha256(bytes), uploaderKind: "system" });

		const stream = await node.broker.call<Readable, object>("files.openStream", { id: stored.id }, { meta: { $system: true } });
		const chunks: Buffer[] = [];
		for await (const chunk of stream) chunks.push(chunk as Buffer);
		expect(Buffer.concat(chunks).equals(bytes)).toBe(true);

		const presigned = await node.broker.call<{ url: string; expiresAt: string }, object>("files.presignDownload", { id: stored.id }, { meta: { tenantId: pia.tenant.id, user: { id: pia.user.id, persona: "end_user" }, role: "owner" } });
		expect(Buffer.from(await (await fetch(presigned.url)).arrayBuffer()).equals(bytes)).toBe(true);

		// Bytes of another type than the caller declares are refused, and nothing stays behind.
		await expect(
			node.broker.call("files.store", { name: "fake.png", contentType: "image/png", tenantId: pia.tenant.id }, { stream: Readable.from([Buffer.from("plain text")]), meta: { $system: true } }),
		).rejects.toMatchObject({ code: 422, type: "CONTENT_TYPE_MISMATCH" });
		// Another tenant's caller can't read it.
		const other = await register("quinn");
		await expect(node.broker.call("files.openStream", { id: stored.id }, { meta: { tenantId: other.tenant.id, user: { id: other.user.id, persona: "end_user" }, role: "owner" } })).rejects.toMatchObject({ code: 404 });
		expect(await rowsOf(pia.tenant.id)).toHaveLength(1);
	});

	it("keeps system files (invoice PDFs) for a tenant: one per key, outside the quota and the allow-list, not deletable", async () => {
		const rob = await register("rob");
		await node.broker.call("tenants.setLimitOverrides", { tenantId: rob.tenant.id, limits: { storageBytes: 100 * 1024 } }, { meta: { $system: true } });
		const kept = Buffer.concat([PNG, randomBytes(150 * 1024)]);
		const params = { tenantId: rob.tenant.id, name: "INV-2026-000001.png", contentType: "image/png", key: "invoice:one" };
		// Over the tenant's whole quota, and stored all the same.
		const stored = await node.broker.call<FileBody, object>("files.storeSystemFile", params, { stream: Readable.from([kept]), meta: { $system: true } });
		expect(stored).toMatchObject({ name: "INV-2026-000001.png", size: kept.length, contentType: "image/png", checksum: sha256(kept), uploaderKind: "system", status: "ready" });
		// It doesn't use up the tenant's quota: an upload within it still goes through.
		expect((await upload({ token: rob.accessToken }, Buffer.concat([PNG, randomBytes(50 * 1024)]), "mine.png")).status).toBe(201);
		// The same key again answers the file stored first and stores nothing more.
		const again = await node.broker.call<FileBody, object>("files.storeSystemFile", params, { stream: Readable.from([Buffer.concat([PNG, randomBytes(10)])]), meta: { $system: true } });
		expect(again.id).toBe(stored.id);
		const concurrent = await Promise.all(
			[1, 2, 3].map(() => node.broker.call<FileBody, object>("files.storeSystemFile", { ...params, key: "invoice:two" }, { stream: Readable.from([kept]), meta: { $system: true } })),
		);
		expect(new Set(concurrent.map((file) => file.id)).size).toBe(1);
		expect(await rowsOf(rob.tenant.id)).toHaveLength(3);
		expect(await objectsOf(rob.tenant.id)).toHaveLength(3);
		// Not on the upload allow-list (text/html isn't) is fine for the platform's own files, but the bytes must be what is declared.
		const html = await node.broker.call<FileBody, object>("files.storeSystemFile", { ...params, name: "page.html", contentType: "text/html", key: "page:1" }, { stream: Readable.from([Buffer.from("<!doctype html><html><body>hi</body></html>")]), meta: { $system: true } });
		expect(html.contentType).toBe("text/html");
		await expect(
			node.broker.call("files.storeSystemFile", { ...params, key: "invoice:fake" }, { stream: Readable.from([Buffer.from("plain text")]), meta: { $system: true } }),
		).rejects.toMatchObject({ code: 422, type: "CONTENT_TYPE_MISMATCH" });
		// Only platform callers store them.
		await expect(
			node.broker.call("files.storeSystemFile", { ...params, key: "invoice:mine" }, { stream: Readable.from([kept]), meta: { tenantId: rob.tenant.id, user: { id: rob.user.id, persona: "end_user" }, role: "owner" } }),
		).rejects.toMatchObject({ code: 403, type: "SYSTEM_CALLER_REQUIRED" });
		// The tenant reads it like any file, and can't delete it.
		expect((await api.get(`/files/${stored.id}`, { token: rob.accessToken })).status).toBe(200);
		const deleted = await api.delete<FileBody>(`/files/${stored.id}`, { token: rob.accessToken });
		expect(deleted.status).toBe(409);
		expect(deleted.body).toMatchObject({ code: "FILE_MANAGED" });
		expect(await rowsOf(rob.tenant.id)).toHaveLength(4);
	});

	it("keeps one file for a caller's id however often (and however concurrently) it is stored, with the object's Cache-Control", async () => {
		const rita = await register("rita");
		const id = randomUUID();
		const bytes = Buffer.concat([PNG, randomBytes(4 * 1024)]);
		const store = (content: Buffer) =>
			node.broker.call<FileBody, object>(
				"files.store",
				{ name: "result.png", contentType: "image/png", tenantId: rita.tenant.id, id, cacheControl: "public, max-age=31536000, immutable" },
				{ stream: Readable.from([content]), meta: { $system: true } },
			);
		const [first, second] = await Promise.all([store(bytes), store(bytes)]);
		expect(first.id).toBe(id);
		const same = { id, size: bytes.length, checksum: sha256(bytes), status: "ready" };
		expect(first).toMatchObject(same);
		expect(second).toMatchObject(same);
		// Stored again later (a job retried after a crash): the file stored first, nothing new kept.
		expect(await store(Buffer.concat([PNG, randomBytes(100)]))).toMatchObject(same);
		expect((await rowsOf(rita.tenant.id)).map((row) => row.id)).toEqual([id]);
		expect(await objectsOf(rita.tenant.id)).toHaveLength(1);

		const presigned = await node.broker.call<{ url: string }, object>("files.presignDownload", { id }, { meta: { $system: true } });
		const response = await fetch(presigned.url);
		expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
		expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);

		// Another tenant can't take or read the id.
		const other = await register("sam");
		await expect(
			node.broker.call("files.store", { name: "x.png", contentType: "image/png", tenantId: other.tenant.id, id }, { stream: Readable.from([bytes]), meta: { $system: true } }),
		).rejects.toMatchObject({ code: 409, type: "FILE_ID_TAKEN" });
		expect(await rowsOf(other.tenant.id)).toEqual([]);
		await expect(
			node.broker.call("files.store", { name: "x.png", tenantId: rita.tenant.id, cacheControl: "a\r\nb" }, { stream: Readable.from([bytes]), meta: { $system: true } }),
		).rejects.toMatchObject({ code: 422 });
	});
});
