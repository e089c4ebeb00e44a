/**
 * The operations of the live OpenAPI document (`/api/openapi.json`) in the shape the fuzz generator needs,
 * and plausible values for a schema: the baseline each mutation starts from.
 */
import type { Random } from "./random";

export interface JsonSchema {
	type?: string | string[];
	format?: string;
	pattern?: string;
	enum?: unknown[];
	minLength?: number;
	maxLength?: number;
	minimum?: number;
	maximum?: number;
	exclusiveMinimum?: number;
	minItems?: number;
	properties?: Record<string, JsonSchema>;
	required?: string[];
	items?: JsonSchema;
	oneOf?: JsonSchema[];
	anyOf?: JsonSchema[];
	default?: unknown;
	contentMediaType?: string;
}

export interface Parameter {
	name: string;
	in: "path" | "query" | "header" | "cookie";
	required: boolean;
	schema: JsonSchema;
}

export interface Operation {
	/** `METHOD /path` as the document writes it, e.g. `PUT /api/v1/users/{id}`. */
	key: string;
	operationId: string;
	method: string;
	path: string;
	parameters: Parameter[];
	body?: { contentType: string; schema: JsonSchema; required: boolean };
	/** Whether the document says a caller must authenticate. */
	secured: boolean;
}

interface OpenApiDocument {
	paths: Record<string, Record<string, { operationId?: string; parameters?: Parameter[]; requestBody?: { required?: boolean; content: Record<string, { schema?: JsonSchema }> }; security?: unknown[] }>>;
}

const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options"]);

export function operationsOf(document: OpenApiDocument): Operation[] {
	const operations: Operation[] = [];
	for (const [path, item] of Object.entries(document.paths)) {
		for (const [method, operation] of Object.entries(item)) {
			if (!METHODS.has(method)) continue;
			// The WebSocket handshake is not a request/response operation.
			if (path === "/ws") continue;
			const content = operation.requestBody?.content ?? {};
			const contentType = Object.keys(content)[0];
			operations.push({
				key: `${method.toUpperCase()} ${path}`,
				operationId: operation.operationId ?? `${method.toUpperCase()} ${path}`,
				method: method.toUpperCase(),
				path,
				parameters: (operation.parameters ?? []).map((parameter) => ({ ...parameter, required: Boolean(parameter.required), schema: parameter.schema ?? {} })),
				body: contentType ? { contentType, schema: content[contentType].schema ?? {}, required: Boolean(operation.requestBody?.required) } : undefined,
				secured: (operation.security ?? []).some((entry) => Object.keys(entry as object).length > 0) && !(operation.security ?? []).some((entry) => Object.keys(entry as object).length === 0),
			});
		}
	}
	return operations.sort((a, b) => a.key.localeCompare(b.key));
}

/** The schema's main type: the first of a type list that isn't null, or what its shape says. */
export function mainType(schema: JsonSchema): string {
	const variant = schema.oneOf?.[0] ?? schema.anyOf?.[0];
	if (variant) return mainType(variant);
	const types = Array.isArray(schema.type) ? schema.type.filter((type) => type !== "null") : schema.type ? [schema.type] : [];
	if (types[0]) return types[0];
	if (schema.enum) return "enum";
	if (schema.properties) return "object";
	if (schema.items) return "array";
	return "string";
}

/** Values for names whose pattern a plain string wouldn't match. */
const BY_NAME: Record<string, (random: Random) => unknown> = {
	currency: (random) => random.pick(["USD", "EUR", "JPY"]),
	category: (random) => random.pick(["tools", "design-apps", "games"]),
	locale: (random) => random.pick(["en", "de-AT", "fr"]),
	phone: () => "+1 555 0100",
	country: () => "US",
	// Loopback port 9 (discard) is allowed by the fuzz node's OUTBOUND_ALLOW_HOSTS: no DNS, refused at once.
	url: (random) => `http://127.0.0.1:9/hook/${random.hex(6)}`,
	image: (random) => `https://example.com/img/${random.hex(6)}.png`,
	contentType: (random) => random.pick(["text/plain", "image/png", "application/pdf"]),
	password: () => "correct horse battery",
	newPassword: () => "another horse battery",
	currentPassword: () => "correct horse battery",
	"Idempotency-Key": (random) => `fuzz-${random.hex(12)}`,
	scopes: (random) => [random.pick(["*", "tenants:read", "files:*"])],
	size: (random) => random.int(1, 1000),
	email: (random) => `fuzz.${random.hex(8)}@example.com`,
};

/** A value the schema accepts, as far as a schema without a pattern engine can tell. */
export function validValue(schema: JsonSchema, random: Random, name = "", depth = 0): unknown {
	const named = BY_NAME[name];
	if (named) return named(random);
	if (schema.enum?.length) return random.pick(schema.enum);
	if (schema.default !== undefined && random.chance(0.3)) return schema.default;
	switch (mainType(schema)) {
		case "integer":
		case "number": {
			const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 1);
			return Math.min(schema.maximum ?? min + 100, min + random.int(0, 100));
		}
		case "boolean":
			return random.chance(0.5);
		case "array": {
			if (depth > 3) return [];
			const count = Math.max(schema.minItems ?? 0, 1);
			return Array.from({ length: count }, () => validValue(schema.items ?? {}, random, name, depth + 1));
		}
		case "object": {
			if (depth > 3) return {};
			const out: Record<string, unknown> = {};
			for (const [key, property] of Object.entries(schema.properties ?? {})) {
				if (schema.required?.includes(key) || random.chance(0.6)) out[key] = validValue(property, random, key, depth + 1);
			}
			return out;
		}
		default:
			return stringFor(schema, random);
	}
}

function stringFor(schema: JsonSchema, random: Random): string {
	if (schema.format === "uuid") return random.uuid();
	if (schema.format === "email") return `fuzz.${random.hex(8)}@example.com`;
	if (schema.format === "uri") return `https://example.com/${random.hex(6)}`;
	if (schema.format === "date-time") return new Date(Date.UTC(2026, 0, random.int(1, 28))).toISOString();
	const length = Math.max(schema.minLength ?? 1, Math.min(schema.maxLength ?? 12, 12));
	let out = "fuzz";
	while (out.length < length) out += random.hex(1);
	return out.slice(0, Math.max(length, Math.min(4, schema.maxLength ?? 4)));
}

/** The properties of a JSON body's schema (empty for a body that isn't an object). */
export function bodyFields(schema: JsonSchema): Array<{ name: string; schema: JsonSchema; required: boolean }> {
	return Object.entries(schema.properties ?? {}).map(([name, property]) => ({ name, schema: property, required: Boolean(schema.required?.includes(name)) }));
}
