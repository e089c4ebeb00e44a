/**
 * Fuzz cases from the OpenAPI operations: for each operation and caller, the baseline request with a wrong
 * or an owned id, and one mutation at a time of it. Deterministic for a seed.
 */
import { Random } from "./random";
import { bodyFields, mainType, validValue, type JsonSchema, type Operation } from "./spec";
import {
	BODY_ROOTS, LYING_ENCODINGS, MULTIPART_BODIES, ODD_HEADERS, ODD_STRINGS, OTHER_METHODS, PATH_ESCAPES, PATH_ODDITIES,
	QUERY_EXTRAS, QUERY_VALUES, WRONG_CONTENT_TYPES, WRONG_TYPES, enc,
} from "./mutations";

export const CALLER_KINDS = ["anonymous", "user", "apiKey", "superAdmin"] as const;
export type CallerKind = (typeof CALLER_KINDS)[number];

/** Real ids a caller owns, by the collection a path names (`users`, `tenants`, `products`, …). */
export type OwnedIds = Partial<Record<CallerKind, Record<string, string>>>;

export interface FuzzCase {
	/** Position in the run, so a failure can be found again with the same seed. */
	index: number;
	operation: string;
	caller: CallerKind;
	/** `family:detail`, e.g. `path-escape:ff` or `body-null:fullName`. */
	variant: string;
	family: string;
	method: string;
	/** The raw request target, path and query, exactly as sent. */
	target: string;
	headers: Record<string, string>;
	body?: Buffer;
	/** Sent without the caller's credentials even though the caller has some (a header variant replaces them). */
	bareAuth?: boolean;
}

export interface GenerateOptions {
	seed: number;
	/** BODY_LIMIT of the node in bytes: oversized bodies go just over it. */
	bodyLimit: number;
	owned: OwnedIds;
	/** Operations whose real side effects on the caller (logout, persona, password) must run after everything else. */
	lateOperations?: ReadonlySet<string>;
	/** Variant families not to generate (those that ended the process earlier in the run). */
	excludeFamilies?: ReadonlySet<string>;
}

/** Operations never sent with a caller's own ids: they would delete or lock out the caller. */
const DESTRUCTIVE_ON_OWN = new Set(["DELETE", "users.setStatus", "api-keys.revoke", "auth.revokeSession"]);

/** Collection a path parameter names: the segment before it, or what the parameter's name says. */
function collectionOf(path: string, parameter: string): string {
	if (parameter === "userId") return "users";
	const segments = path.split("/");
	const at = segments.indexOf(`{${parameter}}`);
	return at > 0 ? segments[at - 1] : parameter;
}

interface Draft {
	variant: string;
	method?: string;
	pathValues?: Record<string, string>;
	query?: string;
	headers?: Record<string, string>;
	body?: Buffer | string;
	contentType?: string | null;
	bareAuth?: boolean;
	useOwn?: boolean;
}

