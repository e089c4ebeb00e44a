/**
 * Secrets at rest: webhook signing secrets and JWT private keys are sealed with SECRETS_KEY in PostgreSQL.
 * The nodes here share a database of their own (created and dropped by this file), because they seal every
 * row they find: other files' nodes, which run without a key, would then be unable to open them.
 *
 * One story, in order: a node without a key writes readable rows; a node with key 1 seals them and writes
 * sealed ones; a node with key 2 (key 1 as previous) seals everything again. Throughout, deliveries verify with
 * the `standardwebhooks` package and tokens issued by earlier nodes keep working.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { Webhook } from "standardwebhooks";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql as runSql } from "../helpers/db";
import { secretKeyId } from "../../lib/secret-box";

interface Received {
	path: string;
	headers: http.IncomingHttpHeaders;
	body: string;
}

const PASSWORD = "correct horse battery";
const KEY_1 = randomBytes(32);
const KEY_2 = randomBytes(32);
const received: Received[] = [];
const databaseUrl = new URL(inject("testEnv").databaseUrl);
const database = `${databaseUrl.pathname.slice(1)}_sealed`;
databaseUrl.pathname = `/${database}`;
let receiver: http.Server;
let receiverHostPort: string;
let node: RunningNode | undefined;
let api: ApiClient;

/** What the tests carry from one node to the next. */
const state = {} as { email: string; token: string; readable: { id: string; secret: string }; sealed: { id: string; secret: string; previous: string } };

async function sql<T = Record<string, unknown>>(query: string, values: unknown[] = []): Promise<T[]> {
	const client = new Client({ connectionString: databaseUrl.toString() });
	await client.connect();
	try {
		return (await client.query(query, values)).rows as T[];
	} finally {
		await client.end();
	}
}

async function start(env: Record<string, string | undefined>): Promise<void> {
	await node?.stop();
	node = await startNode({
		SERVICES: "gateway,identity,notifications/webhooks",
		DATABASE_URL: databaseUrl.toString(),
		OUTBOUND_ALLOW_HOSTS: receiverHostPort,
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
		...env,
	});
	api = apiClient(node.url);
}

