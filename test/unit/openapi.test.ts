import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { Validator } from "@seriousme/openapi-schema-validator";
import {
	buildOpenApiDocument,
	convertRule,
	resolveActionRoutes,
	type LiveAlias,
	type OpenApiDocument,
	type OpenApiOperation,
	type OpenApiParameter,
	type HttpMethod,
} from "../../lib/openapi";
import { renderApiDocsPage, renderApiDocsInitScript, swaggerUiAssetsDir } from "../../lib/api-docs";
import { CLOSE_CODES, REALTIME_PATH, REALTIME_PATH_ITEM } from "../../services/gateway/realtime.service";
import { IDEMPOTENCY_KEY_PATTERN } from "../../lib/idempotency";
import { pageSchema } from "../../mixins/db.mixin";
import FilesService from "../../services/files/files.service";
import { PRESIGNED_UPLOAD_SCHEMA, PUBLIC_FILE_SCHEMA } from "../../models/files/files/file.model";
import fs from "node:fs";
import path from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ApiGateway: ServiceSchema = require("moleculer-web");

const BASE = "/api/v1";

function noop(): string {
	return "ok";
}

const greeter: ServiceSchema = {
	name: "greeter",
	actions: {
		hello: {
			rest: "GET /hello",
			auth: "public",
			summary: "Say hello",
			params: { name: "string|min:3|optional", times: "number|integer|positive|convert:true|default:1" },
			handler: noop,
		},
		welcome: { rest: "/welcome", params: { name: { type: "string", trim: true, max: 40 } }, handler: noop },
		byObject: { rest: { method: "PUT", path: "/things/:id" }, params: { id: "string", label: "string" }, handler: noop },
		// No path: moleculer-web appends the raw action name to the base path.
		lookup: { rest: { method: "GET" }, handler: noop },
		// basePath replaces the service base path and is concatenated without a separator.
		relocated: { rest: { method: "DELETE", basePath: "/elsewhere", path: "/things/:thingId" }, handler: noop },
		// fullPath is used verbatim, outside the /api/v1 route.
		external: { rest: { method: "GET", fullPath: "/status/greeter" }, auth: "public", handler: noop },
		multi: {
			rest: ["GET /slugs/:slug", "PATCH /slugs/:slug"],
			params: { slug: "string", note: "string|optional" },
			handler: noop,
		},
		multiObject: {
			rest: [{ method: "POST", path: "/batches" }, { method: "GET", path: "/batches/:batchId" }],
			params: { batchId: "string|optional", size: "number|optional" },
			handler: noop,
		},
		notRest: { handler: noop },
		internal: { rest: "GET /internal", visibility: "public", handler: noop },
	},
};

const users: ServiceSchema = {
	name: "users",
	version: 2,
	actions: {
		create: {
			rest: "POST /",
			permissions: ["super_admin"],
			summary: "Create a user",
			description: "Creates a platform user.",
			params: {
				$$strict: true,
				email: "email",
				role: { type: "enum", values: ["admin", "member"], default: "member" },
				tags: { type: "array", items: "string", min: 1, max: 5, optional: true },
				address: {
					$$type: "object|optional",
					street: "string",
					zip: { type: "string", pattern: /^\d{5}$/ },
				},
				password: { type: "forbidden" },
				website: { type: "url", optional: true, nullable: true },
				nickname: [{ type: "string" }, { type: "number" }],
			},
			handler: noop,
		},
		get: {
			rest: "GET /:id",
			params: { id: "uuid", fields: { type: "array", items: "string", optional: true } },
			openapi: {
				responses: {
					"200": {
						description: "The user",
						content: { "application/json": { schema: { type: "object", properties: { id: { type: "string" } } } } },
					},
				},
			},
			handler: noop,
		},
		list: {
			rest: "GET /",
			auth: "optional",
			params: {
				page: { type: "number", integer: true, min: 1, convert: true, optional: true },
				filter: { type: "object", optional: true, props: { active: "boolean|optional" } },
				since: { type: "date", convert: true, optional: true },
			},
			handler: noop,
		},
		remove: { rest: "DELETE /:id", permissions: ["super_admin", "tenant:admin"], params: { id: "uuid" }, handler: noop },
	},
};

const custom: ServiceSchema = {
	name: "custom",
	settings: { rest: "/custom" },
	actions: { status: { rest: "GET /status", auth: "public", handler: noop } },
};

