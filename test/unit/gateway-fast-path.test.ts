/**
 * The gateway's fast path picks exactly the alias moleculer-web would for any URL, and takes only the
 * requests it can answer identically (plain "call" aliases of the /api/v1 route); everything else is left
 * to moleculer-web. test/integration/gateway.test.ts compares whole answers of both paths.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IncomingMessage } from "node:http";
import { ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { GatewayFastPath, type GatewayAlias, type GatewayInternals, type GatewayRoute } from "../../lib/gateway/fast-path";

const broker = new ServiceBroker({ logger: false, metrics: false });
const handler = () => null;

broker.createService({
	name: "things",
	actions: {
		list: { rest: "GET /", handler },
		me: { rest: "GET /me", handler },
		get: { rest: "GET /:id", handler },
		part: { rest: "GET /:id/parts/:part", handler },
		replace: { rest: "PUT /:id", handler },
		anyMethod: { rest: "/any", handler },
		// A multipart upload alias (moleculer-web streams the files to the action); the typings list no `type`.
		upload: { rest: { method: "POST", path: "/upload", type: "multipart" } as never, handler },
		hidden: { rest: "GET /hidden", visibility: "public", handler },
	},
});
broker.createService({ name: "other-things", version: 2, actions: { list: { rest: "GET /", handler }, get: { rest: "GET /:id", handler } } });

type Gateway = GatewayInternals & {
	routes: GatewayRoute[];
	resolveAlias(url: string, method: string): { alias: GatewayAlias; params: Record<string, unknown> } | false;
	regenerateAutoAliases(route: GatewayRoute): void;
};

const gateway = broker.createService({
	name: "api",
	mixins: [ApiGateway as never],
	settings: {
		server: false,
		logRouteRegistration: false,
		routes: [
			{ path: "/api/v1", autoAliases: true, mappingPolicy: "restrict" },
			{ path: "", mappingPolicy: "restrict", aliases: { "GET /healthz": handler, "GET /api/v1-docs/:file": handler } },
		],
	},
}) as unknown as Gateway;

let apiRoute: GatewayRoute;
let fastPath: GatewayFastPath;

beforeAll(async () => {
	await broker.start();
	apiRoute = gateway.routes.find((route) => route.path === "/api/v1")!;
	gateway.regenerateAutoAliases(apiRoute);
	fastPath = new GatewayFastPath(gateway, apiRoute, false);
});

afterAll(() => broker.stop());

const requests: Array<[string, string]> = [
	["GET", "/api/v1/things"],
	["GET", "/api/v1/things/"],
	["GET", "/api/v1/things/me"],
	["GET", "/api/v1/things/42"],
	["GET", "/api/v1/things/42?expand=parts&x=1"],
	["GET", "/api/v1/Things/42"],
	["GET", "/api/v1/THINGS/ME"],
	["GET", "/api/v1/things/a%20b"],
	["GET", "/api/v1/things/42/parts/7"],
	["GET", "/api/v1/things/42/parts"],
	["GET", "/api/v1/things/42/extra/deep"],
	["PUT", "/api/v1/things/42"],
	["DELETE", "/api/v1/things/42"],
	["GET", "/api/v1/things/any"],
	["PATCH", "/api/v1/things/any"],
	["POST", "/api/v1/things/upload"],
	["GET", "/api/v1/things/hidden"],
	["GET", "/api/v1/v2/other-things"],
	["GET", "/api/v1/v2/other-things/9"],
	["GET", "/api/v1/nothing"],
	["GET", "/api/v1-docs/x"],
	["GET", "/healthz"],
	["HEAD", "/api/v1/things/42"],
	["OPTIONS", "/api/v1/things/42"],
];

describe("gateway fast path", () => {
	it.each(requests)("%s %s resolves as moleculer-web resolves it", (method, url) => {
		const path = url.split("?")[0].replace(/(.)\/$/, "$1");
		const expected = gateway.resolveAlias(path, method);
		const served = fastPath.match({ method, url, headers: {} } as IncomingMessage);
		const fastAnswerable =
			expected !== false &&
			["GET", "POST", "PUT", "PATCH", "DELETE"].includes(method) &&
			expected.alias.route === apiRoute &&
			expected.alias.type === "call" &&
			expected.alias.handler == null;
		if (fastAnswerable) {
			expect(served?.alias).toBe(expected.alias);
			expect(served?.params).toEqual(expected.params);
		} else {
			expect(served).toBeUndefined();
		}
	});

	it("serves the plain aliases and leaves multipart uploads to moleculer-web", () => {
		const match = (method: string, url: string) => fastPath.match({ method, url, headers: {} } as IncomingMessage);
		expect(match("GET", "/api/v1/things/me")?.alias.action).toBe("things.me");
		expect(match("GET", "/api/v1/things/42")?.params).toEqual({ id: "42" });
		expect(match("GET", "/api/v1/v2/other-things/9")?.alias.action).toBe("v2.other-things.get");
		expect(match("POST", "/api/v1/things/upload")).toBeUndefined();
	});

	it("issue 12: a remembered path resolves anew once the aliases change (a service joins or leaves)", async () => {
		const match = (url: string) => fastPath.match({ method: "GET", url, headers: {} } as IncomingMessage);
		const first = match("/api/v1/things/42");
		expect(match("/api/v1/things/42")).toEqual(first);
		expect(match("/api/v1/late/x")).toBeUndefined();
		const late = await broker.createService({ name: "late", actions: { x: { rest: "GET /x", handler } } });
		await broker.waitForServices("late");
		gateway.regenerateAutoAliases(apiRoute);
		expect(match("/api/v1/late/x")?.alias.action).toBe("late.x");
		expect(match("/api/v1/late/x")?.alias.action).toBe("late.x");
		expect(match("/api/v1/things/42")?.params).toEqual({ id: "42" });
		await broker.destroyService(late);
		gateway.regenerateAutoAliases(apiRoute);
		expect(match("/api/v1/late/x")).toBeUndefined();
		// The remembered parameters are copied by the caller, never handed out to be changed.
		expect(Object.isFrozen(match("/api/v1/things/42")?.params)).toBe(true);
	});
});