async function waitFor<T>(what: string, probe: () => T | undefined): Promise<T> {
	const started = Date.now();
	while (Date.now() - started < 15_000) {
		const value = probe();
		if (value !== undefined) return value;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	throw new Error(`Timed out waiting for ${what}`);
}

/** Sends a ping through the usual delivery and answers the request the receiver got. */
async function ping(endpointId: string): Promise<Received> {
	const path = `/${endpointId}`;
	const before = received.filter((item) => item.path === path).length;
	const test = await api.post(`/webhook-endpoints/${endpointId}/test`, {}, { token: state.token });
	expect(test.status, JSON.stringify(test.body)).toBe(202);
	return waitFor("the ping", () => received.filter((item) => item.path === path)[before]);
}

function verify(secret: string, request: Received): unknown {
	const headers = Object.fromEntries(["webhook-id", "webhook-timestamp", "webhook-signature"].map((name) => [name, String(request.headers[name])]));
	return new Webhook(secret).verify(request.body, headers);
}

async function createEndpoint(): Promise<{ id: string; secret: string }> {
	const created = await api.post<{ id: string; secret: string }>("/webhook-endpoints", { url: `http://${receiverHostPort}/pending` }, { token: state.token });
	expect(created.status, JSON.stringify(created.body)).toBe(201);
	// The receiver tells endpoints apart by path: the endpoint's own id.
	expect((await api.put(`/webhook-endpoints/${created.body.id}`, { url: `http://${receiverHostPort}/${created.body.id}` }, { token: state.token })).status).toBe(200);
	return created.body;
}

async function storedSecrets(id: string): Promise<{ secret: string; previous_secret: string | null }> {
	const [row] = await sql<{ secret: string; previous_secret: string | null }>("SELECT secret, previous_secret FROM webhooks.endpoints WHERE id = $1", [id]);
	return row!;
}

async function storedPrivateKeys(): Promise<Array<{ kid: string; type: string; value: unknown }>> {
	return sql("SELECT kid, jsonb_typeof(private_jwk) AS type, private_jwk AS value FROM auth.signing_keys ORDER BY created_at");
}

function sealedWith(key: Buffer): RegExp {
	return new RegExp(`^sealed:v1:${secretKeyId(key)}:`);
}

beforeAll(async () => {
	await runSql(`CREATE DATABASE "${database}"`);
	receiver = http.createServer((req, res) => {
		let body = "";
		req.on("data", (chunk) => (body += chunk));
		req.on("end", () => {
			received.push({ path: req.url ?? "/", headers: req.headers, body });
			res.writeHead(200).end("ok");
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
	receiverHostPort = `127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
	await node?.stop();
	receiver?.closeAllConnections();
	await new Promise((resolve) => receiver?.close(resolve));
	await runSql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
});

describe("secrets at rest", () => {
	it("stores secrets readable without SECRETS_KEY (development), as rows written before sealing are", async () => {
		await start({ SECRETS_KEY: undefined });
		state.email = uniqueEmail("sealed");
		const registered = await api.post<{ accessToken: string }>(
			"/auth/register",
			{ email: state.email, password: PASSWORD, fullName: "Sealed Tester", organization: "Sealed Inc" },
			{ ip: uniqueIp() },
		);
		expect(registered.status, JSON.stringify(registered.body)).toBe(201);
		state.token = registered.body.accessToken;
		state.readable = await createEndpoint();
		expect((await storedSecrets(state.readable.id)).secret).toBe(state.readable.secret);
		expect((await storedPrivateKeys()).map((key) => key.type)).toEqual(["object"]);
	});

	it("with SECRETS_KEY, seals the rows found at start and every new secret, and still signs and issues tokens", async () => {
		await start({ SECRETS_KEY: KEY_1.toString("base64") });

		// Rows written without a key are sealed at start.
		const old = await storedSecrets(state.readable.id);
		expect(old.secret).toMatch(sealedWith(KEY_1));
		expect(old.secret).not.toContain(state.readable.secret.slice(6));
		const [signingKey] = await storedPrivateKeys();
		expect(signingKey).toMatchObject({ type: "string", value: expect.stringMatching(sealedWith(KEY_1)) });
		expect(String(signingKey!.value)).not.toMatch(/"d"/);
		expect(verify(state.readable.secret, await ping(state.readable.id))).toMatchObject({ type: "ping" });
		expect((await api.get<{ secret: string }>(`/webhook-endpoints/${state.readable.id}/secret`, { token: state.token })).body.secret).toBe(state.readable.secret);

		// The token issued by the first node still verifies; a login signs a new one with the sealed key.
		expect((await api.get("/auth/me", { token: state.token })).status).toBe(200);
		const login = await api.post<{ accessToken: string }>("/auth/login", { email: state.email, password: PASSWORD }, { ip: uniqueIp() });
		expect(login.status, JSON.stringify(login.body)).toBe(200);
		state.token = login.body.accessToken;
		expect((await api.get("/auth/me", { token: state.token })).status).toBe(200);
		// JWKS still publishes public keys only.
		const jwks = await api.get<{ keys: Array<Record<string, unknown>> }>("/auth/jwks");
		expect(jwks.body.keys.length).toBeGreaterThan(0);
		for (const key of jwks.body.keys) expect(key.d).toBeUndefined();

		// A new endpoint, and a rotation: both secrets sealed, deliveries signed with both.
		const created = await createEndpoint();
		expect((await storedSecrets(created.id)).secret).toMatch(sealedWith(KEY_1));
		expect((await api.get<{ secret: string }>(`/webhook-endpoints/${created.id}/secret`, { token: state.token })).body.secret).toBe(created.secret);
		const rotated = await api.post<{ secret: string }>(`/webhook-endpoints/${created.id}/rotate-secret`, {}, { token: state.token });
		expect(rotated.status).toBe(200);
		const stored = await storedSecrets(created.id);
		expect(stored.secret).toMatch(sealedWith(KEY_1));
		expect(stored.previous_secret).toMatch(sealedWith(KEY_1));
		const signed = await ping(created.id);
		expect(String(signed.headers["webhook-signature"]).split(" ")).toHaveLength(2);
		verify(rotated.body.secret, signed);
		verify(created.secret, signed);
		state.sealed = { id: created.id, secret: rotated.body.secret, previous: created.secret };

		// A sealed secret copied into another endpoint's row doesn't open there.
		await sql("UPDATE webhooks.endpoints SET secret = $1 WHERE id = $2", [stored.secret, state.readable.id]);
		expect((await api.get(`/webhook-endpoints/${state.readable.id}/secret`, { token: state.token })).status).toBe(500);
		await sql("UPDATE webhooks.endpoints SET secret = $1 WHERE id = $2", [old.secret, state.readable.id]);
	});

	it("after a key rotation (new SECRETS_KEY, the old one in SECRETS_KEY_PREVIOUS), seals everything with the new key", async () => {
		await start({ SECRETS_KEY: KEY_2.toString("hex"), SECRETS_KEY_PREVIOUS: KEY_1.toString("base64") });

		for (const id of [state.readable.id, state.sealed.id]) {
			const stored = await storedSecrets(id);
			expect(stored.secret).toMatch(sealedWith(KEY_2));
			if (stored.previous_secret !== null) expect(stored.previous_secret).toMatch(sealedWith(KEY_2));
		}
		expect((await storedSecrets(state.sealed.id)).previous_secret).not.toBeNull();
		for (const key of await storedPrivateKeys()) expect(key.value).toMatch(sealedWith(KEY_2));

		expect((await api.get("/auth/me", { token: state.token })).status).toBe(200);
		expect((await api.post("/auth/login", { email: state.email, password: PASSWORD }, { ip: uniqueIp() })).status).toBe(200);
		verify(state.readable.secret, await ping(state.readable.id));
		const signed = await ping(state.sealed.id);
		verify(state.sealed.secret, signed);
		verify(state.sealed.previous, signed);

		// Once every node runs with the new key, the old one can go: nothing needs it any more.
		await start({ SECRETS_KEY: KEY_2.toString("hex") });
		expect((await api.get("/auth/me", { token: state.token })).status).toBe(200);
		expect((await api.get<{ secret: string }>(`/webhook-endpoints/${state.sealed.id}/secret`, { token: state.token })).body.secret).toBe(state.sealed.secret);
		verify(state.sealed.secret, await ping(state.sealed.id));
	});
});
