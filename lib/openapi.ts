/**
 * The OpenAPI 3.1 document is derived from the live service registry so it can never drift from what the
 * gateway really serves. Path resolution deliberately re-implements moleculer-web 0.11's auto-alias rules
 * (regenerateAutoAliases, parseActionRestString, parseActionRestObject, Alias) quirks included; the unit
 * test compares the result with the aliases moleculer-web itself builds.
 */
import { IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_TTL_MS } from "./idempotency";

export type HttpMethod = "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace";
export type AuthMode = "required" | "public" | "optional";
export type JsonSchema = { [keyword: string]: unknown };

export interface RestRouteObject {
	method?: string;
	path?: string;
	fullPath?: string;
	basePath?: string;
	/** moleculer-web's alias type: "multipart" hands the action each file part as a stream, "stream" the whole body. */
	type?: string;
	busboyConfig?: BusboyConfig;
}

/** The part of a multipart alias's busboy options that shapes what a client may send. */
export interface BusboyConfig {
	/** Accept a form without any file part (moleculer-web refuses one otherwise). */
	empty?: boolean;
	limits?: { files?: number; fileSize?: number; [limit: string]: number | undefined };
}

/** How the gateway reads a request body for an alias: parsed (JSON, form), as file parts, or as a raw stream. */
export type AliasType = "call" | "multipart" | "stream";

export type RestRoute = string | RestRouteObject;

/** One action as `registry.getServiceList({ withActions: true })` reports it (local or from a remote node). */
export interface RegistryAction {
	name: string;
	rawName?: string;
	rest?: RestRoute | RestRoute[] | null;
	params?: Record<string, unknown>;
	visibility?: string;
	auth?: AuthMode;
	permissions?: string[];
	/** The body as received reaches the action (signed webhooks): the gateway keeps it only for JSON. */
	rawBody?: boolean;
	/** Request headers the gateway hands to the action. */
	headers?: string[];
	/** Request cookies the gateway hands to the action. */
	cookies?: string[];
	/** The gateway honours an Idempotency-Key header (mixins/idempotency.mixin.ts stores and replays answers). */
	idempotent?: boolean;
	summary?: string;
	description?: string;
	openapi?: ActionOpenApi;
}

/** What an action adds to its own documentation. */
export interface ActionOpenApi {
	responses?: Record<string, unknown>;
	/** A multipart action's file parts, by name; without it, file parts of any name are documented. */
	fileParts?: string[];
}

export interface RegistryService {
	name: string;
	fullName?: string;
	version?: string | number;
	settings?: Record<string, unknown>;
	actions?: Record<string, RegistryAction>;
}

export interface OpenApiOptions {
	title: string;
	version: string;
	/** The gateway route that carries the auto-aliases, e.g. "/api/v1". */
	basePath: string;
	description?: string;
	/** Path items served outside the auto-aliased route (/healthz, /readyz, /metrics). */
	extraPaths?: Record<string, unknown>;
}

export interface OpenApiParameter {
	name: string;
	in: "path" | "query" | "header" | "cookie";
	required: boolean;
	description?: string;
	schema: JsonSchema;
	style?: "form" | "deepObject" | "simple";
	explode?: boolean;
}

export interface OpenApiMediaType {
	/** OpenAPI 3.1 lets raw binary content omit its schema. */
	schema?: JsonSchema;
}

export interface OpenApiRequestBody {
	description?: string;
	required: boolean;
	content: Record<string, OpenApiMediaType>;
}

export interface OpenApiReference {
	$ref: string;
}

export interface OpenApiResponse {
	description: string;
	headers?: Record<string, unknown>;
	content?: Record<string, OpenApiMediaType>;
	[extension: string]: unknown;
}

export type SecurityRequirement = Record<string, string[]>;

export interface OpenApiOperation {
	operationId: string;
	tags: string[];
	summary?: string;
	description?: string;
	parameters?: OpenApiParameter[];
	requestBody?: OpenApiRequestBody;
	responses: Record<string, OpenApiResponse | OpenApiReference>;
	security: SecurityRequirement[];
}

export type OpenApiPathItem = { [method in HttpMethod]?: OpenApiOperation } & { [key: string]: unknown };

