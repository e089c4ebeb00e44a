/**
 * The outbound client against real local servers: loopback is refused unless allow-listed (by IP, by host
 * name resolving to it, by redirect), redirects are followed and re-checked, and timeouts and body caps hold.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutboundClient } from "../../lib/outbound/client";
import { OutboundFailedError, OutboundRefusedError } from "../../lib/outbound/errors";
import { freePort } from "../helpers/net";

interface Received {
	method: string;
	url: string;
	body: string;
	headers: http.IncomingHttpHeaders;
}

let server: http.Server;
let other: http.Server;
let base: string;
let port: number;
let otherPort: number;
const received: Received[] = [];

function listen(handler: http.RequestListener): Promise<http.Server> {
	return new Promise((resolve) => {
		const created = http.createServer(handler);
		created.listen(0, "127.0.0.1", () => resolve(created));
	});
}

beforeAll(async () => {
	other = await listen((req, res) => {
		received.push({ method: req.method ?? "", url: `other${req.url}`, body: "", headers: req.headers });
		res.end("other");
	});
	otherPort = (other.address() as AddressInfo).port;
	server = await listen((req, res) => {
		let body = "";
		req.on("data", (chunk) => (body += chunk));
		req.on("end", () => {
			received.push({ method: req.method ?? "", url: req.url ?? "", body, headers: req.headers });
			const path = req.url ?? "/";
			if (path === "/ok") return res.end("hello");
			if (path === "/echo") return res.end(JSON.stringify({ method: req.method, body, authorization: req.headers.authorization ?? null }));
			if (path === "/to-ok") return res.writeHead(302, { location: "/ok" }).end();
			if (path === "/see-other") return res.writeHead(303, { location: "/echo" }).end();
			if (path === "/temporary") return res.writeHead(307, { location: "/echo" }).end();
			if (path === "/to-other-port") return res.writeHead(302, { location: `http://127.0.0.1:${otherPort}/secret` }).end();
			if (path === "/to-localhost") return res.writeHead(302, { location: `http://localhost:${otherPort}/secret` }).end();
			if (path === "/to-metadata") return res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
			if (path === "/to-ipv6-loopback") return res.writeHead(302, { location: `http://[::1]:${otherPort}/secret` }).end();
			if (path === "/to-file") return res.writeHead(302, { location: "file:///etc/passwd" }).end();
			if (path === "/loop") return res.writeHead(302, { location: "/loop" }).end();
			if (path === "/big") return res.end(Buffer.alloc(256 * 1024, 97));
			if (path === "/slow") return; // never answers
			res.writeHead(404).end();
		});
	});
	port = (server.address() as AddressInfo).port;
	base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
	server.closeAllConnections();
	other.closeAllConnections();
	await new Promise((resolve) => server.close(resolve));
	await new Promise((resolve) => other.close(resolve));
});

async function refusal(promise: Promise<unknown>): Promise<OutboundRefusedError> {
	const err = await promise.then(
		() => undefined,
		(error: unknown) => error,
	);
	expect(err).toBeInstanceOf(OutboundRefusedError);
	return err as OutboundRefusedError;
}

describe("outbound requests", () => {
	it("refuses loopback by default, before anything reaches the server", async () => {
		const client = new OutboundClient({ allowHosts: [] });
		const before = received.length;
		const byIp = await refusal(client.request(`${base}/ok`));
		expect(byIp.code).toBe(422);
		expect(byIp.type).toBe("OUTBOUND_TARGET_REFUSED");
		expect(byIp.data).toMatchObject({ reason: "ADDRESS", range: "loopback" });
		await refusal(client.request(`http://[::1]:${port}/ok`));
		await refusal(client.request(`http://[::ffff:127.0.0.1]:${port}/ok`));
		// A host name is checked on what it resolves to: localhost is 127.0.0.1 (and ::1).
		const byName = await refusal(client.request(`http://localhost:${port}/ok`));
		expect(byName.data).toMatchObject({ reason: "ADDRESS", host: "localhost" });
		// WHATWG URL parsing normalizes numeric forms, so they are caught as the loopback they are.
		await refusal(client.request(`http://2130706433:${port}/ok`));
		await refusal(client.assertAllowed(`http://localhost:${port}/`));
		expect(received.length).toBe(before);
	});

	it("refuses schemes other than http and https", async () => {
		const client = new OutboundClient({ allowHosts: ["127.0.0.1"] });
		expect((await refusal(client.request("ftp://127.0.0.1/file"))).data).toMatchObject({ reason: "SCHEME" });
		expect((await refusal(client.request("file:///etc/passwd"))).data).toMatchObject({ reason: "SCHEME" });
		expect((await refusal(client.request("not a url"))).data).toMatchObject({ reason: "URL" });
	});

	it("reaches an allow-listed host, by host or by host:port", async () => {
		const byHost = await new OutboundClient({ allowHosts: ["127.0.0.1"] }).request(`${base}/ok`);
		expect(byHost.status).toBe(200);
		expect(byHost.body.toString()).toBe("hello");
		expect(byHost.redirects).toBe(0);
		const byPort = new OutboundClient({ allowHosts: [`127.0.0.1:${port}`] });
		expect((await byPort.request(`${base}/ok`)).status).toBe(200);
		await refusal(byPort.request(`http://127.0.0.1:${otherPort}/ok`));
		// Listing 127.0.0.1 says nothing about names that resolve to it.
		await refusal(new OutboundClient({ allowHosts: ["127.0.0.1"] }).request(`http://localhost:${port}/ok`));
	});

	it("follows redirects and checks every hop", async () => {
		const client = new OutboundClient({ allowHosts: [`127.0.0.1:${port}`] });
		const followed = await client.request(`${base}/to-ok`);
		expect(followed).toMatchObject({ status: 200, redirects: 1, url: `${base}/ok` });

		const before = received.length;
		expect((await refusal(client.request(`${base}/to-other-port`))).data).toMatchObject({ range: "loopback" });
		expect((await refusal(client.request(`${base}/to-localhost`))).data).toMatchObject({ host: "localhost" });
		expect((await refusal(client.request(`${base}/to-metadata`))).data).toMatchObject({ range: "linkLocal" });
		await refusal(client.request(`${base}/to-ipv6-loopback`));
		expect((await refusal(client.request(`${base}/to-file`))).data).toMatchObject({ reason: "SCHEME" });
		// Only the allow-listed first hops arrived; no redirect target was contacted.
		expect(received.slice(before).map((item) => item.url)).toEqual(["/to-other-port", "/to-localhost", "/to-metadata", "/to-ipv6-loopback", "/to-file"]);

		const loop = await client.request(`${base}/loop`, { maxRedirects: 3 }).catch((err: unknown) => err);
		expect(loop).toBeInstanceOf(OutboundFailedError);
		expect((loop as OutboundFailedError).code).toBe("TOO_MANY_REDIRECTS");
	});

	it("changes a POST to a GET on 303 and keeps it on 307; answers a 3xx as it is when not following", async () => {
		const client = new OutboundClient({ allowHosts: ["127.0.0.1"] });
		const seeOther = await client.request(`${base}/see-other`, { method: "POST", body: "payload", headers: { authorization: "Bearer x" } });
		expect(JSON.parse(seeOther.body.toString())).toEqual({ method: "GET", body: "", authorization: "Bearer x" });
		const temporary = await client.request(`${base}/temporary`, { method: "POST", body: "payload" });
		expect(JSON.parse(temporary.body.toString())).toMatchObject({ method: "POST", body: "payload" });
		const withCredentials = await client.request(`http://user:p%40ss@127.0.0.1:${port}/echo`);
		expect(JSON.parse(withCredentials.body.toString()).authorization).toBe(`Basic ${Buffer.from("user:p@ss").toString("base64")}`);
		const notFollowed = await client.request(`${base}/to-ok`, { maxRedirects: 0 });
		expect(notFollowed.status).toBe(302);
		expect(notFollowed.headers.location).toBe("/ok");
	});

	it("times out and caps the body it keeps", async () => {
		const client = new OutboundClient({ allowHosts: ["127.0.0.1"] });
		const started = Date.now();
		const slow = await client.request(`${base}/slow`, { timeoutMs: 300 }).catch((err: unknown) => err);
		expect(slow).toBeInstanceOf(OutboundFailedError);
		expect((slow as OutboundFailedError).code).toBe("TIMEOUT");
		expect(Date.now() - started).toBeLessThan(3000);

		const big = await client.request(`${base}/big`, { maxBodyBytes: 1000 });
		expect(big.body.length).toBe(1000);
		expect(big.truncated).toBe(true);

		const controller = new AbortController();
		const cancelled = client.request(`${base}/slow`, { signal: controller.signal }).catch((err: unknown) => err);
		controller.abort();
		expect(((await cancelled) as OutboundFailedError).code).toBe("ABORTED");

		const closed = await client.request(`http://127.0.0.1:${await freePort()}/ok`, { timeoutMs: 2000 }).catch((err: unknown) => err);
		expect((closed as OutboundFailedError).code).toBe("CONNECTION_FAILED");
	});
});