/** Every case for one operation and caller, baseline first, then one representative per family, then the rest. */
export function casesFor(operation: Operation, caller: CallerKind, random: Random, options: GenerateOptions): Omit<FuzzCase, "index">[] {
	const own = caller === "anonymous" || DESTRUCTIVE_ON_OWN.has(operation.method) || DESTRUCTIVE_ON_OWN.has(operation.operationId) ? {} : (options.owned[caller] ?? {});
	const pathParams = operation.parameters.filter((parameter) => parameter.in === "path");
	const queryParams = operation.parameters.filter((parameter) => parameter.in === "query");
	const hasOwn = pathParams.length > 0 && pathParams.every((parameter) => own[collectionOf(operation.path, parameter.name)]);
	const isJson = operation.body?.contentType === "application/json";
	const isMultipart = operation.body?.contentType === "multipart/form-data";
	const baseBody = isJson ? (validValue(operation.body!.schema, random.fork("body")) as Record<string, unknown>) : undefined;
	const drafts: Draft[] = [{ variant: "baseline:wrong-id" }];
	if (hasOwn) drafts.push({ variant: "baseline:own-id", useOwn: true });

	for (const parameter of pathParams) {
		for (const [name, value] of Object.entries(PATH_ESCAPES)) drafts.push({ variant: `path-escape:${parameter.name}:${name}`, pathValues: { [parameter.name]: value } });
		for (const [name, value] of Object.entries(PATH_ODDITIES)) drafts.push({ variant: `path-odd:${parameter.name}:${name}`, pathValues: { [parameter.name]: value } });
	}
	for (const parameter of queryParams) {
		for (const [name, build] of Object.entries(QUERY_VALUES)) drafts.push({ variant: `query-type:${parameter.name}:${name}`, query: build(parameter.name), useOwn: hasOwn && random.chance(0.5) });
	}
	for (const [name, query] of Object.entries(QUERY_EXTRAS)) {
		if (operation.method === "GET" || random.chance(0.3)) drafts.push({ variant: `query-extra:${name}`, query, useOwn: hasOwn && random.chance(0.5) });
	}
	if (isJson && baseBody && typeof baseBody === "object") {
		for (const field of bodyFields(operation.body!.schema)) {
			const withField = (value: unknown) => JSON.stringify({ ...baseBody, [field.name]: value });
			for (const [name, value] of Object.entries(WRONG_TYPES)) {
				if (!matchesType(field.schema, value)) drafts.push({ variant: `body-type:${field.name}:${name}`, body: withField(value), useOwn: hasOwn });
			}
			drafts.push({ variant: `body-null:${field.name}`, body: withField(null), useOwn: hasOwn });
			drafts.push({ variant: `body-huge:${field.name}`, body: withField("h".repeat(100_000)), useOwn: hasOwn && random.chance(0.5) });
			for (const [name, value] of Object.entries(ODD_STRINGS)) drafts.push({ variant: `body-unicode:${field.name}:${name}`, body: withField(value), useOwn: hasOwn && random.chance(0.5) });
			const missing = { ...baseBody };
			delete missing[field.name];
			drafts.push({ variant: `body-missing:${field.name}`, body: JSON.stringify(missing), useOwn: hasOwn });
			if (mainType(field.schema) === "object" || mainType(field.schema) === "array") {
				drafts.push({ variant: `body-nested-null:${field.name}`, body: withField(mainType(field.schema) === "array" ? [null, {}] : { a: null, b: [null] }), useOwn: hasOwn });
			}
		}
		drafts.push({ variant: "body-extra:unknown-field", body: JSON.stringify({ ...baseBody, nosuch: 1, tenantId: random.uuid(), id: random.uuid(), persona: "super_admin" }), useOwn: hasOwn });
	}
	if (operation.body || operation.method !== "GET") {
		for (const [name, body] of Object.entries(BODY_ROOTS)) drafts.push({ variant: `body-root:${name}`, body, contentType: "application/json", useOwn: hasOwn && random.chance(0.5) });
		for (const encoding of LYING_ENCODINGS) drafts.push({ variant: `content-encoding:${encoding}`, body: JSON.stringify(baseBody ?? {}), headers: { "Content-Encoding": encoding }, contentType: isMultipart ? "application/json" : undefined, useOwn: hasOwn });
		for (const [name, { contentType, body }] of Object.entries(WRONG_CONTENT_TYPES)) drafts.push({ variant: `content-type:${name}`, body, contentType: contentType ?? null, useOwn: hasOwn && random.chance(0.5) });
		drafts.push({ variant: "oversized-body:json", body: JSON.stringify({ ...(baseBody ?? {}), padding: "p".repeat(options.bodyLimit + 1024) }), contentType: "application/json" });
	} else {
		drafts.push({ variant: "content-encoding:gzip-on-get", body: "not gzip", headers: { "Content-Encoding": "gzip" }, contentType: "application/json" });
	}
	if (isMultipart || isJson) {
		const boundary = `----fuzz${random.hex(16)}`;
		for (const [name, { contentType, body }] of Object.entries(MULTIPART_BODIES)) {
			if (!isMultipart && name !== "valid" && name !== "truncated") continue;
			drafts.push({ variant: `multipart:${name}`, body: body.replaceAll("{b}", boundary), contentType: contentType.replaceAll("{b}", boundary) });
		}
		if (isMultipart) {
			drafts.push({ variant: "oversized-body:multipart", body: `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n${"n".repeat(options.bodyLimit + 1024)}\r\n--${boundary}--\r\n`, contentType: `multipart/form-data; boundary=${boundary}` });
		}
	}
	drafts.push({ variant: "oversized-url:query", query: `q=${"u".repeat(17_000)}` });
	drafts.push({ variant: "oversized-url:headers", headers: { "X-Fuzz": "h".repeat(17_000) } });
	for (const [name, headers] of Object.entries(ODD_HEADERS)) {
		const replacesAuth = "Authorization" in headers || "X-API-Key" in headers;
		drafts.push({ variant: `header:${name}`, headers, bareAuth: replacesAuth, body: isJson ? JSON.stringify(baseBody) : undefined, useOwn: hasOwn && random.chance(0.5) });
	}
	const otherMethod = random.pick(OTHER_METHODS.filter((method) => method !== operation.method));
	drafts.push({ variant: `method:${otherMethod}`, method: otherMethod });
	drafts.push({ variant: "method:HEAD", method: "HEAD", useOwn: hasOwn && random.chance(0.5) });
	drafts.push({ variant: "method:OPTIONS", method: "OPTIONS", headers: { Origin: "https://evil.example", "Access-Control-Request-Method": operation.method, "Access-Control-Request-Headers": "x-api-key, content-type, x-nosuch" } });
	const escape = random.pick(Object.keys(PATH_ESCAPES));
	if (pathParams.length > 0) {
		for (const method of ["HEAD", "OPTIONS"]) drafts.push({ variant: `method:${method}-escape:${escape}`, method, pathValues: { [pathParams[0].name]: PATH_ESCAPES[escape] } });
	}

	return arrange(drafts, random).map((draft) => build(operation, caller, draft, own, baseBody, random));
}

