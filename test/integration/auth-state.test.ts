/**
 * Issue 12 on one identity node: a token's signature is checked once, and tokens naming unknown signing keys
 * don't reload the key ring from PostgreSQL on every request.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { uniqueEmail } from "../helpers/api";
import type { KeyRing } from "../../services/identity/access-tokens";

let node: RunningNode;

beforeAll(async () => {
	node = await startNode({ SERVICES: "identity,platform" });
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

function forged(kid: string): string {
	const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
	return `${part({ alg: "ES256", kid, typ: "JWT" })}.${part({ sub: "x", exp: Math.floor(Date.now() / 1000) + 600 })}.${Buffer.alloc(64, 1).toString("base64url")}`;
}

describe("finding 12: the key ring and verified tokens", () => {
	it("finding 12: tokens with unknown kids reload the key ring at most once per interval", async () => {
		const auth = node.broker.getLocalService("auth") as unknown as { reloadKeys(): Promise<void>; keysLoadedAt: number };
		auth.keysLoadedAt = 0;
		const reloads = vi.spyOn(auth, "reloadKeys");
		const results = await Promise.allSettled(
			Array.from({ length: 30 }, (_, index) => node.broker.call("auth.resolveCredentials", { token: forged(`k_unknown_${index}`) }, { meta: { $system: true } })),
		);
		expect(results.every((result) => result.status === "rejected" && (result.reason as { type?: string }).type === "INVALID_TOKEN")).toBe(true);
		expect(reloads.mock.calls.length).toBeLessThanOrEqual(1);
		reloads.mockRestore();
	});

	it("finding 12: a valid token's signature is verified once, then remembered until it expires", async () => {
		const registered = await node.broker.call<{ accessToken: string }, object>("auth.register", { email: uniqueEmail("once"), password: "correct horse battery", fullName: "Once" });
		const auth = node.broker.getLocalService("auth") as unknown as { keyRing: KeyRing };
		const verify = vi.spyOn(auth.keyRing, "verify");
		for (let index = 0; index < 5; index += 1) {
			const caller = await node.broker.call<{ role?: string }, object>("auth.resolveCredentials", { token: registered.accessToken }, { meta: { $system: true } });
			expect(caller.role).toBe("owner");
		}
		expect(verify.mock.calls.length).toBeLessThanOrEqual(1);
		verify.mockRestore();
	});
});