export interface OpenApiDocument {
	openapi: "3.1.0";
	info: { title: string; version: string; description?: string };
	jsonSchemaDialect: string;
	servers: Array<{ url: string; description?: string }>;
	tags: Array<{ name: string }>;
	paths: Record<string, OpenApiPathItem>;
	components: {
		schemas: Record<string, JsonSchema>;
		responses: Record<string, OpenApiResponse>;
		securitySchemes: Record<string, Record<string, unknown>>;
	};
}

/** A documented route: one HTTP method on one OpenAPI path template. */
export interface ResolvedRoute {
	method: HttpMethod;
	/** OpenAPI template, e.g. "/api/v1/users/{id}". */
	path: string;
	pathParams: string[];
	type: AliasType;
	busboyConfig?: BusboyConfig;
}

const HTTP_METHODS: readonly HttpMethod[] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const QUERY_METHODS: ReadonlySet<HttpMethod> = new Set(["get", "delete", "head", "options", "trace"]);
const PROBLEM_MEDIA_TYPE = "application/problem+json";
const JSON_MEDIA_TYPE = "application/json";
const MULTIPART_MEDIA_TYPE = "multipart/form-data";
const BINARY_MEDIA_TYPE = "application/octet-stream";
/** What moleculer-web puts in a multipart action's params about the file part; no client sends these as fields. */
const MULTIPART_FILE_PARAMS: ReadonlySet<string> = new Set(["$fieldname", "$filename", "$encoding", "$mimetype"]);
/** Headers OpenAPI won't describe as parameters (Accept, Content-Type, Authorization), or that HTTP clients set themselves. */
const UNDOCUMENTED_HEADERS: ReadonlySet<string> = new Set(["accept", "content-type", "authorization", "content-length"]);
const IDEMPOTENCY_HEADER = "Idempotency-Key";
const PRIVATE_SECURITY: SecurityRequirement[] = [{ bearerAuth: [] }, { apiKeyAuth: [] }];

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isDirective(key: string): boolean {
	return key.startsWith("$$");
}

// ---------------------------------------------------------------------------------------------------------
// Paths: moleculer-web's auto-alias algorithm
// ---------------------------------------------------------------------------------------------------------

/** moleculer-web utils.addSlashes. */
function addSlashes(path: string): string {
	return (path.startsWith("/") ? "" : "/") + path + (path.endsWith("/") ? "" : "/");
}

/** moleculer-web utils.normalizePath. */
function normalizePath(path: string): string {
	return path.replace(/\/{2,}/g, "/");
}

/** moleculer-web utils.removeTrailingSlashes: strips one slash at each end (yes, the leading one too). */
function removeTrailingSlashes(path: string): string {
	let result = path.startsWith("/") ? path.slice(1) : path;
	if (result.endsWith("/")) result = result.slice(0, -1);
	return result;
}

function serviceFullName(service: RegistryService): string {
	if (service.fullName) return service.fullName;
	if (service.version == null || service.settings?.$noVersionPrefix === true) return service.name;
	return (typeof service.version === "number" ? `v${service.version}` : service.version) + "." + service.name;
}