const catalog: ServiceSchema = {
	name: "catalog",
	settings: { rest: ["/catalog", "/shop/catalog"] },
	actions: { item: { rest: "GET /items/:sku", params: { sku: "string|min:2" }, handler: noop } },
};

/** Bodies that aren't JSON: file parts, a raw stream, and a signed body checked over its bytes. */
const uploads: ServiceSchema = {
	name: "uploads",
	actions: {
		upload: {
			rest: { method: "POST", path: "/", type: "multipart", busboyConfig: { limits: { files: 1, fileSize: 1024 } } },
			headers: ["content-length"],
			params: { $fieldname: "string", $filename: "string", $mimetype: "string|optional", name: "string|optional|max:100", $$strict: "remove" },
			openapi: { fileParts: ["file"], responses: { "201": { description: "Stored" } } },
			handler: noop,
		},
		attach: { rest: { method: "POST", path: "/:id/attachments", type: "multipart" }, params: { id: "string" }, handler: noop },
		raw: { rest: { method: "PUT", path: "/:id/raw", type: "stream" }, params: { id: "string", name: "string|optional" }, handler: noop },
		hook: { rest: "POST /hook", auth: "public", rawBody: true, headers: ["x-signature", "Content-Type"], params: { $$strict: false }, handler: noop },
	},
};

/** Opt-ins the gateway honours per action: an Idempotency-Key, and the cookies an action reads. */
const shop: ServiceSchema = {
	name: "shop",
	actions: {
		// Declaring the key as a header too must not document it twice.
		place: { rest: "POST /orders", idempotent: true, headers: ["Idempotency-Key", "x-trace"], params: { sku: "string" }, handler: noop },
		// No params and no body: only the key can be malformed.
		touch: { rest: "POST /touch", idempotent: true, handler: noop },
		callback: { rest: "GET /callback", auth: "public", cookies: ["oauth_state", "oauth_state", "Theme"], params: { code: "string|optional" }, handler: noop },
		// What the action declares still wins over the generic entries.
		claim: { rest: "POST /claims", idempotent: true, params: { code: "string" }, openapi: { responses: { "201": { description: "Claimed" }, "409": { description: "Already claimed" } } }, handler: noop },
	},
};

const internalService: ServiceSchema = {
	name: "$internal",
	actions: { ping: { rest: "GET /ping", auth: "public", handler: noop } },
};

interface ListedAlias {
	actionName: string;
	fullPath: string;
	methods: string;
}

let broker: ServiceBroker;
let doc: OpenApiDocument;
let aliases: ListedAlias[];

function isListedAlias(value: unknown): value is ListedAlias {
	if (typeof value !== "object" || value === null) return false;
	const alias = value as Record<string, unknown>;
	return typeof alias.actionName === "string" && typeof alias.fullPath === "string" && typeof alias.methods === "string";
}

function operation(pathKey: string, method: HttpMethod): OpenApiOperation {
	const found = doc.paths[pathKey]?.[method];
	if (!found) throw new Error(`No ${method.toUpperCase()} ${pathKey} in the document`);
	return found;
}

function parameter(op: OpenApiOperation, name: string): OpenApiParameter | undefined {
	return op.parameters?.find((item) => item.name === name);
}

function documentedRoutes(document: OpenApiDocument): string[] {
	const routes: string[] = [];
	for (const [pathKey, item] of Object.entries(document.paths)) {
		for (const method of ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const) {
			if (item[method]) routes.push(`${method.toUpperCase()} ${pathKey}`);
		}
	}
	return routes.sort();
}

/** moleculer-web aliases as "METHOD /path/{param}"; a "*" alias is documented as GET and POST. */
function gatewayRoutes(list: ListedAlias[]): string[] {
	const routes = list.flatMap((alias) => {
		const pathKey = alias.fullPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
		const methods = alias.methods === "*" ? ["GET", "POST"] : [alias.methods];
		return methods.map((method) => `${method} ${pathKey}`);
	});
	return [...new Set(routes)].sort();
}

