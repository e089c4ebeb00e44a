/**
 * A real cluster: a gateway node and a service node as separate OS processes on NATS, driven over HTTP
 * like a client would, plus the operator's REPL joining the same cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";

const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-cluster`;
const processes: NodeProcess[] = [];
let gatewayUrl: string;
let serviceOpsUrl: string;
let gatewayNode: NodeProcess;
let serviceNode: NodeProcess;
const gatewayId = `gw-${testEnv.runId}`;
const serviceId = `svc-${testEnv.runId}`;

function clusterEnv(overrides: Record<string, string>) {
	return baseEnv({ TRANSPORTER: testEnv.natsUrl, CACHER: testEnv.redisUrl, NAMESPACE: namespace, LOG_LEVEL: "info", ...overrides });
}

beforeAll(async () => {
	const [gatewayPort, opsPort] = await Promise.all([freePort(), freePort()]);
	gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
	serviceOpsUrl = `http://127.0.0.1:${opsPort}`;
	gatewayNode = spawnNode(clusterEnv({ SERVICES: "gateway", NODE_ID: gatewayId, PORT: String(gatewayPort) }));
	serviceNode = spawnNode(clusterEnv({ SERVICES: "platform", NODE_ID: serviceId, OPS_PORT: String(opsPort) }));
	processes.push(gatewayNode, serviceNode);
	await waitForHttp(`${gatewayUrl}/readyz`);
	await waitForHttp(`${serviceOpsUrl}/readyz`);
	await waitForHttp(`${gatewayUrl}/api/v1/status/ping`);
}, 90_000);

afterAll(async () => {
	await Promise.all(processes.map((process) => process.stop()));
});

describe("two nodes on NATS", () => {
	it("routes a gateway request to the action on the other node", async () => {
		const response = await fetch(`${gatewayUrl}/api/v1/status/ping`);
		expect(response.status).toBe(200);
		expect(await response.json()).toMatchObject({ pong: true, nodeID: serviceId });
	});

	it("reports both transporter and cacher up on each node", async () => {
		for (const url of [gatewayUrl, serviceOpsUrl]) {
			const report = await (await fetch(`${url}/readyz`)).json();
			expect(report).toMatchObject({ status: "ready", checks: { database: "up", transporter: "up", cacher: "up" } });
		}
		const metrics = await (await fetch(`${serviceOpsUrl}/metrics`)).text();
		expect(metrics).toContain(`nodeID="${serviceId}"`);
	});

	it("is visible to the operator's REPL, which can call actions", async () => {
		const repl = spawnNode(clusterEnv({ NODE_ID: `repl-${testEnv.runId}`, LOG_LEVEL: "warn" }), "scripts/repl.ts");
		processes.push(repl);
		try {
			await new Promise((resolve) => setTimeout(resolve, 2_500));
			repl.child.stdin?.write("nodes\n");
			await repl.waitFor(new RegExp(serviceId), 15_000);
			await repl.waitFor(new RegExp(gatewayId), 5_000);
			repl.child.stdin?.write("call status.nodes\n");
			await repl.waitFor(/domains:/, 10_000);
			repl.child.stdin?.write("call status.ping\n");
			await repl.waitFor(/pong/, 10_000);
		} finally {
			await repl.stop("SIGKILL");
		}
	}, 60_000);

	it("answers 503 problem+json fast once the service node is gone, and recovers when it is back", async () => {
		await serviceNode.stop("SIGTERM");
		// The gateway learns of a graceful stop at once (DISCONNECT packet); give the registry a moment.
		await new Promise((resolve) => setTimeout(resolve, 1_000));
		const started = Date.now();
		const response = await fetch(`${gatewayUrl}/api/v1/status/ping`);
		const elapsed = Date.now() - started;
		expect(response.status).toBe(503);
		expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
		expect(await response.json()).toMatchObject({ status: 503, code: "SERVICE_UNAVAILABLE", requestId: expect.any(String) });
		expect(elapsed).toBeLessThan(1_500);

		const restarted = spawnNode(clusterEnv({ SERVICES: "platform", NODE_ID: `${serviceId}-2`, OPS_PORT: "0" }));
		processes.push(restarted);
		const back = await waitForHttp(`${gatewayUrl}/api/v1/status/ping`, 200, 30_000);
		expect(await back.json()).toMatchObject({ nodeID: `${serviceId}-2` });
	}, 60_000);
});