function serviceBasePaths(service: RegistryService, fullName: string): string[] {
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

// ---------------------------------------------------------------------------------------------------------
// Parameters: fastest-validator rules → JSON Schema 2020-12
// ---------------------------------------------------------------------------------------------------------

type Rule = Record<string, unknown>;

/** A converted property: its schema and whether the validator insists on it being present. */
export interface FieldSchema {
	schema: JsonSchema;
	required: boolean;
}

/** fastest-validator's parseShortHand: "string|min:3|optional", "number[]", "boolean|no-convert". */
function parseShorthand(shorthand: string): Rule {
	const parts = shorthand.split("|").map((part) => part.trim());
	const type = parts[0];
	const rule: Rule = type.endsWith("[]") ? { type: "array", items: type.slice(0, -2) } : { type };
	for (const part of parts.slice(1)) {
		const colon = part.indexOf(":");
		if (colon === -1) {
			if (part.startsWith("no-")) rule[part.slice(3)] = false;
			else rule[part] = true;
			continue;
		}
		const raw = part.slice(colon + 1).trim();
		rule[part.slice(0, colon).trim()] = raw === "true" ? true : raw === "false" ? false : Number.isNaN(Number(raw)) ? raw : Number(raw);
	}
	return rule;
}

/** fastest-validator's resolveType: expands shorthands, rule arrays (multi) and `$$type` nested objects. */
function normalizeRule(rule: unknown): Rule | undefined {
	if (typeof rule === "string") return parseShorthand(rule);
	if (Array.isArray(rule)) {
		const rules = rule.map(normalizeRule);
		return {
			type: "multi",
			rules: rule,
			optional: rules.every((item) => item?.optional === true) || undefined,
			nullable: rules.every((item) => item?.nullable === true) || undefined,
		};
	}
	if (!isRecord(rule)) return undefined;
	if (typeof rule.$$type === "string") {
		const { $$type, ...props } = rule;
		return { ...parseShorthand($$type), props };
	}
	return typeof rule.type === "string" ? rule : undefined;
}

function numberOption(rule: Rule, key: string): number | undefined {
	const value = rule[key];
	return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function applyBounds(schema: JsonSchema, rule: Rule, minKeyword: string, maxKeyword: string): void {
	const length = numberOption(rule, "length");
	const min = numberOption(rule, "min") ?? length;
	const max = numberOption(rule, "max") ?? length;
	if (min !== undefined) schema[minKeyword] = min;
	if (max !== undefined) schema[maxKeyword] = max;
	if (rule.empty === false && schema[minKeyword] === undefined) schema[minKeyword] = 1;
}

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const STRING_FLAG_PATTERNS: ReadonlyArray<[string, string]> = [
	["numeric", "^-?[0-9]\\d*(\\.\\d+)?$"],
	["alpha", "^[a-zA-Z]+$"],
	["alphanum", "^[a-zA-Z0-9]+$"],
	["alphadash", "^[a-zA-Z0-9_-]+$"],
	["hex", "^[0-9a-fA-F]+$"],
	["singleLine", "^[^\\r\\n]*$"],
];

const STRING_SANITIZERS: ReadonlyArray<[string, string]> = [
	["trim", "trimmed"],
	["trimLeft", "left-trimmed"],
	["trimRight", "right-trimmed"],
	["lowercase", "lower-cased"],
	["uppercase", "upper-cased"],
	["localeLowercase", "lower-cased"],
	["localeUppercase", "upper-cased"],
	["padStart", "left-padded"],
	["padEnd", "right-padded"],
];

function stringPatterns(rule: Rule): string[] {
	const patterns: string[] = [];
	if (rule.pattern instanceof RegExp) patterns.push(rule.pattern.source);
	else if (typeof rule.pattern === "string") patterns.push(rule.pattern);
	if (typeof rule.contains === "string") patterns.push(escapeRegExp(rule.contains));
	for (const [flag, pattern] of STRING_FLAG_PATTERNS) if (rule[flag] === true) patterns.push(pattern);
	return patterns;
}

/** Sanitisers change the value before validation; clients only need to know it happens. */
function sanitizerNote(rule: Rule): string | undefined {
	const applied = STRING_SANITIZERS.filter(([key]) => rule[key] === true || (key.startsWith("pad") && typeof rule[key] === "number"));
	const effects = [...new Set(applied.map(([, effect]) => effect))];
	return effects.length > 0 ? `The server normalises this value (${effects.join(", ")}).` : undefined;
}

function stringSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "string" };
	applyBounds(schema, rule, "minLength", "maxLength");
	if (Array.isArray(rule.enum)) schema.enum = rule.enum;
	const patterns = stringPatterns(rule);
	if (patterns.length === 1) schema.pattern = patterns[0];
	else if (patterns.length > 1) schema.allOf = patterns.map((pattern) => ({ pattern }));
	if (rule.base64 === true) schema.contentEncoding = "base64";
	const note = sanitizerNote(rule);
	if (note) schema.description = note;
	return schema;
}

function formattedStringSchema(rule: Rule, format: string): JsonSchema {
	const schema: JsonSchema = { type: "string", format };
	applyBounds(schema, rule, "minLength", "maxLength");
	return schema;
}

function uuidSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "string", format: "uuid" };
	if (rule.version !== undefined) schema.description = `UUID version ${String(rule.version)}.`;
	return schema;
}

function numberSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: rule.integer === true ? "integer" : "number" };
	const min = numberOption(rule, "min");
	const max = numberOption(rule, "max");
	if (min !== undefined) schema.minimum = min;
	if (max !== undefined) schema.maximum = max;
	if (rule.positive === true) schema.exclusiveMinimum = 0;
	if (rule.negative === true) schema.exclusiveMaximum = 0;
	if (numberOption(rule, "equal") !== undefined) schema.const = rule.equal;
	if (numberOption(rule, "notEqual") !== undefined) schema.not = { const: rule.notEqual };
	return schema;
}

function arraySchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "array" };
	const items = rule.items !== undefined ? convertRule(rule.items) : undefined;
	if (items) schema.items = items.schema;
	if (Array.isArray(rule.enum)) schema.items = { ...(items?.schema ?? {}), enum: rule.enum };
	applyBounds(schema, rule, "minItems", "maxItems");
	if (rule.unique === true) schema.uniqueItems = true;
	if (rule.contains !== undefined) schema.contains = { const: rule.contains };
	return schema;
}

function tupleSchema(rule: Rule): JsonSchema {
	if (!Array.isArray(rule.items)) return { type: "array" };
	const prefixItems = rule.items.map((item) => convertRule(item)?.schema ?? {});
	return { type: "array", prefixItems, items: false, minItems: prefixItems.length, maxItems: prefixItems.length };
}

interface ObjectShape {
	properties: Record<string, FieldSchema>;
	strict: boolean;
}

function objectShape(props: Record<string, unknown>, strict: unknown): ObjectShape {
	const properties: Record<string, FieldSchema> = {};
	for (const [key, value] of Object.entries(props)) {
		if (isDirective(key)) continue;
		const field = convertRule(value);
		if (field) properties[key] = field;
	}
	// strict: "remove" silently drops unknown keys, so only `true` rejects them.
	return { properties, strict: strict === true };
}

function shapeToSchema(shape: ObjectShape): JsonSchema {
	const schema: JsonSchema = { type: "object" };
	const entries = Object.entries(shape.properties);
	if (entries.length > 0) schema.properties = Object.fromEntries(entries.map(([key, field]) => [key, field.schema]));
	const required = entries.filter(([, field]) => field.required).map(([key]) => key);
	if (required.length > 0) schema.required = required;
	if (shape.strict) schema.additionalProperties = false;
	return schema;
}

function objectSchema(rule: Rule): JsonSchema {
	const props = isRecord(rule.props) ? rule.props : isRecord(rule.properties) ? rule.properties : undefined;
	const schema = props ? shapeToSchema(objectShape(props, rule.strict)) : { type: "object" };
	const minProps = numberOption(rule, "minProps");
	const maxProps = numberOption(rule, "maxProps");
	if (minProps !== undefined) schema.minProperties = minProps;
	if (maxProps !== undefined) schema.maxProperties = maxProps;
	return schema;
}

function recordSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "object" };
	const key = rule.key !== undefined ? convertRule(rule.key) : undefined;
	const value = rule.value !== undefined ? convertRule(rule.value) : undefined;
	if (key) schema.propertyNames = key.schema;
	if (value) schema.additionalProperties = value.schema;
	return schema;
}

function multiSchema(rule: Rule): JsonSchema {
	if (!Array.isArray(rule.rules)) return {};
	const alternatives = rule.rules.map(convertRule).filter((field): field is FieldSchema => field !== undefined);
	// fastest-validator accepts a value when ANY rule passes; alternatives may overlap (string vs email), so
	// oneOf would wrongly reject values matching several of them.
	return { anyOf: alternatives.map((field) => field.schema) };
}

function describedSchema(description: string): JsonSchema {
	return { description };
}

/** The type-specific part of a rule's schema. */
function typeSchema(rule: Rule, type: string): JsonSchema {
	switch (type) {
		case "any":
			return {};
		case "string":
			return stringSchema(rule);
		case "email":
			return formattedStringSchema(rule, "email");
		case "url":
			return formattedStringSchema(rule, "uri");
		case "uuid":
			return uuidSchema(rule);
		case "date":
			return { type: "string", format: "date-time" };
		case "number":
			return numberSchema(rule);
		case "boolean":
			return { type: "boolean" };
		case "enum":
			return Array.isArray(rule.values) ? { enum: rule.values } : {};
		case "equal":
			return { const: rule.value };
		case "array":
			return arraySchema(rule);
		case "tuple":
			return tupleSchema(rule);
		case "object":
			return objectSchema(rule);
		case "record":
			return recordSchema(rule);
		case "multi":
			return multiSchema(rule);
		case "objectID":
			return { type: "string", pattern: "^[0-9a-fA-F]{24}$" };
		case "mac":
			return { type: "string", description: "A MAC address." };
		case "luhn":
			return { type: "string", description: "A number with a valid Luhn checksum." };
		case "currency":
			return { type: "string", description: "A currency amount." };
		default:
			return describedSchema(`Validated by the '${type}' rule, which has no JSON Schema equivalent.`);
	}
}