beforeAll(async () => {
	broker = new ServiceBroker({ logger: false });
	let markRegenerated: () => void = () => undefined;
	const regenerated = new Promise<void>((resolve) => (markRegenerated = resolve));
	broker.createService({ name: "aliasWatcher", events: { "$api.aliases.regenerated": () => markRegenerated() } });
	for (const schema of [greeter, users, custom, catalog, uploads, shop, internalService]) broker.createService(schema);
	broker.createService({
		name: "api",
		mixins: [ApiGateway],
		settings: { port: 0, routes: [{ path: BASE, autoAliases: true }] },
	});
	await broker.start();
	// The gateway regenerates aliases (debounced) after the last $services.changed.
	await regenerated;

	const listed: unknown = await broker.call("api.listAliases");
	aliases = Array.isArray(listed) ? listed.filter(isListedAlias) : [];
	doc = buildOpenApiDocument(broker.registry.getServiceList({ withActions: true, grouping: true }), {
		title: "Lattice API",
		version: "1.0.0",
		basePath: BASE,
		description: "Test document",
		extraPaths: {
			"/healthz": { get: { operationId: "healthz", security: [], responses: { "200": { description: "Alive" } } } },
			[REALTIME_PATH]: REALTIME_PATH_ITEM,
		},
	});
}, 15_000);

afterAll(async () => {
	await broker?.stop();
});

