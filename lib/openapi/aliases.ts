/**
 * Paths: moleculer-web 0.11's auto-alias algorithm (regenerateAutoAliases, parseActionRestString,
 * parseActionRestObject, Alias), quirks included, re-implemented so the document lists every (method, path)
 * an action is really reachable at; the unit test compares the result with the aliases moleculer-web builds.
 */
import { HTTP_METHODS, isRecord, type AliasType, type BusboyConfig, type HttpMethod, type RegistryAction, type RegistryService, type ResolvedRoute, type RestRoute, type RestRouteObject } from "./types";

/** moleculer-web utils.addSlashes. */
export function addSlashes(path: string): string {
	return (path.startsWith("/") ? "" : "/") + path + (path.endsWith("/") ? "" : "/");
}

/** moleculer-web utils.normalizePath. */
export function normalizePath(path: string): string {
	return path.replace(/\/{2,}/g, "/");
}

/** moleculer-web utils.removeTrailingSlashes: strips one slash at each end (yes, the leading one too). */
function removeTrailingSlashes(path: string): string {
	let result = path.startsWith("/") ? path.slice(1) : path;
	if (result.endsWith("/")) result = result.slice(0, -1);
	return result;
}

export function serviceFullName(service: RegistryService): string {
	if (service.fullName) return service.fullName;
	if (service.version == null || service.settings?.$noVersionPrefix === true) return service.name;
	return (typeof service.version === "number" ? `v${service.version}` : service.version) + "." + service.name;
}

export function serviceBasePaths(service: RegistryService, fullName: string): string[] {
	const defaultPath = fullName.replace(/\./g, "/");
	const rest = service.settings?.rest;
	const declared: unknown[] = typeof rest === "string" ? [rest] : Array.isArray(rest) ? rest : [defaultPath];
	return declared.map((basePath) => addSlashes(typeof basePath === "string" ? basePath : defaultPath));
}

interface RawAlias {
	method: string;
	path: string;
	fullPath?: string;
	type: AliasType;
	busboyConfig?: BusboyConfig;
}

function parseRestString(rest: string, basePath: string): RawAlias {
	if (rest.includes(" ")) {
		const [method, path] = rest.split(/\s+/);
		return { method, path: basePath + path, type: "call" };
	}
	// moleculer-web binds a bare path to every method ("*").
	return { method: "*", path: basePath + rest, type: "call" };
}

/** moleculer-web treats any alias type but these two as a plain call. */
function aliasType(type: unknown): AliasType {
	return type === "multipart" || type === "stream" ? type : "call";
}

function parseRestObject(rest: RestRouteObject, rawName: string, basePath: string): RawAlias {
	// basePath/path are concatenated without a separator, exactly as moleculer-web does.
	return {
		method: rest.method || "*",
		path: (rest.basePath ? rest.basePath : basePath) + (rest.path ? rest.path : rawName),
		fullPath: rest.fullPath || undefined,
		type: aliasType(rest.type),
		busboyConfig: isRecord(rest.busboyConfig) ? rest.busboyConfig : undefined,
	};
}

/** The full URL template moleculer-web matches (Alias constructor), still in path-to-regexp syntax. */
function aliasFullPath(alias: RawAlias, routePath: string): string {
	const path = removeTrailingSlashes(normalizePath(alias.path));
	// A rest `fullPath` is taken verbatim: it bypasses the route path (and the gateway matches it globally).
	let fullPath = alias.fullPath ?? addSlashes(routePath) + path;
	if (fullPath !== "/" && fullPath.endsWith("/")) fullPath = fullPath.slice(0, -1);
	return fullPath;
}

function toHttpMethods(method: string): HttpMethod[] {
	if (method === "*") return ["get", "post"];
	// The gateway compares methods case-sensitively with the (upper-case) request method, so anything else
	// is an alias that can never match and must not be documented.
	const lower = method.toLowerCase();
	const known = HTTP_METHODS.find((candidate) => candidate === lower);
	return known && method === method.toUpperCase() ? [known] : [];
}