/** The baseline stays first; then one case of each family in random order; then the rest, shuffled. */
function arrange(drafts: Draft[], random: Random): Draft[] {
	const [first, ...rest] = drafts;
	const shuffled = shuffle(rest, random);
	const seen = new Set<string>();
	const leaders: Draft[] = [];
	const others: Draft[] = [];
	for (const draft of shuffled) {
		const family = draft.variant.split(":")[0];
		if (seen.has(family)) others.push(draft);
		else {
			seen.add(family);
			leaders.push(draft);
		}
	}
	return [first, ...leaders, ...others];
}

function build(operation: Operation, caller: CallerKind, draft: Draft, own: Record<string, string>, baseBody: unknown, random: Random): Omit<FuzzCase, "index"> {
	let path = operation.path;
	for (const parameter of operation.parameters.filter((item) => item.in === "path")) {
		const override = draft.pathValues?.[parameter.name];
		const owned = draft.useOwn ? own[collectionOf(operation.path, parameter.name)] : undefined;
		// A wrong id looks right: a UUID that names nothing.
		const wrong = /id$/i.test(parameter.name) ? random.uuid() : String(validValue(parameter.schema, random, parameter.name));
		const value = override ?? enc(owned ?? wrong);
		path = path.replace(`{${parameter.name}}`, value);
	}
	const headers: Record<string, string> = {};
	for (const parameter of operation.parameters.filter((item) => item.in === "header")) {
		if (random.chance(0.5)) headers[parameter.name] = String(validValue(parameter.schema, random, parameter.name));
	}
	Object.assign(headers, draft.headers);
	let body: string | Buffer | undefined = draft.body;
	let contentType = draft.contentType;
	if (body === undefined && draft.variant.startsWith("baseline") && operation.body?.contentType === "application/json") body = JSON.stringify(baseBody);
	if (body === undefined && draft.variant.startsWith("baseline") && operation.body?.contentType === "multipart/form-data") {
		const boundary = `----fuzz${random.hex(16)}`;
		body = MULTIPART_BODIES.valid.body.replaceAll("{b}", boundary);
		contentType = `multipart/form-data; boundary=${boundary}`;
	}
	if (body !== undefined && contentType === undefined) contentType = "application/json";
	if (contentType) headers["Content-Type"] = contentType;
	const family = draft.variant.split(":")[0];
	return {
		operation: operation.key,
		caller,
		variant: draft.variant,
		family,
		method: draft.method ?? operation.method,
		target: draft.query ? `${path}?${draft.query}` : path,
		headers,
		body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8"),
		bareAuth: draft.bareAuth,
	};
}

