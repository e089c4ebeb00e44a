/**
 * The OpenAPI 3.1 document is derived from the live service registry so it can never drift from what the
 * gateway really serves. The gateway passes the aliases moleculer-web actually generated (`aliases`): the
 * document lists exactly those routes, each documented from its action's declaration. Without them (a
 * document built away from a gateway), routes are derived by lib/openapi/aliases.ts, which re-implements
 * moleculer-web 0.11's auto-alias rules; the unit test checks both ways give the same document.
 *
 * This file builds the document; its parts are in lib/openapi/: types.ts (shapes and shared constants),
 * aliases.ts (moleculer-web's alias rules, and live aliases to routes), schemas.ts (fastest-validator rules →
 * JSON Schema) and operations.ts (one action on one route, with its declared answers).
 */
import { addSlashes, normalizePath, resolveActionRoutes, resolveLiveAlias, serviceBasePaths, serviceFullName, type LiveAlias } from "./openapi/aliases";
import { buildOperation, uniqueOperationId } from "./openapi/operations";
import { HTTP_METHODS, PROBLEM_MEDIA_TYPE, isRecord, type JsonSchema, type RegistryAction, type ResolvedRoute, type OpenApiDocument, type OpenApiOptions, type OpenApiPathItem, type OpenApiResponse, type RegistryService } from "./openapi/types";

export type {
	ActionOpenApi,
	AliasType,
	AuthMode,
	BusboyConfig,
	HttpMethod,
	JsonSchema,
	OpenApiDocument,
	OpenApiMediaType,
	OpenApiOperation,
	OpenApiOptions,
	OpenApiParameter,
	OpenApiPathItem,
	OpenApiReference,
	OpenApiRequestBody,
	OpenApiResponse,
	RegistryAction,
	RegistryService,
	ResolvedRoute,
	RestRoute,
	RestRouteObject,
	SecurityRequirement,
} from "./openapi/types";
export { resolveActionRoutes, resolveLiveAlias, type LiveAlias } from "./openapi/aliases";
export { convertRule, type FieldSchema } from "./openapi/schemas";

const PROBLEM_SCHEMA: JsonSchema = {
	type: "object",
	description: "RFC 9457 problem details.",
	properties: {
		type: { type: "string", format: "uri-reference" },
		title: { type: "string" },
		status: { type: "integer", minimum: 100, maximum: 599 },
		detail: { type: "string" },
		instance: { type: "string" },
		code: { type: "string", description: "Stable machine-readable error code." },
		requestId: { type: "string", description: "Correlates the response with server logs." },
		errors: {
			type: "array",
			description: "Field-level validation failures.",
			items: {
				type: "object",
				properties: { field: { type: "string" }, message: { type: "string" }, type: { type: "string" } },
				required: ["field", "message", "type"],
			},
		},
	},
	required: ["type", "title", "status"],
};

function problemResponse(description: string, headers?: Record<string, unknown>): OpenApiResponse {
	const response: OpenApiResponse = {
		description,
		content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: "#/components/schemas/Problem" } } },
	};
	if (headers) response.headers = headers;
	return response;
}

function components(): OpenApiDocument["components"] {
	return {
		schemas: { Problem: PROBLEM_SCHEMA },
		responses: {
			Problem: problemResponse("Error"),
			BadRequest: problemResponse("The request is malformed, or its parameters failed validation."),
			Unauthorized: problemResponse("Authentication is missing or invalid."),
			Forbidden: problemResponse("The caller lacks the required permission."),
			NotFound: problemResponse("The resource does not exist."),
			IdempotencyInProgress: problemResponse("A request with this Idempotency-Key is still being processed (IDEMPOTENCY_REQUEST_IN_PROGRESS): retry later for its answer."),
			IdempotencyKeyReused: problemResponse("This Idempotency-Key was already used with other parameters (IDEMPOTENCY_KEY_REUSED); the operation's description names any other reason for a 422."),
			PayloadTooLarge: problemResponse("The body, or a file in it, is larger than allowed."),
			UnsupportedMediaType: problemResponse("The body, or a file in it, is of a type that isn't accepted."),
			TooManyRequests: problemResponse("Rate limit exceeded.", {
				"Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer" } },
			}),
			ServiceUnavailable: problemResponse("The service is temporarily unavailable."),
		},
		securitySchemes: {
			bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
			apiKeyAuth: { type: "apiKey", in: "header", name: "X-API-Key" },
		},
	};
}

/** Services that reach the docs, in moleculer-web's order, one instance per fullName. */
function documentedServices(services: RegistryService[]): Array<{ service: RegistryService; fullName: string }> {
	const seen = new Set<string>();
	const result: Array<{ service: RegistryService; fullName: string }> = [];
	for (const service of services) {
		// moleculer-web would publish `$` services too; internal services are never part of the public API.
		if (!service.settings || service.name.startsWith("$")) continue;
		const fullName = serviceFullName(service);
		if (seen.has(fullName)) continue;
		seen.add(fullName);
		result.push({ service, fullName });
	}
	return result;
}