function allowNull(schema: JsonSchema): JsonSchema {
	if (typeof schema.type === "string" && schema.enum === undefined && schema.const === undefined) {
		return { ...schema, type: [schema.type, "null"] };
	}
	return { anyOf: [schema, { type: "null" }] };
}

function annotate(schema: JsonSchema, rule: Rule): JsonSchema {
	const result = rule.nullable === true ? allowNull(schema) : schema;
	if (typeof rule.label === "string") result.title = rule.label;
	if (typeof rule.description === "string") {
		result.description = typeof result.description === "string" ? `${rule.description} ${result.description}` : rule.description;
	}
	// Function defaults are computed per call and cannot be shown.
	if (rule.default != null && typeof rule.default !== "function") result.default = rule.default;
	return result;
}

/** Converts one fastest-validator rule (any notation); undefined for `forbidden`, which must not be sent. */
export function convertRule(rule: unknown): FieldSchema | undefined {
	const normalized = normalizeRule(rule);
	if (!normalized) return { schema: describedSchema("Unrecognised validation rule."), required: false };
	const type = String(normalized.type);
	if (type === "forbidden") return undefined;
	const schema = annotate(typeSchema(normalized, type), normalized);
	// The validator fills in a default for a missing value, so such a field may be omitted.
	const required = normalized.optional !== true && normalized.default == null;
	return { schema, required };
}

/** The action's `params`, as an object shape, or a lone schema for `$$root` rules that are not objects. */
interface ParamsModel {
	shape: ObjectShape;
	rootSchema?: JsonSchema;
	hasRules: boolean;
}

function paramsModel(params: Record<string, unknown> | undefined): ParamsModel {
	if (!isRecord(params)) return { shape: { properties: {}, strict: false }, hasRules: false };
	if (params.$$root === true) {
		const { $$root: _root, ...rule } = params;
		const normalized = normalizeRule(rule);
		const props = normalized && isRecord(normalized.props) ? normalized.props : normalized && isRecord(normalized.properties) ? normalized.properties : undefined;
		if (normalized?.type === "object" && props) return { shape: objectShape(props, normalized.strict), hasRules: true };
		return { shape: { properties: {}, strict: false }, rootSchema: convertRule(rule)?.schema ?? {}, hasRules: true };
	}
	const shape = objectShape(params, params.$$strict);
	return { shape, hasRules: Object.keys(params).some((key) => !isDirective(key)) };
}

// ---------------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------------

function pathParameter(name: string, field: FieldSchema | undefined): OpenApiParameter {
	return { name, in: "path", required: true, schema: field?.schema ?? { type: "string" } };
}

function queryParameter(name: string, field: FieldSchema): OpenApiParameter {
	const parameter: OpenApiParameter = { name, in: "query", required: field.required, schema: field.schema };
	// The gateway parses query strings with `qs`, which understands both a[b]=1 and repeated keys.
	if (field.schema.type === "object") return { ...parameter, style: "deepObject", explode: true };
	if (field.schema.type === "array") return { ...parameter, style: "form", explode: true };
	return parameter;
}

/** The params a client sends in the body: what the path doesn't carry. */
function bodyFields(model: ParamsModel, route: ResolvedRoute): Record<string, FieldSchema> {
	const pathParams = new Set(route.pathParams);
	return Object.fromEntries(Object.entries(model.shape.properties).filter(([key]) => !pathParams.has(key)));
}

function jsonBody(model: ParamsModel, route: ResolvedRoute, rawBody: boolean): OpenApiRequestBody | undefined {
	const properties = bodyFields(model, route);
	// A signed body is sent whether or not the action validates any of its fields.
	if (!model.rootSchema && Object.keys(properties).length === 0 && !rawBody) return undefined;
	const schema = model.rootSchema ?? shapeToSchema({ properties, strict: model.shape.strict });
	const required = rawBody || model.rootSchema !== undefined || Object.values(properties).some((field) => field.required);
	const body: OpenApiRequestBody = { required, content: { [JSON_MEDIA_TYPE]: { schema } } };
	// The gateway keeps the bytes as received only when its JSON parser reads them (a form body arrives without them).
	if (rawBody) return { description: "Checked over the exact bytes received, so send them unaltered, as application/json.", ...body };
	return body;
}

