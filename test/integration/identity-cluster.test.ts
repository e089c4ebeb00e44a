/**
 * Identity on a real cluster: the gateway and the identity domain in two OS processes on NATS, driven
 * through the gateway as a client would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";
import { apiClient, uniqueEmail, type ApiClient } from "../helpers/api";

const testEnv = inject("testEnv");
const processes: NodeProcess[] = [];
let api: ApiClient;

beforeAll(async () => {
	const [port, opsPort] = await Promise.all([freePort(), freePort()]);
	const env = { TRANSPORTER: testEnv.natsUrl, CACHER: testEnv.redisUrl, NAMESPACE: `${testEnv.namespace}-idc`, LOG_LEVEL: "warn" };
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "gateway", NODE_ID: `gw-idc-${testEnv.runId}`, PORT: String(port) })));
	processes.push(spawnNode(baseEnv({ ...env, SERVICES: "identity,platform", NODE_ID: `id-idc-${testEnv.runId}`, OPS_PORT: String(opsPort) })));
	const url = `http://127.0.0.1:${port}`;
	await waitForHttp(`${url}/readyz`);
	await waitForHttp(`http://127.0.0.1:${opsPort}/readyz`);
	await waitForHttp(`${url}/api/v1/auth/jwks`, 200, 30_000);
	api = apiClient(url);
}, 90_000);

afterAll(async () => {
	await Promise.all(processes.map((process) => process.stop()));
});

describe("identity behind a gateway on another node", () => {
	it("registers, logs in, refreshes, and answers /auth/me across NATS", async () => {
		const email = uniqueEmail("cluster");
		const registered = await api.post<{ accessToken: string; refreshToken: string; tenant: { id: string } }>("/auth/register", { email, password: "cluster password 1", fullName: "Cluster User" });
		expect(registered.status).toBe(201);
		const login = await api.post<{ accessToken: string; refreshToken: string }>("/auth/login", { email, password: "cluster password 1" });
		expect(login.status).toBe(200);
		const refreshed = await api.post<{ accessToken: string }>("/auth/refresh-token", { refreshToken: login.body.refreshToken });
		expect(refreshed.status).toBe(200);
		const me = await api.get<{ user: { email: string }; role: string }>("/auth/me", { token: refreshed.body.accessToken });
		expect(me.body).toMatchObject({ user: { email }, role: "owner" });
		const key = await api.post<{ key: string }>("/api-keys", { name: "cluster", scopes: ["tenants:read"] }, { token: registered.body.accessToken });
		expect(key.status).toBe(201);
		expect((await api.get(`/tenants/${registered.body.tenant.id}`, { apiKey: key.body.key })).status).toBe(200);
		expect((await api.post("/auth/login", { email, password: "wrong password!" })).status).toBe(401);
	});
});
