/**
 * Operations: one action on one route, documented as the gateway serves it: parameters by where they travel
 * (path, query, headers, cookies, body), the body as the gateway reads it (JSON, multipart form with file
 * parts, raw stream), security from the action's `auth`, and the problem+json answers it can give.
 */
import { IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_TTL_MS } from "../idempotency";
import { numberOption, paramsModel, shapeToSchema, type FieldSchema, type ParamsModel } from "./schemas";
import {
	BINARY_MEDIA_TYPE,
	IDEMPOTENCY_HEADER,
	JSON_MEDIA_TYPE,
	MULTIPART_FILE_PARAMS,
	MULTIPART_MEDIA_TYPE,
	PRIVATE_SECURITY,
	QUERY_METHODS,
	UNDOCUMENTED_HEADERS,
	isRecord,
	type AuthMode,
	type JsonSchema,
	type OpenApiOperation,
	type OpenApiParameter,
	type OpenApiReference,
	type OpenApiRequestBody,
	type OpenApiResponse,
	type RegistryAction,
	type ResponseDeclaration,
	type RegistryService,
	type ResolvedRoute,
	type SecurityRequirement,
} from "./types";

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

/** An action's `responses`: each status with its description, JSON body schema and headers. */
function responseDeclarations(action: RegistryAction): Record<string, OpenApiResponse> | undefined {
	if (!isRecord(action.responses)) return undefined;
	const responses: Record<string, OpenApiResponse> = {};
	for (const [status, declared] of Object.entries(action.responses as Record<string, ResponseDeclaration>)) {
		if (typeof declared === "string") {
			responses[status] = { description: declared };
			continue;
		}
		if (!isRecord(declared)) continue;
		const response: OpenApiResponse = { description: typeof declared.description === "string" ? declared.description : "Response" };
		if (isRecord(declared.headers)) {
			response.headers = Object.fromEntries(Object.entries(declared.headers).map(([name, description]) => [name, { description: String(description), schema: { type: "string" } }]));
		}
		// JSON round trip: TypeBox's schemas carry symbol keys the document has no use for.
		if (isRecord(declared.body)) response.content = { [JSON_MEDIA_TYPE]: { schema: JSON.parse(JSON.stringify(declared.body)) as JsonSchema } };
		responses[status] = response;
	}
	return responses;
}

/** An action's `errors`: each status as a problem answer naming the codes it carries. */
function errorDeclarations(action: RegistryAction): Record<string, OpenApiResponse | OpenApiReference> {
	if (!isRecord(action.errors)) return {};
	const responses: Record<string, OpenApiResponse | OpenApiReference> = {};
	for (const [status, codes] of Object.entries(action.errors as Record<string, unknown>)) {
		const list = Array.isArray(codes) ? codes.filter((code): code is string => typeof code === "string") : [];
		responses[status] = { $ref: "#/components/responses/Problem", description: list.length > 0 ? `Answered with code ${list.join(", ")}.` : "Problem" };
	}
	return responses;
}

function operationResponses(action: RegistryAction, route: ResolvedRoute, model: ParamsModel, auth: AuthMode, body: OpenApiRequestBody | undefined): OpenApiOperation["responses"] {
	const success: Record<string, OpenApiResponse | OpenApiReference> = {
		...(responseDeclarations(action) ??
			declaredResponses(action) ?? {
				"200": { description: "Successful response", content: { [JSON_MEDIA_TYPE]: { schema: {} } } },
			}),
		...errorDeclarations(action),
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

export function buildOperation(action: RegistryAction, service: RegistryService, route: ResolvedRoute, operationId: string): OpenApiOperation {
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
export function uniqueOperationId(action: RegistryAction, route: ResolvedRoute, used: Set<string>): string {
	const candidates = [action.name, `${action.name}.${route.method}`];
	let id = candidates.find((candidate) => !used.has(candidate));
	for (let n = 2; id === undefined; n++) {
		const candidate = `${action.name}.${route.method}${n}`;
		if (!used.has(candidate)) id = candidate;
	}
	used.add(id);
	return id;
}
