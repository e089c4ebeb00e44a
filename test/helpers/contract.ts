/**
 * The contract test: every answer the integration tests receive through test/helpers/api.ts is checked against
 * the OpenAPI document the gateway serves (GET /api/openapi.json), so the document can't drift from the code.
 *
 * For each answer: the operation (method and path template) is looked up; its status must be listed (a 2xx or
 * 3xx as declared, an error among the generic ones or the action's `errors`, not left to `default`), and a
 * JSON body must match the documented schema (problem+json for errors). An operation still documented as
 * "200, any body" is itself a violation. Violations are collected and fail the test that received them
 * (test/helpers/contract-setup.ts), with the request and what didn't match.
 */
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";

type Json = Record<string, unknown>;
interface Operation {
	responses: Record<string, Json>;
}
interface Route {
	method: string;
	template: string;
	pattern: RegExp;
	operation: Operation;
}
interface Contract {
	doc: Json;
	routes: Route[];
	fetchedAt: number;
}

const contracts = new Map<string, Promise<Contract>>();
const validators = new Map<string, ValidateFunction>();
const violations: string[] = [];

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv as never);

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function routesOf(doc: Json): Route[] {
	const routes: Route[] = [];
	for (const [template, item] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
		const source = template
			.split(/\{[^}]+\}/)
			.map(escapeRegExp)
			.join("[^/]+");
		for (const [method, operation] of Object.entries(item)) {
			if (typeof operation === "object" && operation && "responses" in operation) routes.push({ method: method.toUpperCase(), template, pattern: new RegExp(`^${source}$`), operation: operation as Operation });
		}
	}
	// Literal segments win over parameters (/files/upload-url over /files/{id}), as the gateway routes them.
	return routes.sort((a, b) => b.template.replace(/\{[^}]+\}/g, "").length - a.template.replace(/\{[^}]+\}/g, "").length);
}

async function loadContract(baseUrl: string): Promise<Contract> {
	const response = await fetch(`${baseUrl}/api/openapi.json`);
	const doc = (await response.json()) as Json;
	return { doc, routes: routesOf(doc), fetchedAt: Date.now() };
}

async function contractFor(baseUrl: string, refresh: boolean): Promise<Contract | undefined> {
	let contract = contracts.get(baseUrl);
	// Services join a cluster after its gateway: an unknown route refetches the document, at most once a second.
	if (contract && refresh && Date.now() - (await contract).fetchedAt > 1000) contract = undefined;
	if (!contract) {
		contract = loadContract(baseUrl);
		contracts.set(baseUrl, contract);
	}
	return contract.catch(() => undefined);
}

function find(contract: Contract, method: string, path: string): Route | undefined {
	return contract.routes.find((route) => route.method === method && route.pattern.test(path));
}

/** An operation is declared once no success of it is documented as "any body". */
function isDeclared(operation: Operation): boolean {
	return !Object.entries(operation.responses).some(([status, response]) => /^[23]/.test(status) && isAnyBody(response));
}

function isAnyBody(response: Json): boolean {
	const content = response.content as Record<string, Json> | undefined;
	const schema = content?.["application/json"]?.schema;
	return typeof schema === "object" && schema !== null && Object.keys(schema).length === 0;
}

function resolve(doc: Json, response: Json): Json {
	const ref = response.$ref;
	if (typeof ref !== "string") return response;
	const name = ref.replace("#/components/responses/", "");
	return ((doc.components as Json).responses as Record<string, Json>)[name] ?? {};
}

function validatorFor(contract: Contract, key: string, schema: Json): ValidateFunction {
	let validate = validators.get(key);
	if (!validate) {
		// Rooted with the document's components so "#/components/schemas/…" resolves.
		validate = ajv.compile({ ...schema, components: contract.doc.components });
		validators.set(key, validate);
	}
	return validate;
}

/** Checks one answer; any violation is kept for the running test to fail with. */
export async function checkAnswer(baseUrl: string, method: string, url: string, status: number, headers: Headers, text: string): Promise<void> {
	const path = new URL(url, baseUrl).pathname;
	let contract = await contractFor(baseUrl, false);
	let route = contract && find(contract, method, path);
	if (!route) {
		contract = await contractFor(baseUrl, true);
		route = contract && find(contract, method, path);
	}
	// Not an operation of the document (an unknown route's 404): nothing to check it against.
	if (!contract || !route) return;
	const where = `${method} ${path} → ${status} (${route.method} ${route.template})`;
	const success = status < 400;
	// Every operation declares its answers now: one still documented as "any body" is itself a violation.
	if (!isDeclared(route.operation)) violations.push(`${where}: the operation documents no declared answer ("200, any body"): declare its action's responses`);
	const documented = route.operation.responses[String(status)] ?? (success ? undefined : route.operation.responses[`${String(status)[0]}XX`]);
	// The gateway had no alias for the route at that moment (its service is joining or leaving the cluster, and the
	// document, built from the registry, is ahead of the gateway's aliases): not an answer of the operation.
	if (!documented && status === 404 && /"code"\s*:\s*"ROUTE_NOT_FOUND"/.test(text)) return;
	// A server fault (a 500 from a tampered row) is no promise of the operation: `default` describes it.
	const serverFault = status >= 500 && route.operation.responses.default !== undefined;
	if (!documented && !serverFault) {
		violations.push(`${where}: status ${status} is not documented (documented: ${Object.keys(route.operation.responses).join(", ")})`);
		if (success) return;
	}
	const response = resolve(contract.doc, documented ?? route.operation.responses.default ?? {});
	const content = (response.content ?? {}) as Record<string, Json>;
	const mediaTypes = Object.keys(content);
	const type = (headers.get("content-type") ?? "").split(";")[0].trim();
	if (text === "") {
		if (mediaTypes.length > 0 && status !== 304) violations.push(`${where}: answered without a body, documented ${mediaTypes.join(", ")}`);
		return;
	}
	if (mediaTypes.length === 0) {
		violations.push(`${where}: answered a ${type} body, documented none`);
		return;
	}
	const media = content[type];
	if (!media) {
		violations.push(`${where}: answered ${type}, documented ${mediaTypes.join(", ")}`);
		return;
	}
	if (!media.schema || !type.endsWith("json")) return;
	const validate = validatorFor(contract, `${baseUrl} ${route.method} ${route.template} ${status} ${type}`, media.schema as Json);
	if (!validate(JSON.parse(text))) {
		const errors = (validate.errors ?? []).slice(0, 5).map((error) => `${error.instancePath || "/"} ${error.message ?? ""}${error.params ? ` ${JSON.stringify(error.params)}` : ""}`);
		violations.push(`${where}: the body doesn't match the documented schema: ${errors.join("; ")}; body: ${text.slice(0, 300)}`);
	}
}

/** The violations found since the last call, cleared. */
export function takeViolations(): string[] {
	return violations.splice(0);
}
