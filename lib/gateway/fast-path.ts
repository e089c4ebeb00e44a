/**
 * The gateway's fast path: a request to an auto-aliased /api/v1 action is answered straight from the HTTP
 * handler, without moleculer-web's per-request wrapper (a `rest` context, a promise with three response
 * listeners, the route middleware chain for body-less requests, a child context whose meta is merged back,
 * and a response written header by header).
 *
 * It is the same request handling, not a shortcut around it: the alias is resolved as moleculer-web's
 * resolveAlias does (same alias list, same order, same expressions), bodies go through the route's own body
 * parsers (size limit, JSON errors, raw bytes), CORS through moleculer-web's writeCorsHeaders, credentials
 * through the route's authenticate, and the action is called through broker.call, so validation, access
 * control, bulkhead, timeout, retry, circuit breaker, metrics and tracing all apply. Errors go to the gateway's error handler
 * (problem+json). What it saves is bookkeeping, and header writing: the answer's headers are collected in
 * one flat list and written by a single writeHead, which Node's HTTP layer handles at a fraction of the
 * cost of one setHeader per header (see bench/gateway.bench.ts and the README).
 *
 * Anything it does not know how to answer identically goes to moleculer-web untouched, before any work is
 * done: other methods (OPTIONS preflights, HEAD), other routes, aliases with their own handler or a
 * multipart/stream type, routes with per-route hooks, and, once the action has answered, responses that
 * need moleculer-web's full sendResponse (binary and stream bodies, custom response types or headers,
 * 204/3xx, conditional requests).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Cachers, Errors, type ActionEndpoint, type Context, type Logger, type ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { composeThen } from "moleculer-web/src/utils";
import type { CallerMeta } from "../caller";

type ConnectMiddleware = Parameters<typeof composeThen>[2];

/** The parts of a moleculer-web route the fast path reads. */
export interface GatewayRoute {
	path: string;
	opts: { mergeParams?: boolean };
	middlewares: ConnectMiddleware[];
	callOptions?: Record<string, unknown>;
	cors?: unknown;
	etag?: unknown;
	/** The user, or a promise of it. */
	authentication?: ((ctx: Context, route: GatewayRoute, req: IncomingMessage, res: ServerResponse, alias: GatewayAlias) => unknown) | null;
	authorization?: unknown;
	onBeforeCall?: unknown;
	onAfterCall?: unknown;
	hasWhitelist?: boolean;
	hasBlacklist?: boolean;
	rateLimit?: unknown;
}

/** The parts of a moleculer-web alias the fast path reads. */
export interface GatewayAlias {
	route: unknown;
	type: string;
	action: string | null;
	handler: unknown;
	passReqResToParams?: boolean;
	fullPath: string;
	isMethod(method: string): boolean;
	match(url: string): Record<string, unknown> | false;
}

type ActionInfo = {
	visibility?: string;
	cache?: unknown;
	responseType?: string;
	responseHeaders?: Record<string, string>;
};

/** moleculer-web's own methods, as mixed into the gateway service. */
export interface GatewayInternals {
	broker: ServiceBroker;
	logger: Logger;
	/** Every route's aliases, in the order moleculer-web's resolveAlias tries them. */
	aliases: GatewayAlias[];
	parseQueryString(req: IncomingMessage): { url: string; query: Record<string, unknown> };
	writeCorsHeaders(route: GatewayRoute, req: IncomingMessage, res: Pick<ServerResponse, "setHeader">, isPreFlight: boolean): void;
	encodeResponse(req: IncomingMessage, res: ServerResponse, data: unknown): string | undefined;
	sendResponse(req: IncomingMessage, res: ServerResponse, data: unknown, action: ActionInfo): void;
	errorHandler(req: IncomingMessage, res: ServerResponse, err: unknown): void;
	logRequest(req: IncomingMessage): void;
	logResponse(req: IncomingMessage, res: ServerResponse, data?: unknown): void;
}

/** Request properties moleculer-web sets and the gateway's own methods (authenticate, sendError) read. */
type FastRequest = IncomingMessage & {
	body?: unknown;
	$ctx?: Context;
	$route?: GatewayRoute;
	$alias?: GatewayAlias;
	$params?: Record<string, unknown>;
	$endpoint?: ActionEndpoint;
	$action?: ActionInfo;
	$startTime?: [number, number];
};

export interface FastMatch {
	alias: GatewayAlias;
	/** Path parameters of the alias (`:id`). */
	params: Record<string, unknown>;
}

type ResponseMeta = CallerMeta & {
	$statusCode?: number;
	$statusMessage?: string;
	$location?: string;
	$responseType?: string;
	$responseHeaders?: Record<string, string>;
};