describe("buildOpenApiDocument", () => {
	it("built from the gateway's live aliases, documents the same operations as from the alias rules", () => {
		const gateway = broker.getLocalService("api") as unknown as { aliases: LiveAlias[] };
		expect(gateway.aliases.length).toBeGreaterThan(10);
		const options = { title: "Lattice API", version: "1.0.0", basePath: BASE, description: "Test document", extraPaths: { "/healthz": doc.paths["/healthz"], [REALTIME_PATH]: REALTIME_PATH_ITEM } };
		const live = buildOpenApiDocument(broker.registry.getServiceList({ withActions: true, grouping: true }), { ...options, aliases: gateway.aliases });
		expect(live.paths).toEqual(doc.paths);
		expect(live.tags).toEqual(doc.tags);
		// A route the gateway hasn't generated (a service that only just joined) isn't in the document yet.
		const some = gateway.aliases.filter((alias) => alias.action !== "greeter.hello");
		const partial = buildOpenApiDocument(broker.registry.getServiceList({ withActions: true, grouping: true }), { ...options, aliases: some });
		expect(Object.values(partial.paths).flatMap((item) => Object.values(item).map((op) => (op as OpenApiOperation).operationId))).not.toContain("greeter.hello");
	});

	it("documents exactly the routes moleculer-web serves", () => {
		const served = gatewayRoutes(aliases.filter((alias) => !alias.actionName.startsWith("$")));
		const documented = documentedRoutes(doc).filter((route) => route !== "GET /healthz" && route !== "GET /ws");
		expect(documented).toEqual(served);
		expect(served.length).toBeGreaterThan(10);
	});

	it("skips $ services even though moleculer-web publishes them", () => {
		expect(aliases.some((alias) => alias.actionName === "$internal.ping")).toBe(true);
		expect(Object.keys(doc.paths).some((key) => key.includes("ping"))).toBe(false);
	});

	it("is a valid OpenAPI 3.1 document", async () => {
		const result = await new Validator().validate(JSON.parse(JSON.stringify(doc)));
		expect(result.errors).toBeUndefined();
		expect(result.valid).toBe(true);
		expect(doc.openapi).toBe("3.1.0");
		expect(doc.servers).toEqual([{ url: "/" }]);
		expect(doc.info).toEqual({ title: "Lattice API", version: "1.0.0", description: "Test document" });
	});

	it("resolves every rest notation to the real path", () => {
		expect(Object.keys(doc.paths)).toEqual(
			expect.arrayContaining([
				"/api/v1/greeter/hello",
				"/api/v1/greeter/welcome",
				"/api/v1/greeter/things/{id}",
				"/api/v1/greeter/lookup",
				"/api/v1/elsewhere/things/{thingId}",
				"/status/greeter",
				"/api/v1/greeter/slugs/{slug}",
				"/api/v1/greeter/batches",
				"/api/v1/greeter/batches/{batchId}",
				"/api/v1/v2/users",
				"/api/v1/v2/users/{id}",
				"/api/v1/custom/status",
				"/api/v1/catalog/items/{sku}",
				"/api/v1/shop/catalog/items/{sku}",
				"/healthz",
			]),
		);
		expect(Object.keys(doc.paths["/api/v1/greeter/welcome"]).sort()).toEqual(["get", "post"]);
		expect(Object.keys(doc.paths["/api/v1/greeter/slugs/{slug}"]).sort()).toEqual(["get", "patch"]);
		expect(Object.keys(doc.paths).some((key) => key.includes("internal") || key.includes("notRest"))).toBe(false);
	});

	it("turns shorthand rules into query parameters for GET", () => {
		const hello = operation("/api/v1/greeter/hello", "get");
		expect(hello.operationId).toBe("greeter.hello");
		expect(hello.tags).toEqual(["greeter"]);
		expect(hello.summary).toBe("Say hello");
		expect(hello.parameters).toEqual([
			{ name: "name", in: "query", required: false, schema: { type: "string", minLength: 3 } },
			{ name: "times", in: "query", required: false, schema: { type: "integer", exclusiveMinimum: 0, default: 1 } },
		]);
		expect(hello.requestBody).toBeUndefined();
	});

	it("documents a method-less rest string as GET and POST with unique operationIds", () => {
		const get = operation("/api/v1/greeter/welcome", "get");
		const post = operation("/api/v1/greeter/welcome", "post");
		expect(get.operationId).toBe("greeter.welcome");
		expect(post.operationId).toBe("greeter.welcome.post");
		expect(parameter(get, "name")).toEqual({
			name: "name",
			in: "query",
			required: true,
			schema: { type: "string", maxLength: 40, description: "The server normalises this value (trimmed)." },
		});
		expect(post.requestBody).toEqual({
			required: true,
			content: {
				"application/json": {
					schema: {
						type: "object",
						properties: { name: { type: "string", maxLength: 40, description: "The server normalises this value (trimmed)." } },
						required: ["name"],
					},
				},
			},
		});
	});

	it("splits path params from the JSON body for PUT", () => {
		const put = operation("/api/v1/greeter/things/{id}", "put");
		expect(put.parameters).toEqual([{ name: "id", in: "path", required: true, schema: { type: "string" } }]);
		expect(put.requestBody?.content["application/json"].schema).toEqual({
			type: "object",
			properties: { label: { type: "string" } },
			required: ["label"],
		});
		expect(Object.keys(put.responses).sort()).toEqual(["200", "400", "401", "403", "404", "413", "429", "503", "default"]);
	});

	it("handles an array of rest objects", () => {
		const post = operation("/api/v1/greeter/batches", "post");
		expect(post.parameters).toBeUndefined();
		// Every property is optional, so the body is too; batchId is not a path param on this route.
		expect(post.requestBody).toEqual({
			required: false,
			content: {
				"application/json": {
					schema: { type: "object", properties: { batchId: { type: "string" }, size: { type: "number" } } },
				},
			},
		});
		const get = operation("/api/v1/greeter/batches/{batchId}", "get");
		expect(get.operationId).toBe("greeter.multiObject.get");
		expect(get.parameters).toEqual([
			{ name: "batchId", in: "path", required: true, schema: { type: "string" } },
			{ name: "size", in: "query", required: false, schema: { type: "number" } },
		]);
	});

	it("declares undeclared path params as strings", () => {
		const del = operation("/api/v1/elsewhere/things/{thingId}", "delete");
		expect(del.parameters).toEqual([{ name: "thingId", in: "path", required: true, schema: { type: "string" } }]);
		expect(del.responses["400"]).toBeUndefined();
	});

	it("converts nested objects, enums, forbidden, nullable, multi and $$strict", () => {
		const create = operation("/api/v1/v2/users", "post");
		expect(create.operationId).toBe("v2.users.create");
		expect(create.tags).toEqual(["users"]);
		expect(create.description).toBe("Creates a platform user.\n\nRequires: super_admin");
		expect(create.requestBody).toEqual({
			required: true,
			content: {
				"application/json": {
					schema: {
						type: "object",
						properties: {
							email: { type: "string", format: "email" },
							role: { enum: ["admin", "member"], default: "member" },
							tags: { type: "array", items: { type: "string" }, minItems: 1, maxItems: 5 },
							address: {
								type: "object",
								properties: { street: { type: "string" }, zip: { type: "string", pattern: "^\\d{5}$" } },
								required: ["street", "zip"],
							},
							website: { type: ["string", "null"], format: "uri" },
							nickname: { anyOf: [{ type: "string" }, { type: "number" }] },
						},
						required: ["email", "nickname"],
						additionalProperties: false,
					},
				},
			},
		});
	});

	it("uses declared responses and keeps the problem responses", () => {
		const get = operation("/api/v1/v2/users/{id}", "get");
		expect(get.responses["200"]).toEqual({
			description: "The user",
			content: { "application/json": { schema: { type: "object", properties: { id: { type: "string" } } } } },
		});
		expect(get.responses.default).toEqual({ $ref: "#/components/responses/Problem" });
		expect(get.parameters).toEqual([
			{ name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } },
			{ name: "fields", in: "query", required: false, schema: { type: "array", items: { type: "string" } }, style: "form", explode: true },
		]);
	});

	it("sends objects as deepObject query parameters", () => {
		const list = operation("/api/v1/v2/users", "get");
		expect(parameter(list, "filter")).toEqual({
			name: "filter",
			in: "query",
			required: false,
			schema: { type: "object", properties: { active: { type: "boolean" } } },
			style: "deepObject",
			explode: true,
		});
		expect(parameter(list, "page")?.schema).toEqual({ type: "integer", minimum: 1 });
		expect(parameter(list, "since")?.schema).toEqual({ type: "string", format: "date-time" });
	});

	it("maps auth modes to security requirements", () => {
		expect(operation("/api/v1/greeter/hello", "get").security).toEqual([]);
		expect(operation("/api/v1/greeter/hello", "get").responses["401"]).toBeUndefined();
		expect(operation("/api/v1/v2/users/{id}", "delete").security).toEqual([{ bearerAuth: [] }, { apiKeyAuth: [] }]);
		expect(operation("/api/v1/v2/users/{id}", "delete").description).toBe("Requires one of: super_admin, tenant:admin");
		expect(operation("/api/v1/v2/users", "get").security).toEqual([{ bearerAuth: [] }, { apiKeyAuth: [] }, {}]);
		expect(doc.components.securitySchemes).toEqual({
			bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
			apiKeyAuth: { type: "apiKey", in: "header", name: "X-API-Key" },
		});
	});

	it("describes errors as RFC 9457 problem details", () => {
		expect(doc.components.responses.Problem.content).toEqual({
			"application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } },
		});
		expect(Object.keys(doc.components.schemas.Problem.properties as object)).toEqual(
			expect.arrayContaining(["type", "title", "status", "detail", "code", "requestId", "errors"]),
		);
	});

	it("documents a multipart action as a form with its fields and a binary file part within the limits", () => {
		const upload = operation("/api/v1/uploads", "post");
		expect(upload.requestBody).toEqual({
			description: expect.stringContaining("Only the first file part is read"),
			required: true,
			content: {
				"multipart/form-data": {
					schema: {
						type: "object",
						properties: {
							name: { type: "string", maxLength: 100 },
							// OpenAPI 3.1's raw binary: a media type and no `type`, maxLength in octets.
							file: { contentMediaType: "application/octet-stream", maxLength: 1024, description: expect.stringContaining("1024 bytes") },
						},
						required: ["file"],
					},
				},
			},
		});
		expect(upload.requestBody?.content["application/json"]).toBeUndefined();
		// Content-Length is the client library's business, not a parameter.
		expect(upload.parameters).toBeUndefined();
		expect(upload.responses).toMatchObject({
			"201": { description: "Stored" },
			"400": { $ref: "#/components/responses/BadRequest" },
			"413": { $ref: "#/components/responses/PayloadTooLarge" },
			"415": { $ref: "#/components/responses/UnsupportedMediaType" },
		});
	});

	it("documents file parts of any name when a multipart action names none, and a list as the answer", () => {
		const attach = operation("/api/v1/uploads/{id}/attachments", "post");
		expect(attach.parameters).toEqual([{ name: "id", in: "path", required: true, schema: { type: "string" } }]);
		expect(attach.requestBody?.content["multipart/form-data"].schema).toEqual({
			type: "object",
			additionalProperties: { contentMediaType: "application/octet-stream", description: expect.any(String) },
		});
		expect(attach.requestBody?.description).toContain("the answer lists their results");
		// No size limit on the alias, so no 413 from the gateway.
		expect(attach.responses["413"]).toBeUndefined();
		expect(attach.responses["415"]).toEqual({ $ref: "#/components/responses/UnsupportedMediaType" });
	});

	it("documents a stream action's body as raw bytes and its other params in the query", () => {
		const raw = operation("/api/v1/uploads/{id}/raw", "put");
		expect(raw.requestBody).toEqual({ description: expect.stringContaining("streamed"), required: true, content: { "application/octet-stream": {} } });
		expect(raw.parameters).toEqual([
			{ name: "id", in: "path", required: true, schema: { type: "string" } },
			{ name: "name", in: "query", required: false, schema: { type: "string" } },
		]);
	});

	it("documents a raw-body action's signed JSON body and the headers it reads", () => {
		const hook = operation("/api/v1/uploads/hook", "post");
		expect(hook.requestBody).toEqual({
			description: expect.stringContaining("exact bytes"),
			required: true,
			content: { "application/json": { schema: { type: "object" } } },
		});
		expect(hook.parameters).toEqual([{ name: "X-Signature", in: "header", required: false, description: expect.any(String), schema: { type: "string" } }]);
		expect(hook.responses["400"]).toEqual({ $ref: "#/components/responses/BadRequest" });
		expect(hook.security).toEqual([]);
	});

	it("documents an idempotent action's Idempotency-Key as the gateway checks it, and its conflicts", () => {
		const place = operation("/api/v1/shop/orders", "post");
		expect(place.parameters?.map((item) => `${item.in} ${item.name}`)).toEqual(["header X-Trace", "header Idempotency-Key"]);
		const key = parameter(place, "Idempotency-Key");
		expect(key).toMatchObject({ in: "header", required: false, schema: { type: "string", minLength: 1, maxLength: 255, pattern: IDEMPOTENCY_KEY_PATTERN.source } });
		for (const words of ["24 hours", "same parameters", "IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_REQUEST_IN_PROGRESS", "INVALID_IDEMPOTENCY_KEY", "no header marks it as a replay"]) {
			expect(key?.description).toContain(words);
		}
		// The document's pattern accepts and refuses what the gateway does.
		const pattern = new RegExp(String(key?.schema.pattern), "u");
		for (const sample of ["k", "k".repeat(255), "order 42: ~!"]) expect(pattern.test(sample)).toBe(true);
		for (const sample of ["", "k".repeat(256), "caf\u00e9", "tab\there"]) expect(pattern.test(sample)).toBe(false);
		expect(place.responses).toMatchObject({
			"400": { $ref: "#/components/responses/BadRequest" },
			"409": { $ref: "#/components/responses/IdempotencyInProgress" },
			"413": { $ref: "#/components/responses/PayloadTooLarge" },
			"422": { $ref: "#/components/responses/IdempotencyKeyReused" },
		});
		expect(doc.components.responses.IdempotencyInProgress.description).toContain("IDEMPOTENCY_REQUEST_IN_PROGRESS");
		expect(doc.components.responses.IdempotencyKeyReused.description).toContain("IDEMPOTENCY_KEY_REUSED");

		// A malformed key is a 400 even where nothing else can be.
		const touch = operation("/api/v1/shop/touch", "post");
		expect(touch.requestBody).toBeUndefined();
		expect(Object.keys(touch.responses)).toEqual(["200", "400", "401", "403", "409", "422", "429", "503", "default"]);
		expect(operation("/api/v1/shop/claims", "post").responses["409"]).toEqual({ description: "Already claimed" });

		// Actions that don't opt in neither read the header nor answer its conflicts.
		const create = operation("/api/v1/v2/users", "post");
		expect(parameter(create, "Idempotency-Key")).toBeUndefined();
		expect(create.responses["409"]).toBeUndefined();
		expect(create.responses["422"]).toBeUndefined();
	});

	it("documents the cookies an action reads as cookie parameters", () => {
		const callback = operation("/api/v1/shop/callback", "get");
		expect(callback.parameters).toEqual([
			{ name: "code", in: "query", required: false, schema: { type: "string" } },
			{ name: "oauth_state", in: "cookie", required: false, description: expect.any(String), schema: { type: "string" } },
			// Cookie names are case-sensitive: kept as declared.
			{ name: "Theme", in: "cookie", required: false, description: expect.any(String), schema: { type: "string" } },
		]);
		expect(operation("/api/v1/greeter/hello", "get").parameters?.some((item) => item.in === "cookie")).toBe(false);
	});

	it("lists 413 on every operation with a JSON body, and only there", () => {
		const tooLarge = { $ref: "#/components/responses/PayloadTooLarge" };
		for (const [pathKey, method] of [
			["/api/v1/v2/users", "post"],
			["/api/v1/greeter/welcome", "post"],
			["/api/v1/greeter/things/{id}", "put"],
			["/api/v1/uploads/hook", "post"],
		] as const) {
			expect(operation(pathKey, method).requestBody?.content["application/json"]).toBeDefined();
			expect(operation(pathKey, method).responses["413"]).toEqual(tooLarge);
		}
		// No body (a GET, a POST without params), or a body the JSON parser never reads.
		expect(operation("/api/v1/greeter/welcome", "get").responses["413"]).toBeUndefined();
		expect(operation("/api/v1/shop/touch", "post").responses["413"]).toBeUndefined();
		expect(operation("/api/v1/uploads/{id}/raw", "put").responses["413"]).toBeUndefined();
		for (const [pathKey, item] of Object.entries(doc.paths)) {
			for (const op of Object.values(item) as OpenApiOperation[]) {
				if (op.requestBody?.content["application/json"]) expect(op.responses["413"], `${pathKey} ${op.operationId}`).toEqual(tooLarge);
			}
		}
	});

	it("documents the files endpoints' answers as the file entity, or a page of them", async () => {
		// The real files actions as the registry lists them; their routes don't need a running files node.
		const actions = Object.fromEntries(Object.entries(FilesService.actions ?? {}).map(([rawName, action]) => [rawName, { ...(action as object), name: `files.${rawName}`, rawName }]));
		const filesDoc = buildOpenApiDocument([{ name: "files", settings: {}, actions }], { title: "Files", version: "1", basePath: BASE });
		const answer = (pathKey: string, method: HttpMethod, status: string) => {
			const response = filesDoc.paths[pathKey]?.[method]?.responses[status];
			return response && "content" in response ? response.content?.["application/json"]?.schema : undefined;
		};
		expect(answer("/api/v1/files/{id}", "get", "200")).toEqual(PUBLIC_FILE_SCHEMA);
		expect(answer("/api/v1/files/{id}/complete", "post", "200")).toEqual(PUBLIC_FILE_SCHEMA);
		expect(filesDoc.paths["/api/v1/files/{id}/complete"]?.post?.responses).toMatchObject({
			"409": { $ref: "#/components/responses/Problem", description: expect.stringContaining("UPLOAD_INCOMPLETE") },
			"422": { $ref: "#/components/responses/Problem", description: expect.stringContaining("SIZE_MISMATCH") },
		});
		expect(answer("/api/v1/files", "get", "200")).toEqual(pageSchema(PUBLIC_FILE_SCHEMA));
		expect(answer("/api/v1/files/upload-url", "post", "201")).toEqual(PRESIGNED_UPLOAD_SCHEMA);
		expect(PRESIGNED_UPLOAD_SCHEMA.properties.file).toBe(PUBLIC_FILE_SCHEMA);
		expect(pageSchema(PUBLIC_FILE_SCHEMA)).toMatchObject({ properties: { rows: { type: "array", items: PUBLIC_FILE_SCHEMA } }, required: ["rows", "total", "page", "pageSize", "totalPages"] });
		const result = await new Validator().validate(JSON.parse(JSON.stringify(filesDoc)));
		expect(result.errors).toBeUndefined();
		expect(result.valid).toBe(true);
	});

	it("documents the WebSocket handshake, its refusals and its messages", () => {
		const ws = operation("/ws", "get");
		expect(parameter(ws, "access_token")).toMatchObject({ in: "query", required: false, schema: { type: "string" } });
		expect(ws.responses["101"]).toMatchObject({ description: expect.stringContaining("Switching Protocols"), headers: { Upgrade: { schema: { const: "websocket" } } } });
		expect(ws.responses).toMatchObject({
			"401": { $ref: "#/components/responses/Unauthorized" },
			"429": { $ref: "#/components/responses/TooManyRequests" },
			"503": { $ref: "#/components/responses/ServiceUnavailable" },
		});
		expect(ws.security).toEqual([{ bearerAuth: [] }]);
		for (const kind of ["ready", "notification", "event", "read", "pong", "error"]) expect(ws.description).toContain(`"kind":"${kind}"`);
		for (const type of ["ping", "authenticate"]) expect(ws.description).toContain(`"type":"${type}"`);
		for (const code of Object.values(CLOSE_CODES)) expect(ws.description).toContain(String(code));
	});

	it("merges extra paths and applies settings.rest", () => {
		expect(doc.paths["/healthz"].get?.operationId).toBe("healthz");
		expect(operation("/api/v1/custom/status", "get").operationId).toBe("custom.status");
		expect(operation("/api/v1/shop/catalog/items/{sku}", "get").operationId).toBe("catalog.item.get");
	});

	it("skips duplicate service instances and services without rest", () => {
		const list = broker.registry.getServiceList({ withActions: true, grouping: true });
		const twice = buildOpenApiDocument([...list, ...list], { title: "t", version: "1", basePath: BASE });
		expect(documentedRoutes(twice)).toEqual(documentedRoutes(doc).filter((route) => route !== "GET /healthz" && route !== "GET /ws"));
	});
});

