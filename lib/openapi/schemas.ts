/**
 * Parameters: fastest-validator rules (every notation: shorthand strings, objects, arrays of rules) converted
 * to JSON Schema 2020-12, as OpenAPI 3.1 uses it.
 */
import { isDirective, isRecord, type JsonSchema } from "./types";

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

export function numberOption(rule: Rule, key: string): number | undefined {
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

/** "eur" → "[Ee][Uu][Rr]": a pattern that matches the text in any case. */
function anyCase(text: string): string {
	return [...text].map((char) => (char.toLowerCase() !== char.toUpperCase() ? `[${char.toUpperCase()}${char.toLowerCase()}]` : escapeRegExp(char))).join("");
}

/**
 * An enum judged after the value is trimmed or its case changed (currencies: `eur` is taken as `EUR`):
 * `enum` would refuse what the gateway accepts, so the document says it with a pattern that allows the
 * same spaces and any case, and names the values in its description.
 */
function normalisedEnumPattern(rule: Rule, values: unknown[]): string | undefined {
	const caseless = ["uppercase", "lowercase", "localeUppercase", "localeLowercase"].some((key) => rule[key] === true);
	const leading = rule.trim === true || rule.trimLeft === true;
	const trailing = rule.trim === true || rule.trimRight === true;
	if (!caseless && !leading && !trailing) return undefined;
	const alternatives = values.map((value) => (caseless ? anyCase(String(value)) : escapeRegExp(String(value))));
	return `^${leading ? "\\s*" : ""}(?:${alternatives.join("|")})${trailing ? "\\s*" : ""}$`;
}

function stringSchema(rule: Rule): JsonSchema {
	const schema: JsonSchema = { type: "string" };
	applyBounds(schema, rule, "minLength", "maxLength");
	const normalisedEnum = Array.isArray(rule.enum) ? normalisedEnumPattern(rule, rule.enum) : undefined;
	if (Array.isArray(rule.enum) && normalisedEnum === undefined) schema.enum = rule.enum;
	const patterns = stringPatterns(rule);
	if (normalisedEnum !== undefined) {
		patterns.push(normalisedEnum);
		// Bounds count the value as sent, spaces included: the pattern is what limits it.
		delete schema.minLength;
		delete schema.maxLength;
	}
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

export function shapeToSchema(shape: ObjectShape): JsonSchema {
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
export interface ParamsModel {
	shape: ObjectShape;
	rootSchema?: JsonSchema;
	hasRules: boolean;
}

export function paramsModel(params: Record<string, unknown> | undefined): ParamsModel {
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