/** Characters where path-to-regexp syntax (parameters, wildcards, groups) begins in an alias path. */
const PATH_SYNTAX = /[:*{}()[\]?+!\\]/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const LITERAL_PREFIX = Symbol("literalPrefix");
/** Resolved paths remembered (see resolveAlias); when full, the memo starts over. */
const RESOLVED_PATHS_MAX = 2_000;

/** Methods whose auto-aliases the fast path serves. OPTIONS (preflights) and HEAD stay with moleculer-web. */
const FAST_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);
const JSON_CONTENT_TYPE = "application/json; charset=utf-8";
const { ServiceNotFoundError } = Errors;
const { ServiceUnavailableError } = ApiGateway.Errors;

/** type-is's hasBody, which body-parser asks before parsing: without a body every parser just calls next(). */
function hasBody(req: IncomingMessage): boolean {
	return req.headers["transfer-encoding"] !== undefined || !isNaN(req.headers["content-length"] as unknown as number);
}

/** lodash's isObject, which moleculer-web uses to decide whether a parsed body is merged into the params. */
function isObjectLike(value: unknown): value is object {
	return value !== null && (typeof value === "object" || typeof value === "function");
}

/** Bodies moleculer-web's sendResponse treats specially (raw bytes, serialised Buffers, streams). */
function isSpecialBody(data: object): boolean {
	return Buffer.isBuffer(data) || (data as { type?: unknown }).type === "Buffer" || typeof (data as { pipe?: unknown }).pipe === "function";
}

/**
 * A stand-in response for moleculer-web's writeCorsHeaders: it records the headers into the flat list the
 * answer is written with. A name set twice keeps its last value, as with setHeader.
 */
function headerRecorder(headers: string[]): Pick<ServerResponse, "setHeader"> {
	return {
		setHeader(name: string, value: number | string | readonly string[]) {
			const text = Array.isArray(value) ? value.join(", ") : String(value);
			const lower = name.toLowerCase();
			for (let index = 0; index < headers.length; index += 2) {
				if (headers[index].toLowerCase() === lower) {
					headers[index + 1] = text;
					return this as ServerResponse;
				}
			}
			headers.push(name, text);
			return this as ServerResponse;
		},
	};
}

/** A JSON answer as written: the text and its length in bytes. */
interface EncodedBody {
	text: string;
	bytes: number;
}

export class GatewayFastPath {
	private readonly enabled: boolean;
	private readonly prefix: string;
	/**
	 * Answers already serialised, by the answer object itself. Serialising a 1.4 kB list costs a cached
	 * request several µs (JSON.stringify, then Buffer.byteLength), the largest single item of its CPU profile
	 * after the socket write. Only objects that can't change are remembered (see reusableAnswer); a WeakMap
	 * keeps no answer alive: an entry goes when the cacher drops the object.
	 */
	private readonly encoded = new WeakMap<object, EncodedBody>();
	/**
	 * Aliases found by method and path, for the alias list they were found in (moleculer-web replaces the
	 * list, or pushes to it, whenever routes change: its identity and length say whether the memo still holds).
	 */
	private resolved = new Map<string, { alias: GatewayAlias; params: Record<string, unknown> }>();
	private resolvedFor: { list: GatewayAlias[]; length: number } | undefined;
	/** Whether a cached action's answer is the very object the cacher keeps (the Memory cacher, no cloning). */
	private readonly cacherSharesAnswers: boolean;

	/**
	 * @param gateway the gateway service (moleculer-web's methods and the gateway's overrides)
	 * @param route the /api/v1 route whose auto-aliases are served here
	 * @param debugLogging whether moleculer-web's per-request debug lines would be printed
	 */
	constructor(
		private readonly gateway: GatewayInternals,
		private readonly route: GatewayRoute,
		private readonly debugLogging: boolean,
	) {
		this.prefix = `${route.path}/`;
		// Per-route hooks and filters run inside moleculer-web's alias handler; a route with any of them
		// is left entirely to moleculer-web.
		this.enabled =
			!route.authorization &&
			!route.onBeforeCall &&
			!route.onAfterCall &&
			!route.hasWhitelist &&
			!route.hasBlacklist &&
			!route.rateLimit &&
			!route.etag &&
			route.opts.mergeParams !== false;
		const cacher = gateway.broker.cacher as (InstanceType<typeof Cachers.Memory> & { clone?: unknown }) | undefined;
		this.cacherSharesAnswers = cacher instanceof Cachers.Memory && !cacher.clone;
	}