function declaredFileParts(action: RegistryAction): string[] {
	const parts = isRecord(action.openapi) ? action.openapi.fileParts : undefined;
	return Array.isArray(parts) ? [...new Set(parts.filter((name) => typeof name === "string" && name !== ""))] : [];
}

function fileSizeLimit(route: ResolvedRoute): number | undefined {
	const limits = route.busboyConfig?.limits;
	return isRecord(limits) ? numberOption(limits, "fileSize") : undefined;
}

function fileCountLimit(route: ResolvedRoute): number | undefined {
	const limits = route.busboyConfig?.limits;
	return isRecord(limits) ? numberOption(limits, "files") : undefined;
}

/** How moleculer-web's multipart handler reads the form, which decides what a client must send and gets back. */
function multipartNote(route: ResolvedRoute): string {
	const notes = ["Text fields go before the file part: the action is called as soon as a file part starts, with the fields read by then."];
	const files = fileCountLimit(route);
	if (files === 1) notes.push("Only the first file part is read; later ones are ignored.");
	else notes.push(`Each file part is a call of the action, and the answer lists their results in order${files !== undefined ? `; file parts after the first ${files} are ignored` : ""}.`);
	return notes.join(" ");
}

function multipartBody(action: RegistryAction, model: ParamsModel, route: ResolvedRoute): OpenApiRequestBody {
	// The file part's name, file name, encoding and type reach the action as these params; they aren't form fields.
	const fields = Object.fromEntries(Object.entries(bodyFields(model, route)).filter(([key]) => !MULTIPART_FILE_PARAMS.has(key)));
	const parts = declaredFileParts(action);
	// OpenAPI 3.1 describes raw binary by its media type alone (no `type`), and counts its maxLength in octets.
	const file: JsonSchema = { contentMediaType: BINARY_MEDIA_TYPE, description: "A file: a part with a filename in its Content-Disposition." };
	const maxBytes = fileSizeLimit(route);
	if (maxBytes !== undefined) {
		file.maxLength = maxBytes;
		file.description = `A file of at most ${maxBytes} bytes: a part with a filename in its Content-Disposition.`;
	}
	const schema = shapeToSchema({ properties: fields, strict: model.shape.strict && parts.length > 0 });
	if (parts.length === 0) {
		schema.additionalProperties = file;
	} else {
		schema.properties = { ...(isRecord(schema.properties) ? schema.properties : {}), ...Object.fromEntries(parts.map((name) => [name, file])) };
		// moleculer-web refuses a form without a file unless the alias allows an empty one.
		if (parts.length === 1 && route.busboyConfig?.empty !== true) schema.required = [...(Array.isArray(schema.required) ? schema.required : []), parts[0]];
	}
	return { description: multipartNote(route), required: true, content: { [MULTIPART_MEDIA_TYPE]: { schema } } };
}

function streamBody(): OpenApiRequestBody {
	return {
		description: "The body is streamed to the action as it arrives. The gateway parses JSON and URL-encoded bodies itself, so send any other media type.",
		required: true,
		// OpenAPI 3.1: raw binary content may omit its schema.
		content: { [BINARY_MEDIA_TYPE]: {} },
	};
}

function requestBody(action: RegistryAction, model: ParamsModel, route: ResolvedRoute): OpenApiRequestBody | undefined {
	if (QUERY_METHODS.has(route.method)) return undefined;
	if (route.type === "multipart") return multipartBody(action, model, route);
	if (route.type === "stream") return streamBody();
	return jsonBody(model, route, action.rawBody === true);
}

/** "stripe-signature" → "Stripe-Signature": header names are case-insensitive, the document shows them as sent. */
function headerName(name: string): string {
	return name
		.split("-")
		.map((word) => word.charAt(0).toUpperCase() + word.slice(1))
		.join("-");
}

function isIdempotent(action: RegistryAction): boolean {
	return action.idempotent === true;
}