/** Index of the `}` closing the optional group opened at `start`, honouring nesting and escapes. */
function closingBrace(path: string, start: number): number {
	let depth = 0;
	for (let i = start; i < path.length; i++) {
		if (path[i] === "\\") i++;
		else if (path[i] === "{") depth++;
		else if (path[i] === "}" && --depth === 0) return i;
	}
	return -1;
}

/** path-to-regexp 8 optional groups ("/users{/:id}") have no OpenAPI equivalent: document both variants. */
function expandOptionalGroups(path: string): string[] {
	for (let i = 0; i < path.length; i++) {
		if (path[i] === "\\") {
			i++;
			continue;
		}
		if (path[i] !== "{") continue;
		const end = closingBrace(path, i);
		if (end < 0) return [path];
		const before = path.slice(0, i);
		const inner = path.slice(i + 1, end);
		const after = path.slice(end + 1);
		return [...expandOptionalGroups(before + inner + after), ...expandOptionalGroups(before + after)];
	}
	return [path];
}

const PATH_TOKEN = /\\(.)|[:*](?:"((?:\\.|[^"\\])+)"|([$_\p{ID_Start}][$\u200c\u200d\p{ID_Continue}]*))/gu;

/** Converts one path-to-regexp path (without groups) to an OpenAPI template and its parameter names. */
function toOpenApiTemplate(path: string): { path: string; params: string[] } {
	const params: string[] = [];
	const template = path.replace(PATH_TOKEN, (_match, escaped?: string, quoted?: string, plain?: string) => {
		if (escaped !== undefined) return escaped;
		const name = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : (plain ?? "");
		params.push(name);
		return `{${name}}`;
	});
	const normalized = normalizePath(template);
	return { path: normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized, params };
}

function restRoutesOf(action: RegistryAction): RestRoute[] {
	const rest = action.rest;
	if (!rest) return [];
	return Array.isArray(rest) ? rest : [rest];
}

function rawAliasOf(rest: RestRoute, action: RegistryAction, basePath: string): RawAlias | undefined {
	if (typeof rest === "string") return parseRestString(rest, basePath);
	if (isRecord(rest)) return parseRestObject(rest, action.rawName ?? "", basePath);
	return undefined;
}

function isPublished(action: RegistryAction): boolean {
	return action.visibility == null || action.visibility === "published";
}

/** Every (method, path) an action is reachable at, in moleculer-web's order. */
export function resolveActionRoutes(action: RegistryAction, serviceBasePath: string, routePath: string): ResolvedRoute[] {
	if (!action.rest || !isPublished(action)) return [];
	const routes: ResolvedRoute[] = [];
	for (const rest of restRoutesOf(action)) {
		const alias = rawAliasOf(rest, action, serviceBasePath);
		if (!alias) continue;
		const methods = toHttpMethods(alias.method);
		for (const variant of expandOptionalGroups(aliasFullPath(alias, routePath))) {
			const template = toOpenApiTemplate(variant);
			for (const method of methods) {
				const route: ResolvedRoute = { method, path: template.path, pathParams: template.params, type: alias.type };
				if (alias.type === "multipart" && alias.busboyConfig) route.busboyConfig = alias.busboyConfig;
				routes.push(route);
			}
		}
	}
	return routes;
}

/** An alias as the gateway generated it (moleculer-web's Alias: `this.aliases` of the API service). */
export interface LiveAlias {
	/** The action's full name; absent for a route's own handler functions (/healthz, the docs). */
	action?: string;
	method: string;
	fullPath: string;
	type?: string;
	busboyConfig?: BusboyConfig;
}

/** The documented routes of one live alias: its methods and path, as resolveActionRoutes would give them. */
export function resolveLiveAlias(alias: LiveAlias): ResolvedRoute[] {
	const type = aliasType(alias.type);
	const routes: ResolvedRoute[] = [];
	for (const variant of expandOptionalGroups(alias.fullPath)) {
		const template = toOpenApiTemplate(variant);
		for (const method of toHttpMethods(alias.method)) {
			const route: ResolvedRoute = { method, path: template.path, pathParams: template.params, type };
			if (type === "multipart" && alias.busboyConfig) route.busboyConfig = alias.busboyConfig;
			routes.push(route);
		}
	}
	return routes;
}