	/** The alias this request resolves to when the fast path answers it, else undefined (moleculer-web does). */
	match(req: IncomingMessage): FastMatch | undefined {
		const method = req.method ?? "";
		const url = req.url ?? "";
		if (!this.enabled || !FAST_METHODS.has(method) || !url.startsWith(this.prefix)) return undefined;
		const queryAt = url.indexOf("?", 1);
		let path = queryAt === -1 ? url : url.slice(0, queryAt);
		if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
		const found = this.resolveAlias(path, method);
		if (!found) return undefined;
		const alias = found.alias;
		if (alias.route !== this.route || alias.type !== "call" || alias.handler != null || typeof alias.action !== "string" || alias.passReqResToParams) {
			return undefined;
		}
		return { alias, params: found.params };
	}

	/**
	 * moleculer-web's resolveAlias: the first alias, in the same order, whose method and path pattern match.
	 * It runs every alias's regular expression until one matches, which with the platform's ~80 routes
	 * costs microseconds per request; here an alias whose literal beginning (the path before its first
	 * parameter) the URL does not start with is skipped without running its expression. Patterns match
	 * case-insensitively, so the comparison is on lower-cased text, and only for ASCII beginnings, where
	 * lower-casing agrees with the expression's case folding. The answer is always the one resolveAlias gives.
	 * A path found once is remembered with its alias and parameters (frozen: the caller copies them) for as
	 * long as the alias list is the same: the scan was still the largest part of routing for a busy URL.
	 */
	private resolveAlias(path: string, method: string): { alias: GatewayAlias; params: Record<string, unknown> } | false {
		const list = this.gateway.aliases;
		if (this.resolvedFor?.list !== list || this.resolvedFor.length !== list.length) {
			this.resolved = new Map();
			this.resolvedFor = { list, length: list.length };
		}
		const memoKey = `${method} ${path}`;
		const known = this.resolved.get(memoKey);
		if (known) return known;
		const found = this.scanAliases(path, method);
		if (found) {
			if (this.resolved.size >= RESOLVED_PATHS_MAX) this.resolved.clear();
			this.resolved.set(memoKey, { alias: found.alias, params: Object.freeze(found.params) });
		}
		return found;
	}

	private scanAliases(path: string, method: string): { alias: GatewayAlias; params: Record<string, unknown> } | false {
		const lowerPath = path.toLowerCase();
		for (const alias of this.gateway.aliases) {
			if (!alias.isMethod(method) || !lowerPath.startsWith(this.literalPrefix(alias))) continue;
			const params = alias.match(path);
			if (params) return { alias, params };
		}
		return false;
	}

	/** Kept on the alias itself (a symbol property): a lookup table would cost more than it saves. */
	private literalPrefix(alias: GatewayAlias & { [LITERAL_PREFIX]?: string }): string {
		let prefix = alias[LITERAL_PREFIX];
		if (prefix === undefined) {
			const syntaxAt = alias.fullPath.search(PATH_SYNTAX);
			const literal = syntaxAt === -1 ? alias.fullPath : alias.fullPath.slice(0, syntaxAt);
			prefix = PRINTABLE_ASCII.test(literal) ? literal.toLowerCase() : "";
			alias[LITERAL_PREFIX] = prefix;
		}
		return prefix;
	}

	/**
	 * Answers a matched request. `headers` is the flat [name, value, ...] list every answer carries (security
	 * and rate-limit headers); the answer's own headers are appended to it.
	 */
	async handle(incoming: IncomingMessage, res: ServerResponse, match: FastMatch, headers: string[]): Promise<void> {
		const req = incoming as FastRequest;
		const { gateway, route } = this;
		const broker = gateway.broker;
		const incomingId = req.headers["x-request-id"];
		const ctx = broker.ContextFactory.create(broker, null as never, null as never, { ...route.callOptions, requestID: incomingId }) as Context<Record<string, unknown>, ResponseMeta>;
		req.$ctx = ctx;
		req.$route = route;
		headers.push("X-Request-ID", ctx.requestID ?? "");
		if (this.debugLogging) {
			req.$startTime = process.hrtime();
			gateway.logRequest(req);
		}
		try {
			if (hasBody(req)) await composeThen.call(gateway, req, res, ...route.middlewares);
			if (route.cors && req.headers.origin !== undefined) gateway.writeCorsHeaders(route, req, headerRecorder(headers), true);

			const params: Record<string, unknown> = {};
			if (isObjectLike(req.body)) Object.assign(params, req.body);
			if (req.url!.indexOf("?", 1) !== -1) Object.assign(params, gateway.parseQueryString(req).query);
			Object.assign(params, match.params);
			req.$params = params;
			req.$alias = match.alias;

			const actionName = match.alias.action as string;
			const endpoint = broker.findNextActionEndpoint(actionName, route.callOptions as never, ctx) as ActionEndpoint | Error;
			if (endpoint instanceof Error) {
				// A route that exists but has no node to serve it (the gateway keeps departed services' routes).
				if (endpoint instanceof ServiceNotFoundError) throw new ServiceUnavailableError(undefined as unknown as string);
				throw endpoint;
			}
			const action = endpoint.action as unknown as ActionInfo;
			if (action.visibility != null && action.visibility !== "published") throw new ServiceNotFoundError({ action: actionName });
			req.$endpoint = endpoint;
			req.$action = action;

			if (route.authentication) {
				// The gateway's authenticate answers a caller it remembers synchronously: awaiting only a promise
				// spares the request a microtask hop.
				let user = route.authentication.call(gateway, ctx, route, req, res, match.alias);
				if (typeof (user as PromiseLike<unknown> | undefined)?.then === "function") user = await user;
				ctx.meta.user = (user || null) as CallerMeta["user"];
			}

			ctx.setParams(params, broker.options.contextParamsCloning);
			const data = await (broker.call as (name: unknown, params: unknown, opts: unknown) => Promise<unknown>)(endpoint, params, { ctx });
			this.send(req, res, ctx, data, action, headers);
		} catch (err) {
			this.fail(req, res, err, headers);
		}
	}

