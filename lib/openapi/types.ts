/**
 * The shapes the OpenAPI builder reads (the registry's services and actions, their `rest` routes) and
 * writes (OpenAPI 3.1 objects), and the constants and guards its parts share.
 */
import type { LiveAlias } from "./aliases";
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
	/** Its answers by status (see ResponseDeclarations): declared, the generic "200, any body" goes. */
	responses?: ResponseDeclarations;
	/** The error statuses it can answer beyond the generic ones, with their problem codes. */
	errors?: ErrorDeclarations;
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
	/**
	 * The aliases the gateway really generated (its API service's `aliases`), in its matching order: the
	 * document lists exactly these routes. Without them, routes are derived from each action's `rest` by
	 * moleculer-web's rules (aliases.ts).
	 */
	aliases?: readonly LiveAlias[];
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
	/** OpenAPI 3.1 lets a reference override its target's description. */
	description?: string;
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

export const HTTP_METHODS: readonly HttpMethod[] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
export const QUERY_METHODS: ReadonlySet<HttpMethod> = new Set(["get", "delete", "head", "options", "trace"]);
export const PROBLEM_MEDIA_TYPE = "application/problem+json";
export const JSON_MEDIA_TYPE = "application/json";
export const MULTIPART_MEDIA_TYPE = "multipart/form-data";
export const BINARY_MEDIA_TYPE = "application/octet-stream";
/** What moleculer-web puts in a multipart action's params about the file part; no client sends these as fields. */
export const MULTIPART_FILE_PARAMS: ReadonlySet<string> = new Set(["$fieldname", "$filename", "$encoding", "$mimetype"]);
/** Headers OpenAPI won't describe as parameters (Accept, Content-Type, Authorization), or that HTTP clients set themselves. */
export const UNDOCUMENTED_HEADERS: ReadonlySet<string> = new Set(["accept", "content-type", "authorization", "content-length"]);
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const PRIVATE_SECURITY: SecurityRequirement[] = [{ bearerAuth: [] }, { apiKeyAuth: [] }];

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isDirective(key: string): boolean {
	return key.startsWith("$$");
}

/**
 * One declared answer of an action (its `responses`): a description alone for an answer without a body
 * (201/202/204 without content, a 302 redirect), or with the JSON body's schema (a TypeBox schema from the
 * domain's contracts.ts, whose Static type the action returns) and the headers it sets.
 */
export type ResponseDeclaration =
	| string
	| {
			description: string;
			/** The JSON body: a JSON Schema (TypeBox's schemas are). */
			body?: JsonSchema;
			/** Headers the answer sets, by name: their description (their value is a string). */
			headers?: Record<string, string>;
	  };

/** An action's answers by status: its success (2xx/3xx) and any it adds to the generic error entries. */
export type ResponseDeclarations = { [status: number]: ResponseDeclaration };

/** Error statuses an action can answer, each with the problem codes it answers with at that status. */
export type ErrorDeclarations = { [status: number]: readonly string[] };