function headerParameters(action: RegistryAction): OpenApiParameter[] {
	const declared = Array.isArray(action.headers) ? action.headers.filter((name) => typeof name === "string").map((name) => name.toLowerCase()) : [];
	// An idempotent action's key gets its own, fuller parameter: names must be unique per location.
	const own = isIdempotent(action) ? IDEMPOTENCY_HEADER.toLowerCase() : undefined;
	return [...new Set(declared)]
		.filter((name) => !UNDOCUMENTED_HEADERS.has(name) && name !== own)
		.map((name) => ({ name: headerName(name), in: "header", required: false, description: "Handed to the action: see the operation's description.", schema: { type: "string" } }));
}

/** What the gateway and mixins/idempotency.mixin.ts do with the key, so a client knows when a retry is safe. */
function idempotencyParameter(): OpenApiParameter {
	const hours = IDEMPOTENCY_TTL_MS / 3_600_000;
	return {
		name: IDEMPOTENCY_HEADER,
		in: "header",
		required: false,
		description:
			`Makes a retry safe. The first request with a key runs; a repeat with the same key and the same parameters (path, query and body) within ${hours} hours answers the stored response (status, Location and body) without running again, and no header marks it as a replay. ` +
			"The same key with other parameters is refused with 422 IDEMPOTENCY_KEY_REUSED, and while the first request still runs with 409 IDEMPOTENCY_REQUEST_IN_PROGRESS. A request that fails gives its key up, so it may be retried with the same key. " +
			"Keys belong to the caller (and the tenant) and to this operation. A malformed key is refused with 400 INVALID_IDEMPOTENCY_KEY.",
		// The same rule the gateway checks (lib/idempotency.ts); the lengths say in words what the pattern says.
		schema: { type: "string", minLength: 1, maxLength: 255, pattern: IDEMPOTENCY_KEY_PATTERN.source },
	};
}

function cookieParameters(action: RegistryAction): OpenApiParameter[] {
	// Cookie names are case-sensitive: the gateway hands over exactly the ones declared.
	const declared = Array.isArray(action.cookies) ? action.cookies.filter((name) => typeof name === "string" && name !== "") : [];
	return [...new Set(declared)].map((name) => ({ name, in: "cookie", required: false, description: "Handed to the action: see the operation's description.", schema: { type: "string" } }));
}

function operationParameters(action: RegistryAction, route: ResolvedRoute, model: ParamsModel): OpenApiParameter[] {
	const parameters = route.pathParams.map((name) => pathParameter(name, model.shape.properties[name]));
	// A streamed body leaves the query string as the only place for the other params.
	if (QUERY_METHODS.has(route.method) || route.type === "stream") {
		const pathParams = new Set(route.pathParams);
		for (const [name, field] of Object.entries(model.shape.properties)) {
			if (!pathParams.has(name)) parameters.push(queryParameter(name, field));
		}
	}
	parameters.push(...headerParameters(action));
	if (isIdempotent(action)) parameters.push(idempotencyParameter());
	parameters.push(...cookieParameters(action));
	return parameters;
}

function authMode(action: RegistryAction): AuthMode {
	return action.auth === "public" || action.auth === "optional" ? action.auth : "required";
}

function operationSecurity(auth: AuthMode): SecurityRequirement[] {
	if (auth === "public") return [];
	// An empty requirement is OpenAPI's way of saying "anonymous is fine too".
	return auth === "optional" ? [...PRIVATE_SECURITY, {}] : [...PRIVATE_SECURITY];
}

function permissionsOf(action: RegistryAction): string[] {
	return Array.isArray(action.permissions) ? action.permissions.filter((item) => typeof item === "string") : [];
}

function operationDescription(action: RegistryAction, auth: AuthMode): string | undefined {
	const lines: string[] = [];
	if (typeof action.description === "string" && action.description) lines.push(action.description);
	if (auth === "optional") lines.push("Authentication is optional.");
	const permissions = permissionsOf(action);
	if (permissions.length === 1) lines.push(`Requires: ${permissions[0]}`);
	else if (permissions.length > 1) lines.push(`Requires one of: ${permissions.join(", ")}`);
	return lines.length > 0 ? lines.join("\n\n") : undefined;
}

function problemRef(name: string): OpenApiReference {
	return { $ref: `#/components/responses/${name}` };
}

function isResponseLike(value: unknown): value is OpenApiResponse | OpenApiReference {
	return isRecord(value) && (typeof value.$ref === "string" || typeof value.description === "string");
}