describe("resolveActionRoutes", () => {
	function routesOf(rest: Parameters<typeof resolveActionRoutes>[0]["rest"]): string[] {
		return resolveActionRoutes({ name: "files.get", rawName: "get", rest }, "/files/", BASE).map(
			(route) => `${route.method} ${route.path} [${route.pathParams.join(",")}]`,
		);
	}

	it("converts path-to-regexp wildcards, quoted names and optional groups", () => {
		expect(routesOf("GET /raw/*rest")).toEqual(["get /api/v1/files/raw/{rest} [rest]"]);
		expect(routesOf({ method: "GET", path: '/q/:"file.ext"' })).toEqual(["get /api/v1/files/q/{file.ext} [file.ext]"]);
		expect(routesOf("GET /v{/:id}")).toEqual(["get /api/v1/files/v/{id} [id]", "get /api/v1/files/v []"]);
	});

	it("mirrors moleculer-web's string concatenation and method matching", () => {
		expect(routesOf({ method: "GET", basePath: "/other" })).toEqual(["get /api/v1/otherget []"]);
		expect(routesOf("POST //double//slash/")).toEqual(["post /api/v1/files/double/slash []"]);
		// The gateway compares methods case-sensitively with the upper-case request method.
		expect(routesOf("get /never")).toEqual([]);
		expect(routesOf(null)).toEqual([]);
	});
});