function matchesType(schema: JsonSchema, value: unknown): boolean {
	const type = mainType(schema);
	if (value === null) return false;
	if (Array.isArray(value)) return type === "array";
	if (typeof value === "number") return type === "number" || (type === "integer" && Number.isInteger(value));
	if (typeof value === "boolean") return type === "boolean";
	if (typeof value === "object") return type === "object";
	return type === "string" && value !== "";
}

function shuffle<T>(items: T[], random: Random): T[] {
	const out = [...items];
	for (let i = out.length - 1; i > 0; i -= 1) {
		const j = random.int(0, i);
		[out[i], out[j]] = [out[j], out[i]];
	}
	return out;
}

/**
 * The cases of one round over every operation and caller, interleaved: the first case of each (operation,
 * caller), then the second of each, and so on, so a limit cuts the tail of every list rather than whole
 * operations. Late operations come after all others.
 */
export function generateRound(operations: Operation[], options: GenerateOptions, round = 0, limit = Infinity): FuzzCase[] {
	const random = new Random(options.seed).fork(`round-${round}`);
	const lists: Array<{ late: boolean; cases: Omit<FuzzCase, "index">[] }> = [];
	for (const operation of operations) {
		for (const caller of CALLER_KINDS) {
			const cases = casesFor(operation, caller, random.fork(`${operation.key} ${caller}`), options).filter((fuzzCase) => !options.excludeFamilies?.has(fuzzCase.family));
			if (cases.length > 0) lists.push({ late: options.lateOperations?.has(operation.operationId) ?? false, cases });
		}
	}
	const shuffled = shuffle(lists, random);
	const chosen = new Set<Omit<FuzzCase, "index">>();
	// First every operation's baseline for every caller and one case of each of its variant families (from a
	// caller chosen in turn), so even a short run covers every (operation, family); then position by position.
	const byOperation = new Map<string, typeof lists>();
	for (const list of lists) byOperation.set(list.cases[0]?.operation ?? "", [...(byOperation.get(list.cases[0]?.operation ?? "") ?? []), list]);
	for (const group of byOperation.values()) {
		for (const list of group) if (list.cases[0] && chosen.size < limit) chosen.add(list.cases[0]);
		const families = [...new Set(group.flatMap((list) => list.cases.map((fuzzCase) => fuzzCase.family)))];
		families.forEach((family, turn) => {
			for (let offset = 0; offset < group.length; offset += 1) {
				const candidate = group[(turn + offset) % group.length].cases.find((fuzzCase) => fuzzCase.family === family);
				if (candidate && chosen.size < limit) {
					chosen.add(candidate);
					return;
				}
			}
		});
	}
	const longest = Math.max(0, ...lists.map((list) => list.cases.length));
	for (let position = 0; position < longest && chosen.size < limit; position += 1) {
		for (const list of shuffled) {
			if (chosen.size >= limit) break;
			if (list.cases[position]) chosen.add(list.cases[position]);
		}
	}
	const ordered: Omit<FuzzCase, "index">[] = [];
	for (const late of [false, true]) {
		const group = shuffled.filter((list) => list.late === late);
		for (let position = 0; position < longest; position += 1) {
			for (const list of group) if (list.cases[position] && chosen.has(list.cases[position])) ordered.push(list.cases[position]);
		}
	}
	return ordered.map((fuzzCase, index) => ({ ...fuzzCase, index }));
}