/** Responses the action declares itself (`openapi.responses`); entries without a description get one. */
function declaredResponses(action: RegistryAction): Record<string, OpenApiResponse | OpenApiReference> | undefined {
	const declared = isRecord(action.openapi) ? action.openapi.responses : undefined;
	if (!isRecord(declared)) return undefined;
	const responses: Record<string, OpenApiResponse | OpenApiReference> = {};
	for (const [status, response] of Object.entries(declared)) {
		if (isResponseLike(response)) responses[status] = response;
		else if (isRecord(response)) responses[status] = { ...response, description: "Response" };
	}
	return responses;
}

function operationResponses(action: RegistryAction, route: ResolvedRoute, model: ParamsModel, auth: AuthMode, body: OpenApiRequestBody | undefined): OpenApiOperation["responses"] {
	const success: Record<string, OpenApiResponse | OpenApiReference> = declaredResponses(action) ?? {
		"200": { description: "Successful response", content: { [JSON_MEDIA_TYPE]: { schema: {} } } },
	};
	const errors: Array<[string, string]> = [];
	// A parsed body can be malformed (JSON, a form without its file) even where no field is validated, and so can an Idempotency-Key.
	if (model.hasRules || (body && route.type !== "stream") || isIdempotent(action)) errors.push(["400", "BadRequest"]);
	if (auth !== "public") errors.push(["401", "Unauthorized"], ["403", "Forbidden"]);
	if (route.pathParams.length > 0) errors.push(["404", "NotFound"]);
	if (isIdempotent(action)) errors.push(["409", "IdempotencyInProgress"], ["422", "IdempotencyKeyReused"]);
	// The gateway's JSON and form parsers stop at BODY_LIMIT.
	if (body && route.type === "call") errors.push(["413", "PayloadTooLarge"]);
	if (route.type === "multipart") {
		if (fileSizeLimit(route) !== undefined) errors.push(["413", "PayloadTooLarge"]);
		// The gateway refuses any other body on a multipart route (services/gateway/api.service.ts).
		errors.push(["415", "UnsupportedMediaType"]);
	}
	errors.push(["429", "TooManyRequests"], ["503", "ServiceUnavailable"], ["default", "Problem"]);
	const responses = { ...success };
	// What the action declares wins over the generic error entries.
	for (const [status, name] of errors) responses[status] ??= problemRef(name);
	return responses;
}

function buildOperation(action: RegistryAction, service: RegistryService, route: ResolvedRoute, operationId: string): OpenApiOperation {
	const model = paramsModel(action.params);
	const auth = authMode(action);
	const description = operationDescription(action, auth);
	const parameters = operationParameters(action, route, model);
	const body = requestBody(action, model, route);
	// Built in reading order so the served JSON reads like hand-written OpenAPI.
	return {
		operationId,
		tags: [service.name],
		...(typeof action.summary === "string" && action.summary ? { summary: action.summary } : {}),
		...(description ? { description } : {}),
		...(parameters.length > 0 ? { parameters } : {}),
		...(body ? { requestBody: body } : {}),
		responses: operationResponses(action, route, model, auth, body),
		security: operationSecurity(auth),
	};
}

/** operationIds must be unique, but one action may sit on several routes ("*" alone gives GET and POST). */
function uniqueOperationId(action: RegistryAction, route: ResolvedRoute, used: Set<string>): string {
	const candidates = [action.name, `${action.name}.${route.method}`];
	let id = candidates.find((candidate) => !used.has(candidate));
	for (let n = 2; id === undefined; n++) {
		const candidate = `${action.name}.${route.method}${n}`;
		if (!used.has(candidate)) id = candidate;
	}
	used.add(id);
	return id;
}

// ---------------------------------------------------------------------------------------------------------
// Document
// ---------------------------------------------------------------------------------------------------------

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

	for (const { service, fullName } of documentedServices(services)) {
		for (const basePath of serviceBasePaths(service, fullName)) {
			for (const action of Object.values(service.actions ?? {})) {
				for (const route of resolveActionRoutes(action, basePath, routePath)) {
					const item = (paths[route.path] ??= {});
					// The gateway serves the first alias registered for a method and path; later ones are dead.
					if (item[route.method]) continue;
					item[route.method] = buildOperation(action, service, route, uniqueOperationId(action, route, operationIds));
					tags.add(service.name);
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