describe("convertRule", () => {
	it("covers the remaining fastest-validator rules", () => {
		expect(convertRule("string[]")?.schema).toEqual({ type: "array", items: { type: "string" } });
		expect(convertRule("boolean|no-convert|optional")).toEqual({ schema: { type: "boolean" }, required: false });
		expect(convertRule({ type: "equal", value: "yes" })?.schema).toEqual({ const: "yes" });
		expect(convertRule({ type: "any" })?.schema).toEqual({});
		expect(convertRule({ type: "forbidden" })).toBeUndefined();
		expect(convertRule({ type: "string", alpha: true, min: 2, empty: false })?.schema).toEqual({
			type: "string",
			minLength: 2,
			pattern: "^[a-zA-Z]+$",
		});
		expect(convertRule({ type: "enum", values: ["a"], nullable: true })?.schema).toEqual({
			anyOf: [{ enum: ["a"] }, { type: "null" }],
		});
		expect(convertRule({ type: "record", key: "string", value: "number" })?.schema).toEqual({
			type: "object",
			propertyNames: { type: "string" },
			additionalProperties: { type: "number" },
		});
		expect(convertRule({ type: "tuple", items: ["number", "number"] })?.schema).toEqual({
			type: "array",
			prefixItems: [{ type: "number" }, { type: "number" }],
			items: false,
			minItems: 2,
			maxItems: 2,
		});
		expect(convertRule({ type: "object", strict: true, props: { a: "string" } })?.schema).toEqual({
			type: "object",
			properties: { a: { type: "string" } },
			required: ["a"],
			additionalProperties: false,
		});
		expect(convertRule({ type: "custom", check: () => true })).toEqual({
			schema: { description: "Validated by the 'custom' rule, which has no JSON Schema equivalent." },
			required: true,
		});
	});
});