	/**
	 * Writes a JSON answer with one writeHead. Answers that need moleculer-web's full sendResponse get it,
	 * with the collected headers applied first.
	 */
	private send(req: FastRequest, res: ServerResponse, ctx: Context<unknown, ResponseMeta>, data: unknown, action: ActionInfo, headers: string[]): void {
		const meta = ctx.meta;
		const status = meta.$statusCode || 200;
		const plain =
			data != null &&
			typeof data !== "function" &&
			typeof data !== "symbol" &&
			!(typeof data === "object" && isSpecialBody(data)) &&
			status >= 200 &&
			status < 300 &&
			status !== 204 &&
			!meta.$statusMessage &&
			!meta.$responseType &&
			!meta.$responseHeaders &&
			!action.responseType &&
			!action.responseHeaders &&
			req.headers["if-none-match"] === undefined &&
			req.headers["if-modified-since"] === undefined;
		if (!plain) {
			this.applyHeaders(res, headers);
			this.gateway.sendResponse(req, res, data, action);
		} else {
			const { text: body, bytes } = this.encode(req, res, data as object, action);
			if (status === 201) {
				if (meta.$location) headers.push("Location", meta.$location);
				else this.gateway.logger.warn("The 'ctx.meta.$location' is missing for status code '201'!");
			}
			headers.push("Content-Type", JSON_CONTENT_TYPE, "Content-Length", String(bytes));
			res.writeHead(status, headers);
			res.end(body);
		}
		if (this.debugLogging) this.gateway.logResponse(req, res, data);
	}

	/**
	 * The answer's JSON, serialised once per answer object when that object can't change between requests:
	 * - the answer of a cached action when the cacher hands out the object it keeps (Memory cacher without
	 *   cloning): every hit answers that same object, and what the cacher keeps must not be changed by anyone
	 *   (the next hit would see it), so its text is the same on every hit;
	 * - a frozen object: its producer declares it final (e.g. auth.me's answer, rebuilt only when one of
	 *   its cached parts changes).
	 * Anything else (primitives, fresh answers of uncached actions, a Redis cacher's copies) is serialised
	 * per request as before. The gateway does not override moleculer-web's encodeResponse (JSON.stringify);
	 * an encoder that depended on the request would have to skip this.
	 */
	private encode(req: FastRequest, res: ServerResponse, data: object, action: ActionInfo): EncodedBody {
		const reusable = typeof data === "object" && ((this.cacherSharesAnswers && action.cache != null && action.cache !== false) || Object.isFrozen(data));
		if (reusable) {
			const known = this.encoded.get(data);
			if (known) return known;
		}
		const text = this.gateway.encodeResponse(req, res, data) as string;
		const body = { text, bytes: Buffer.byteLength(text) };
		if (reusable) this.encoded.set(data, body);
		return body;
	}

	private fail(req: FastRequest, res: ServerResponse, err: unknown, headers: string[]): void {
		if (!res.headersSent) this.applyHeaders(res, headers);
		// A rejection without a reason is still answered (a 500), never left to hang.
		this.gateway.errorHandler(req, res, err ?? new Error("The request failed without a reason"));
	}

	private applyHeaders(res: ServerResponse, headers: string[]): void {
		for (let index = 0; index < headers.length; index += 2) res.setHeader(headers[index], headers[index + 1]);
	}
}