/** Which of a service's base paths (settings.rest may list several) an alias sits under. */
function basePathIndex(service: RegistryService | undefined, alias: LiveAlias, routePath: string): number {
	if (!service) return 0;
	const bases = serviceBasePaths(service, serviceFullName(service)).map((base) => removeTrailingSlash(normalizePath(addSlashes(routePath) + base)));
	// The longest base that prefixes the path: "/shop/catalog" before "/catalog".
	let best = -1;
	bases.forEach((base, index) => {
		if (alias.fullPath.startsWith(`${base}/`) && (best < 0 || base.length > bases[best].length)) best = index;
	});
	return best < 0 ? bases.length : best;
}

function removeTrailingSlash(path: string): string {
	return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/** Which of an action's `rest` entries an alias came from (the gateway lists them in another order), by method and path. */
function restIndex(action: RegistryAction | undefined, alias: LiveAlias): number {
	const rests = action?.rest ? (Array.isArray(action.rest) ? action.rest : [action.rest]) : [];
	const index = rests.findIndex((rest) => {
		const [method, path] = typeof rest === "string" ? (rest.includes(" ") ? rest.split(/\s+/, 2) : ["*", rest]) : [rest.method ?? "*", rest.fullPath ?? rest.path ?? ""];
		return method === alias.method && alias.fullPath.endsWith(path.replace(/\/+$/, ""));
	});
	return index < 0 ? rests.length : index;
}

/** Each published action of the documented services by its full name, for the gateway's live aliases. */
function liveActions(services: RegistryService[]): Map<string, { action: RegistryAction; service: RegistryService }> {
	const actions = new Map<string, { action: RegistryAction; service: RegistryService }>();
	for (const { service } of documentedServices(services)) {
		for (const action of Object.values(service.actions ?? {})) {
			if (action.visibility != null && action.visibility !== "published") continue;
			if (!actions.has(action.name)) actions.set(action.name, { action, service });
		}
	}
	return actions;
}

function isPathItem(value: unknown): value is OpenApiPathItem {
	return isRecord(value) && HTTP_METHODS.every((method) => value[method] === undefined || isRecord(value[method]));
}

function mergeExtraPaths(paths: Record<string, OpenApiPathItem>, extraPaths: Record<string, unknown> | undefined): void {
	for (const [path, item] of Object.entries(extraPaths ?? {})) {
		if (!isPathItem(item)) throw new TypeError(`extraPaths["${path}"] is not an OpenAPI path item`);
		paths[path] = { ...paths[path], ...item };
	}
}

function sortedByKey<T>(record: Record<string, T>): Record<string, T> {
	return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

export function buildOpenApiDocument(services: RegistryService[], options: OpenApiOptions): OpenApiDocument {
	// Same as moleculer-web's route.path for a route with this path and no global `path` setting.
	const routePath = normalizePath(addSlashes("") + options.basePath);
	const paths: Record<string, OpenApiPathItem> = {};
	const operationIds = new Set<string>();
	const tags = new Set<string>();

	const document = (action: RegistryAction, service: RegistryService, route: ResolvedRoute) => {
		const item = (paths[route.path] ??= {});
		// The gateway serves the first alias registered for a method and path; later ones are dead.
		if (item[route.method]) return;
		item[route.method] = buildOperation(action, service, route, uniqueOperationId(action, route, operationIds));
		tags.add(service.name);
	};
	if (options.aliases) {
		const actions = liveActions(services);
		const rank = new Map([...actions.keys()].map((name, index) => [name, index]));
		// In the registry's order of actions (so operationIds don't depend on the gateway's sorting); an
		// action's own aliases keep the gateway's order.
		const order = (alias: LiveAlias) => {
			const found = actions.get(alias.action ?? "");
			return [rank.get(alias.action ?? "") ?? Infinity, basePathIndex(found?.service, alias, routePath), restIndex(found?.action, alias)];
		};
		const ordered = [...options.aliases].sort((a, b) => {
			const [x, y] = [order(a), order(b)];
			return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
		});
		for (const alias of ordered) {
			const found = alias.action ? actions.get(alias.action) : undefined;
			if (found) for (const route of resolveLiveAlias(alias)) document(found.action, found.service, route);
		}
	} else {
		for (const { service, fullName } of documentedServices(services)) {
			for (const basePath of serviceBasePaths(service, fullName)) {
				for (const action of Object.values(service.actions ?? {})) {
					for (const route of resolveActionRoutes(action, basePath, routePath)) document(action, service, route);
				}
			}
		}
	}

	const sortedPaths = sortedByKey(paths);
	mergeExtraPaths(sortedPaths, options.extraPaths);
	const info: OpenApiDocument["info"] = { title: options.title, version: options.version };
	if (options.description) info.description = options.description;

	return {
		openapi: "3.1.0",
		info,
		jsonSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
		servers: [{ url: "/" }],
		tags: [...tags].sort().map((name) => ({ name })),
		paths: sortedPaths,
		components: components(),
	};
}