describe("API docs page", () => {
	it("references the spec and locally served Swagger UI assets", () => {
		const html = renderApiDocsPage({ title: "Lattice <API>", specUrl: "/api/openapi.json", assetsPath: "/api/docs/assets" });
		expect(html).toContain('data-spec-url="/api/openapi.json"');
		expect(html).toContain('<script src="/api/docs/assets/swagger-ui-bundle.js"></script>');
		expect(html).toContain('<script src="/api/docs/assets/init.js"></script>');
		expect(html).toContain('href="/api/docs/assets/swagger-ui.css"');
		expect(html).toContain("<title>Lattice &lt;API&gt;</title>");
		expect(html).not.toMatch(/<script>(?!<\/script>)/);
		expect(html).not.toMatch(/https?:\/\//);
	});

	it("initialises Swagger UI from a separate script", () => {
		const script = renderApiDocsInitScript("/api/openapi.json");
		expect(script).toContain("SwaggerUIBundle(");
		expect(script).toContain('"/api/openapi.json"');
		expect(script).toContain('dom_id: "#swagger-ui"');
	});

	it("finds the swagger-ui-dist assets on disk", () => {
		const dir = swaggerUiAssetsDir();
		expect(fs.existsSync(path.join(dir, "swagger-ui-bundle.js"))).toBe(true);
		expect(fs.existsSync(path.join(dir, "swagger-ui.css"))).toBe(true);
	});
});
