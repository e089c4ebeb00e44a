/**
 * Issue 11, the gateway's part: requests a careless client or an attacker sends (invalid percent-escapes,
 * lying Content-Encoding, broken multipart, oversized request lines) answer a 4xx problem+json with the usual
 * headers, change nothing, and never end the process; a service's own 404 keeps its code; store downloads
 * carry nosniff; a failing request is logged once.
 */
import http from "node:http";
import net from "node:net";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { baseEnv, freePort, spawnNode, startNode, waitForHttp, type NodeProcess, type RunningNode } from "../helpers/nodes";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { startOpsServer } from "../../lib/ops-server";

interface RawAnswer {
	status: number;
	headers: http.IncomingHttpHeaders;
	text: string;
	body: Record<string, unknown> | null;
}

/** One request exactly as given (no URL normalisation, any method, any headers and bytes). */
function raw(baseUrl: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<RawAnswer> {
	const { hostname, port } = new URL(baseUrl);
	return new Promise((resolve, reject) => {
		const req = http.request({ host: hostname, port, method, path, headers, agent: false }, (res) => {
			const chunks: Buffer[] = [];
			res.on("data", (chunk: Buffer) => chunks.push(chunk));
			res.on("end", () => {
				const text = Buffer.concat(chunks).toString("utf8");
				let parsed: Record<string, unknown> | null = null;
				try {
					parsed = text ? (JSON.parse(text) as Record<string, unknown>) : null;
				} catch {
					parsed = null;
				}
				resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
			});
			res.on("error", reject);
		});
		req.on("error", reject);
		req.end(body);
	});
}

/** A problem+json answer with the headers every gateway answer carries. */
function expectProblem(answer: RawAnswer, status: number, code?: string, options: { rateLimited?: boolean; body?: boolean } = {}): void {
	expect({ status: answer.status, text: answer.text.slice(0, 300) }).toMatchObject({ status });
	expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
	expect(answer.headers["x-content-type-options"]).toBe("nosniff");
	expect(answer.headers["x-request-id"]).toBeTruthy();
	if (options.rateLimited !== false) expect(answer.headers["x-ratelimit-limit"]).toBeDefined();
	if (options.body !== false) expect(answer.body).toMatchObject({ status, ...(code ? { code } : {}) });
}

let node: RunningNode;
let api: ApiClient;

beforeAll(async () => {
	node = await startNode({ TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000", BODY_LIMIT: "16kb" });
	api = apiClient(node.url);
});

afterAll(async () => {
	await node?.stop();
});

/** Invalid escapes: a lone %, a non-hex one, a byte that is no UTF-8 start, a cut-off sequence, an overlong one. */
const BAD_ESCAPES = ["%ff", "%", "%E0%A4%A", "%zz", "%C0%AF", "abc%", "%ED%A0%80"];
/** Routes with path parameters: fast-path aliases of several services, and one of moleculer-web's own aliases. */
const BAD_PATHS = (escape: string) => [
	["GET", `/api/v1/products/${escape}`],
	["PUT", `/api/v1/products/${escape}`],
	["DELETE", `/api/v1/products/${escape}`],
	["PATCH", `/api/v1/webhook-endpoints/${escape}`],
	["POST", `/api/v1/files/${escape}/complete`],
	["GET", `/api/v1/files/${escape}/download?x=1`],
	["HEAD", `/api/v1/products/${escape}`],
	["OPTIONS", `/api/v1/products/${escape}`],
	["GET", `/api/docs/assets/${escape}`],
	["HEAD", `/api/docs/assets/${escape}`],
];

describe("finding 1: invalid percent-escapes in a path", () => {
	it("finding 1: an invalid percent-escape in a path parameter answers 400 problem+json on every method and route, and the node stays up", async () => {
		for (const escape of BAD_ESCAPES) {
			for (const [method, path] of BAD_PATHS(escape)) {
				const body = ["POST", "PUT", "PATCH"].includes(method) ? "{}" : undefined;
				const answer = await raw(node.url, method, path, body ? { "Content-Type": "application/json" } : {}, body);
				// HEAD has no body; the status and headers say it all.
				expectProblem(answer, 400, "INVALID_PATH_ENCODING", { body: method !== "HEAD" });
			}
		}
		// In the query string an invalid escape is kept as it was sent (qs decodes leniently): never a 5xx.
		for (const escape of BAD_ESCAPES) {
			const listed = await raw(node.url, "GET", `/api/v1/products?search=${escape}&page=${escape}`);
			expect(listed.status).toBeGreaterThanOrEqual(200);
			expect(listed.status).toBeLessThan(500);
		}
		// A CORS preflight for such a path is refused the same way.
		const preflight = await raw(node.url, "OPTIONS", "/api/v1/products/%ff", { Origin: "https://app.example.com", "Access-Control-Request-Method": "PUT" });
		expectProblem(preflight, 400, "INVALID_PATH_ENCODING");
		expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
		expect((await api.get("/status/ping")).status).toBe(200);
	});

	it("finding 1: a server.ts process answers 400 to invalid escapes and keeps serving", async () => {
		const port = await freePort();
		const child: NodeProcess = spawnNode(baseEnv({ PORT: String(port), SERVICES: "gateway,platform,commerce/catalog", RATE_LIMIT_MAX: "100000" }));
		try {
			const url = `http://127.0.0.1:${port}`;
			await waitForHttp(`${url}/api/v1/status/ping`, 200, 60_000);
			for (const escape of BAD_ESCAPES) {
				for (const method of ["GET", "PUT", "DELETE", "HEAD", "OPTIONS"]) {
					const answer = await raw(url, method, `/api/v1/products/${escape}`);
					expectProblem(answer, 400, "INVALID_PATH_ENCODING", { body: method !== "HEAD" });
				}
			}
			expect((await fetch(`${url}/healthz`)).status).toBe(200);
			expect(child.child.exitCode).toBeNull();
		} finally {
			await child.stop();
		}
	}, 90_000);
});

/** A 1×1 PNG. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");

interface Session {
	user: { id: string };
	tenant: { id: string };
	accessToken: string;
}

async function register(label: string): Promise<Session> {
	const response = await api.post<Session>("/auth/register", { email: uniqueEmail(label), password: "correct horse battery", fullName: `${label} Tester`, organization: `${label} Inc` }, { ip: uniqueIp() });
	expect(response.status).toBe(201);
	return response.body;
}

describe("finding 3: lying Content-Encoding and malformed multipart", () => {
	const JSON_BODY = JSON.stringify({ email: "nobody@example.com", password: "not the password" });
	const FORM_BODY = "email=nobody%40example.com&password=x";

	it("finding 3: a body that isn't encoded as its Content-Encoding says answers 400, an unknown encoding 415, on JSON and form bodies", async () => {
		const session = await register("encoding");
		const auth = { Authorization: `Bearer ${session.accessToken}` };
		const targets: Array<[string, string, Record<string, string>]> = [
			["POST", "/api/v1/auth/login", {}],
			["PUT", `/api/v1/users/${session.user.id}`, auth],
			["POST", "/api/v1/products", auth],
			["POST", "/api/v1/webhooks/stripe", { "Stripe-Signature": "t=1,v1=00" }],
		];
		for (const [method, path, headers] of targets) {
			for (const [type, body] of [["application/json", JSON_BODY], ["application/x-www-form-urlencoded", FORM_BODY]]) {
				for (const encoding of ["gzip", "x-gzip", "br", "deflate", "zstd"]) {
					const answer = await raw(node.url, method, path, { ...headers, "Content-Type": type, "Content-Encoding": encoding }, body);
					// x-gzip is no encoding body-parser knows: 415, like any other unknown one.
					if (encoding === "x-gzip") expectProblem(answer, 415, "UNSUPPORTED_ENCODING");
					else expectProblem(answer, 400, "INVALID_ENCODED_BODY");
				}
				for (const encoding of ["foo", "gzip, br", "compress"]) {
					expectProblem(await raw(node.url, method, path, { ...headers, "Content-Type": type, "Content-Encoding": encoding }, body), 415, "UNSUPPORTED_ENCODING");
				}
				// Encoded as claimed, but cut short.
				const truncated = zlib.gzipSync(Buffer.from(body)).subarray(0, 12);
				expectProblem(await raw(node.url, method, path, { ...headers, "Content-Type": type, "Content-Encoding": "gzip" }, truncated), 400, "INVALID_ENCODED_BODY");
			}
		}
		// A body that really is gzip is read as usual.
		const honest = await raw(node.url, "POST", "/api/v1/auth/login", { "Content-Type": "application/json", "Content-Encoding": "gzip" }, zlib.gzipSync(JSON_BODY));
		expectProblem(honest, 401);
		// Uploads are read as sent: any encoding is refused before a byte is stored.
		const upload = await raw(node.url, "POST", "/api/v1/files", { ...auth, "Content-Type": "multipart/form-data; boundary=x", "Content-Encoding": "gzip" }, "--x\r\n");
		expectProblem(upload, 415, "UNSUPPORTED_ENCODING");
	});

	it("finding 3: a raw-stream body with any Content-Encoding answers 415 and never reaches the action", async () => {
		let reached = 0;
		node.broker.createService({
			name: "hardening-stream",
			settings: { rest: "/hardening-stream" },
			actions: {
				take: {
					rest: { method: "POST", path: "/", type: "stream" },
					auth: "public",
					handler() {
						reached += 1;
						return { ok: true };
					},
				},
			},
		});
		await node.broker.waitForServices("hardening-stream");
		await vi.waitFor(async () => expect((await raw(node.url, "POST", "/api/v1/hardening-stream", { "Content-Type": "application/octet-stream" }, "abc")).status).toBe(200), { timeout: 5_000 });
		reached = 0;
		for (const encoding of ["gzip", "br", "deflate", "foo"]) {
			expectProblem(await raw(node.url, "POST", "/api/v1/hardening-stream", { "Content-Type": "application/octet-stream", "Content-Encoding": encoding }, "abc"), 415, "UNSUPPORTED_ENCODING");
		}
		expect(reached).toBe(0);
		await node.broker.destroyService(node.broker.getLocalService("hardening-stream")!);
	});

	it("finding 3: malformed multipart on POST /files answers 400 problem+json and stores nothing", async () => {
		const session = await register("multipart");
		const auth = { Authorization: `Bearer ${session.accessToken}` };
		const part = (boundary: string, name: string, filename: string, content: string) =>
			`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n`;
		const cases: Array<[string, string, string]> = [
			["missing boundary", "multipart/form-data; charset=utf-8", part("b", "file", "a.txt", "hello") + "--b--\r\n"],
			["empty boundary", "multipart/form-data; boundary=", "--\r\n"],
			["boundary over 70 characters", `multipart/form-data; boundary=${"b".repeat(300)}`, part("b".repeat(300), "file", "a.txt", "hello")],
			["truncated body", "multipart/form-data; boundary=b", part("b", "file", "a.txt", "hello").slice(0, 60)],
			["file part never closed", "multipart/form-data; boundary=b", part("b", "file", "a.txt", "hello world")],
			["garbage", "multipart/form-data; boundary=b", "\u0000\u0001 this is not multipart at all"],
			["boundary mismatch", "multipart/form-data; boundary=other", part("b", "file", "a.txt", "hello") + "--b--\r\n"],
			["fields only", "multipart/form-data; boundary=b", `--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx.txt\r\n--b--\r\n`],
			["file part with the wrong name", "multipart/form-data; boundary=b", part("b", "upload", "a.txt", "hello") + "--b--\r\n"],
		];
		for (const [label, type, body] of cases) {
			const answer = await raw(node.url, "POST", "/api/v1/files", { ...auth, "Content-Type": type }, body);
			expect({ label, status: answer.status, type: answer.headers["content-type"] }).toMatchObject({ label, status: 400, type: expect.stringMatching(/^application\/problem\+json/) });
			expect(answer.headers["x-content-type-options"]).toBe("nosniff");
		}
		const stored = await sql("SELECT name, status, size FROM files.files WHERE tenant_id = $1", [session.tenant.id]);
		expect(stored).toEqual([]);
		expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
	});
});

describe("finding 3: multipart the files service reads in part", () => {
	it("finding 3: a second file part is ignored and fields over the parser's limits are a 400, never a 5xx", async () => {
		const session = await register("extra-parts");
		const headers = { Authorization: `Bearer ${session.accessToken}`, "Content-Type": "multipart/form-data; boundary=b" };
		const field = (name: string, value: string) => `--b\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
		const file = (name: string, content: string) => `--b\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n`;
		// Two files: the parser reads one (the route's limit), as documented; the answer is that file.
		const two = await raw(node.url, "POST", "/api/v1/files", headers, file("first.txt", "first") + file("second.txt", "second") + "--b--\r\n");
		expect({ status: two.status, name: two.body?.name }).toEqual({ status: 201, name: "first.txt" });
		// More parts than the route allows (5): the file part past the limit is never read, so there is no file.
		const crowded = await raw(node.url, "POST", "/api/v1/files", headers, ["a", "b", "c", "d", "e"].map((name) => field(name, "x")).join("") + file("late.txt", "late") + "--b--\r\n");
		expectProblem(crowded, 400);
		const stored = await sql<{ name: string }>("SELECT name FROM files.files WHERE tenant_id = $1", [session.tenant.id]);
		expect(stored).toEqual([{ name: "first.txt" }]);
	});
});

describe("finding 9: misleading answers, missing headers, noisy logs", () => {
	it("finding 9: a service's own NotFoundError keeps its code; only an unknown route is ROUTE_NOT_FOUND", async () => {
		const session = await register("invitee");
		const invitation = await api.post("/invitations/accept", { token: "x".repeat(43) }, { token: session.accessToken, ip: uniqueIp() });
		expect(invitation.status).toBe(404);
		expect(invitation.body).toMatchObject({ code: "INVITATION_INVALID" });
		expect(String(invitation.body.detail)).not.toMatch(/No route/);
		const unknown = await api.get("/no-such-thing");
		expect(unknown.status).toBe(404);
		expect(unknown.body).toMatchObject({ code: "ROUTE_NOT_FOUND" });
		const asset = await raw(node.url, "GET", "/api/docs/assets/nosuch.js");
		expectProblem(asset, 404, "ASSET_NOT_FOUND");
	});

	it("finding 9: a request line or headers over 16 KB, or malformed HTTP, answer problem+json", async () => {
		const longUrl = await raw(node.url, "GET", `/api/v1/products?q=${"a".repeat(17_000)}`);
		expectProblem(longUrl, 431, "REQUEST_HEADERS_TOO_LARGE", { rateLimited: false });
		const bigHeader = await raw(node.url, "GET", "/api/v1/status/ping", { "X-Filler": "b".repeat(20_000) });
		expectProblem(bigHeader, 431, "REQUEST_HEADERS_TOO_LARGE", { rateLimited: false });
		const { port } = new URL(node.url);
		for (const request of ["GET /api/v1/status/ping HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "G\u0000T / HTTP/1.1\r\n\r\n", "GET / HTTP/9.9\r\nHost: x\r\n\r\n"]) {
			const text = await rawSocket(Number(port), request);
			expect(text).toMatch(/^HTTP\/1\.1 400 /);
			expect(text).toMatch(/content-type: application\/problem\+json/i);
			expect(text).toMatch(/x-content-type-options: nosniff/i);
			expect(JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4))).toMatchObject({ status: 400, code: "MALFORMED_REQUEST" });
		}
		expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
		// The ops listener of nodes without the gateway answers the same way.
		const ops = await startOpsServer(node.broker, node.config, 0);
		try {
			const opsUrl = `http://127.0.0.1:${ops.port}`;
			const tooLong = await raw(opsUrl, "GET", `/healthz?q=${"a".repeat(17_000)}`);
			expect(tooLong.status).toBe(431);
			expect(tooLong.headers["content-type"]).toMatch(/^application\/problem\+json/);
			expect(tooLong.body).toMatchObject({ status: 431, code: "REQUEST_HEADERS_TOO_LARGE" });
			expect((await raw(opsUrl, "GET", "/healthz")).status).toBe(200);
		} finally {
			await ops.close();
		}
	});

	it("finding 9: file downloads from the store carry X-Content-Type-Options: nosniff", async () => {
		const session = await register("nosniff");
		const form = new FormData();
		form.append("file", new Blob([PNG], { type: "text/html" }), "page.html");
		const uploaded = await fetch(`${node.url}/api/v1/files`, { method: "POST", headers: { Authorization: `Bearer ${session.accessToken}` }, body: form });
		expect(uploaded.status).toBe(201);
		const file = (await uploaded.json()) as { id: string };
		const redirect = await fetch(`${node.url}/api/v1/files/${file.id}/download`, { headers: { Authorization: `Bearer ${session.accessToken}` }, redirect: "manual" });
		expect(redirect.status).toBe(302);
		expect(redirect.headers.get("x-content-type-options")).toBe("nosniff");
		const download = await fetch(redirect.headers.get("location")!);
		expect(download.status).toBe(200);
		expect(download.headers.get("x-content-type-options")).toBe("nosniff");
		expect(download.headers.get("content-disposition")).toMatch(/^attachment/);
		// The store's refusals carry it too.
		const refused = await fetch(redirect.headers.get("location")!.replace(/X-Amz-Signature=[0-9a-f]+/, "X-Amz-Signature=00"));
		expect(refused.status).toBe(403);
		expect(refused.headers.get("x-content-type-options")).toBe("nosniff");
	});

	it("finding 9: a failed request is logged once, and a service without nodes once per action, not per request", async () => {
		const gateway = node.broker.getLocalService("api") as unknown as { logger: { error: (...args: unknown[]) => void; warn: (...args: unknown[]) => void } };
		node.broker.createService({
			name: "hardening-faults",
			settings: { rest: "/hardening-faults" },
			actions: {
				fail: {
					rest: "GET /fail",
					auth: "public",
					handler() {
						throw new Error("a real fault");
					},
				},
			},
		});
		await node.broker.waitForServices("hardening-faults");
		await vi.waitFor(async () => expect((await raw(node.url, "GET", "/api/v1/hardening-faults/fail")).status).toBe(500), { timeout: 5_000 });
		const errors = vi.spyOn(gateway.logger, "error");
		const warnings = vi.spyOn(gateway.logger, "warn");
		try {
			// A real fault: one error line, with the stack, per request.
			for (let index = 0; index < 3; index += 1) expectProblem(await raw(node.url, "GET", "/api/v1/hardening-faults/fail"), 500, "INTERNAL_ERROR");
			expect(errors).toHaveBeenCalledTimes(3);
			expect(errors.mock.calls.every((call) => call.some((arg) => arg instanceof Error && arg.message === "a real fault"))).toBe(true);
			errors.mockClear();
			// A service that left: 503 at once, and one warning for the lot.
			await node.broker.destroyService(node.broker.getLocalService("status")!);
			for (let index = 0; index < 20; index += 1) expectProblem(await raw(node.url, "GET", "/api/v1/status/ping"), 503, "SERVICE_UNAVAILABLE");
			expect(errors).not.toHaveBeenCalled();
			expect(warnings.mock.calls.filter((call) => String(call[0]).includes("status.ping"))).toHaveLength(1);
		} finally {
			errors.mockRestore();
			warnings.mockRestore();
		}
	});
});

/** Bytes straight onto a socket, for requests no HTTP client would send; resolves with all that came back. */
function rawSocket(port: number, request: string): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = new net.Socket();
		let received = "";
		socket.on("data", (chunk) => (received += chunk.toString("utf8")));
		socket.on("end", () => resolve(received));
		socket.on("close", () => resolve(received));
		socket.on("error", reject);
		socket.connect(port, "127.0.0.1", () => socket.end(request));
	});
}
