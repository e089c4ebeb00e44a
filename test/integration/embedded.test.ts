/**
 * What a newcomer gets from `npm start` with no configuration: one process, an embedded PostgreSQL under
 * DATA_DIR, and a gateway that is ready within seconds; and the same data directory on the next start.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { baseEnv, freePort, spawnNode, waitForHttp, type NodeProcess } from "../helpers/nodes";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lattice-embedded-"));
let running: NodeProcess | undefined;

afterAll(async () => {
	await running?.stop();
	fs.rmSync(dataDir, { recursive: true, force: true });
});

async function startEmbedded(): Promise<string> {
	const [port, postgresPort] = await Promise.all([freePort(), freePort()]);
	running = spawnNode(baseEnv({ DATABASE_URL: undefined, TRANSPORTER: undefined, CACHER: undefined, DATA_DIR: dataDir, PORT: String(port), EMBEDDED_POSTGRES_PORT: String(postgresPort), LOG_LEVEL: "info" }));
	const url = `http://127.0.0.1:${port}`;
	await waitForHttp(`${url}/readyz`, 200, 60_000);
	return url;
}

describe("npm start with nothing configured", () => {
	it("runs everything on one node with its own PostgreSQL", async () => {
		const url = await startEmbedded();
		const report = await (await fetch(`${url}/readyz`)).json();
		expect(report).toMatchObject({ status: "ready", checks: { database: "up", transporter: "not_configured", cacher: "not_configured", storage: "up" } });
		expect(fs.existsSync(path.join(dataDir, "postgres", "PG_VERSION"))).toBe(true);
		expect((await fetch(`${url}/api/v1/status/ping`)).status).toBe(200);
		const missing = await fetch(`${url}/api/v1/does-not-exist`);
		expect(missing.status).toBe(404);
		expect(await missing.json()).toMatchObject({ status: 404, requestId: expect.any(String) });
		expect(await running!.stop()).toBe(0);
	}, 90_000);

	it("starts again on the same data directory", async () => {
		const url = await startEmbedded();
		expect((await fetch(`${url}/readyz`)).status).toBe(200);
		expect(running!.output()).not.toMatch(/Initialising the embedded PostgreSQL/);
	}, 90_000);

	it("stops with a message naming a bad variable", async () => {
		const bad = spawnNode(baseEnv({ PORT: "not-a-port" }));
		const code = await new Promise<number | null>((resolve) => bad.child.once("exit", resolve));
		expect(code).toBe(78);
		expect(bad.output()).toContain("PORT");
	});
});
