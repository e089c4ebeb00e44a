/**
 * The REST gateway (moleculer-web). Routes under /api/v1 come from each action's `rest` (auto aliases),
 * so a new service needs no edit here. Every error leaves as RFC 9457 problem+json.
 */
import fs from "node:fs";
import path from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, ServiceSchema, ServiceSettingSchema, Service } from "moleculer";
import ApiGateway from "moleculer-web";
import { parse as parseCookie } from "cookie";
import { platformConfigOf } from "../../lib/node";
import { bodyParserError, toProblem, type ProblemResponse } from "../../lib/problem";
import { BadRequestError, NotFoundError, ServiceUnavailableError } from "../../lib/errors";
import { IDEMPOTENCY_KEY_PATTERN } from "../../lib/idempotency";
import { checkReadiness, closeProbePools } from "../../lib/readiness";
import { MemoryRateLimitStore, RateLimiter, RedisRateLimitStore } from "../../lib/rate-limit";
import { buildOpenApiDocument, type LiveAlias } from "../../lib/openapi";
import { renderApiDocsPage, renderApiDocsInitScript, swaggerUiAssetsDir } from "../../lib/api-docs";
import type { CallerMeta } from "../../lib/caller";
import { GatewayFastPath, type GatewayInternals, type GatewayRoute } from "../../lib/gateway/fast-path";
import { CallerCache, credentialHash, tokenExpiryMs } from "../../lib/gateway/caller-cache";
import { AUTH_STATE_CHANGED, type AuthStateChange } from "../identity/contracts";
import { apiSecurityHeaders, documentSecurityHeaders } from "../../lib/gateway/security-headers";
import { answerClientErrors } from "../../lib/gateway/client-error";
import { LogThrottle } from "../../lib/log-throttle";
import { guardMultipartBody, refuseEncodedBody } from "../../lib/gateway/multipart-guard";
import { REALTIME_PATH, REALTIME_PATH_ITEM } from "./realtime.service";
import { API_BASE_PATH } from "../../lib/api-path";

const DOCS_ASSETS_PATH = "/api/docs/assets";
const DOCS_ASSETS = new Set(["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png", "favicon-16x16.png"]);
/** Probes must never be throttled away. (/metrics is not served here: lib/ops-server.ts, on OPS_PORT.) */
const UNLIMITED_PATHS = new Set(["/healthz", "/readyz"]);
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const BEARER_PREFIX = /^Bearer\s+/i;
const GatewayNotFoundError = ApiGateway.Errors.NotFoundError;
const INVALID_PATH_ENCODING_DETAIL = "The URL path has an invalid percent-escape: a % must start the %XX escapes of a character's UTF-8 bytes";
/** The docs page loads its own scripts and styles: it needs a page's policy, not the API's load-nothing one. */
const DOCUMENT_SECURITY_HEADERS = documentSecurityHeaders();

type GatewayRequest = IncomingMessage & {
	rawBody?: Buffer; $ctx?: Context; $route?: unknown; originalUrl?: string; parsedUrl?: string; socket: IncomingMessage["socket"] };
type GatewayResponse = ServerResponse & { $ctx?: Context };
type Alias = { route: unknown; _generated?: boolean; method: string; path: string };

interface GatewaySettings extends ServiceSettingSchema {
	port: number;
	ip: string;
	routes: unknown[] | null;
	[key: string]: unknown;
}

interface GatewayMethods {
	failRequest(req: GatewayRequest, res: GatewayResponse, err: unknown, rateLimitHeaders: string[]): void;
	errorHandler(req: GatewayRequest, res: GatewayResponse, err: Error): void;
	sendError(req: GatewayRequest, res: GatewayResponse, err: Error): void;
	logFailure(req: GatewayRequest, err: Error, status: number): void;
	sendProblem(req: GatewayRequest, res: GatewayResponse, problem: ProblemResponse): void;
	setCommonHeaders(res: GatewayResponse, rateLimitHeaders: string[]): void;
	clientAddress(req: GatewayRequest): string;
	authenticate(ctx: Context<unknown, CallerMeta>, route: unknown, req: GatewayRequest): unknown;
	resolveCaller(ctx: Context<unknown, CallerMeta>, key: string, token: string | undefined, apiKey: string | undefined): Promise<unknown>;
	regenerateAutoAliases(route: unknown): void;
}

interface GatewayLocals {
	rateLimiter: RateLimiter;
	securityHeaders: Array<[string, string]>;
	/** The same headers as one flat [name, value, ...] list, for answers written with a single writeHead. */
	securityHeaderList: string[];
	fastPath: GatewayFastPath;
	/** Resolved callers by credential hash, forgotten on auth.stateChanged (lib/gateway/caller-cache.ts). */
	callers: CallerCache;
	aliases: Alias[];
	server: import("node:http").Server;
	/** 503/504 failures, logged once per action and minute. */
	unavailableLog: LogThrottle;
}

type GatewayThis = Service<GatewaySettings> & GatewayMethods & GatewayLocals;

const originalHttpHandler = ApiGateway.methods!.httpHandler as (this: GatewayThis, req: GatewayRequest, res: GatewayResponse, next?: unknown) => Promise<void>;
const originalRegenerateAutoAliases = ApiGateway.methods!.regenerateAutoAliases as (this: GatewayThis, route: unknown) => void;

function isDecodable(path: string): boolean {
	try {
		decodeURIComponent(path);
		return true;
	} catch {
		return false;
	}
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
	res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
	res.end(JSON.stringify(body));
}

const GatewayService: ServiceSchema<GatewaySettings, GatewayMethods, GatewayLocals> = {
	name: "api",
	mixins: [ApiGateway as unknown as Partial<ServiceSchema>],

	settings: {
		port: 3000,
		ip: "0.0.0.0",
		log4XXResponses: false,
		logRequest: "debug",
		logResponse: "debug",
		// null, not []: an empty list would be filled in from moleculer-web's default catch-all "/" route,
		// which maps any URL to any action. Routes are added in created().
		routes: null,
	},

	actions: {
		// moleculer-web's route management is for code on this node only, not for the cluster or the API.
		listAliases: { rest: null, visibility: "protected" },
		addRoute: { visibility: "protected" },
		// The HTTP handler itself must never be retried: the request body is already consumed, and the
		// calls it makes carry their own retry policy.
		// Concurrency of HTTP requests is bounded by the calls they make (each has its own bulkhead).
		rest: { retryPolicy: { enabled: false }, bulkhead: { enabled: false } },
		removeRoute: { visibility: "protected" },
	},

	methods: {
		/**
		 * Entry for every HTTP request, before routing: security headers, a trustworthy request id and the
		 * rate limit apply to all answers, 404s included.
		 */
		async httpHandler(this: GatewayThis, req: GatewayRequest, res: GatewayResponse, next?: unknown) {
			let rateLimitHeaders: string[] = [];
			// Nothing thrown while handling a request may escape: an async request listener's rejection is an
			// unhandled one, which ends the process. It is the request's error and answered as such.
			try {
				const incomingId = req.headers["x-request-id"];
				if (typeof incomingId !== "string" || !REQUEST_ID_PATTERN.test(incomingId)) delete req.headers["x-request-id"];
				delete req.headers["x-correlation-id"];

				const url = (req.url ?? "/").split("?")[0];
				if (!UNLIMITED_PATHS.has(url)) {
					// The memory store answers at once; Redis is awaited (lib/rate-limit.ts consumeNow).
					const client = this.clientAddress(req);
					const decision = this.rateLimiter.consumeNow(client) ?? (await this.rateLimiter.consume(client));
					rateLimitHeaders = ["X-RateLimit-Limit", String(decision.limit), "X-RateLimit-Remaining", String(decision.remaining), "X-RateLimit-Reset", String(decision.resetEpochSeconds)];
					if (!decision.allowed) {
						this.setCommonHeaders(res, rateLimitHeaders);
						const problem = toProblem(
							{ code: 429, type: "RATE_LIMITED", message: "Too many requests: slow down and retry after the window resets", retryAfterSeconds: decision.retryAfterSeconds },
							this.broker.generateUid(),
							url,
						);
						res.setHeader("X-Request-ID", problem.body.requestId ?? "");
						return this.sendProblem(req, res, problem);
					}
				}
				// A path that can't be decoded is malformed whatever route or method it is sent to (routing would
				// throw on it only where a parameter takes the escape, and answer 404 elsewhere).
				if (url.includes("%") && !isDecodable(url)) throw new BadRequestError(INVALID_PATH_ENCODING_DETAIL, "INVALID_PATH_ENCODING");
				// Auto-aliased API calls are answered by the fast path (lib/gateway/fast-path.ts), which writes these
				// headers together with the answer's own in one go; everything else goes to moleculer-web.
				const fast = next === undefined ? this.fastPath.match(req) : undefined;
				if (fast) return await this.fastPath.handle(req, res, fast, this.securityHeaderList.concat(rateLimitHeaders));
				this.setCommonHeaders(res, rateLimitHeaders);
				return await originalHttpHandler.call(this, req, res, next);
			} catch (err) {
				this.failRequest(req, res, err, rateLimitHeaders);
			}
		},

		/**
		 * The last resort for an error no handler answered: problem+json with the usual headers, or, when the
		 * answer had already begun, a closed connection (the client sees it cut short rather than wait).
		 */
		failRequest(this: GatewayThis, req: GatewayRequest, res: GatewayResponse, err: unknown, rateLimitHeaders: string[]) {
			try {
				const error = err instanceof Error ? err : new Error(String(err));
				if (res.headersSent) {
					this.logger.error(`${req.method} ${req.url} failed after its answer began:`, error);
					res.destroy();
					return;
				}
				this.setCommonHeaders(res, rateLimitHeaders);
				if (!res.hasHeader("X-Request-ID")) res.setHeader("X-Request-ID", req.$ctx?.requestID ?? this.broker.generateUid());
				this.sendError(req, res, error);
			} catch (fatal) {
				this.logger.error(`${req.method} ${req.url} could not be answered:`, fatal);
				res.destroy();
			}
		},

		/** Security and rate-limit headers, which every answer carries. */
		setCommonHeaders(this: GatewayThis, res: GatewayResponse, rateLimitHeaders: string[]) {
			for (const [name, value] of this.securityHeaders) res.setHeader(name, value);
			for (let index = 0; index < rateLimitHeaders.length; index += 2) res.setHeader(rateLimitHeaders[index], rateLimitHeaders[index + 1]);
		},

		/**
		 * moleculer-web's errorHandler logs a failed request's stack and then calls sendError; sendError logs
		 * it here, once, so the gateway's own entry point is all that is left.
		 */
		errorHandler(this: GatewayThis, req: GatewayRequest, res: GatewayResponse, err: Error) {
			this.sendError(req, res, err);
		},

		sendError(this: GatewayThis, req: GatewayRequest, res: GatewayResponse, err: Error) {
			const requestId = req.$ctx?.requestID ?? (res.getHeader("X-Request-ID") as string | undefined) ?? undefined;
			const instance = req.originalUrl ?? req.url;
			let error: Error = err;
			// Only moleculer-web's own "no alias matches" is a missing route; a service's NotFoundError keeps its code.
			if (err instanceof GatewayNotFoundError) {
				error = new NotFoundError(`No route matches ${req.method} ${(instance ?? "").split("?")[0]}`, "ROUTE_NOT_FOUND");
			}
			const problem = toProblem(error, requestId, instance);
			// A client that went away (an upload cut off mid-body) can't be answered, and its parser errors are no server fault.
			if (problem.status >= 500 && !res.destroyed) this.logFailure(req, err, problem.status);
			this.sendProblem(req, res, problem);
		},

		/**
		 * One log line per failure, with its stack only for a real fault (500). A service with no node to run it
		 * (503) or no answer in time (504) is the cluster's state, not a bug: it is logged as a warning once per
		 * action and minute, with the number of requests it failed since, instead of once per request.
		 */
		logFailure(this: GatewayThis, req: GatewayRequest, err: Error, status: number) {
			const path = (req.originalUrl ?? req.url ?? "").split("?")[0];
			if (status !== 503 && status !== 504) {
				this.logger.error(`${req.method} ${path} failed:`, err);
				return;
			}
			const subject = (req as GatewayRequest & { $alias?: { action?: unknown } }).$alias?.action;
			const what = typeof subject === "string" ? subject : `${req.method} ${path}`;
			const admitted = this.unavailableLog.admit(`${status} ${what}`);
			if (!admitted) return;
			const earlier = admitted.suppressed > 0 ? ` (${admitted.suppressed} more since the last report)` : "";
			this.logger.warn(`${what} answered ${status}: ${err.message}${earlier}; repeats are counted, not logged, for ${this.unavailableLog.windowMs / 1000} s`);
		},

		sendProblem(this: GatewayThis, req: GatewayRequest, res: GatewayResponse, problem: ProblemResponse) {
			if (res.headersSent) return;
			res.writeHead(problem.status, problem.headers);
			res.end(JSON.stringify(problem.body));
		},

		clientAddress(this: GatewayThis, req: GatewayRequest): string {
			if (platformConfigOf(this.broker).http.trustProxy) {
				const forwarded = req.headers["x-forwarded-for"];
				const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
				if (first) return first;
			}
			return req.socket.remoteAddress ?? "unknown";
		},

		/**
		 * Turns a bearer token or an API key into the caller's meta. The identity domain answers
		 * `auth.resolveCredentials`; without it, presented credentials can't be trusted and are refused.
		 */
		/**
		 * Not async: a caller remembered on this node (most requests) is answered synchronously, which spares
		 * each request two promise hops (issue 12); both callers (the fast path and moleculer-web) await the
		 * answer inside a try, so a thrown error is handled as a rejection would be.
		 */
		authenticate(this: GatewayThis, ctx: Context<unknown, CallerMeta>, _route: unknown, req: GatewayRequest) {
			// Runs before moleculer-web reads a multipart route's body (uploads): see guardMultipartBody.
			const aliasType = (req as GatewayRequest & { $alias?: { type?: string } }).$alias?.type;
			if (aliasType === "multipart") guardMultipartBody(req);
			else if (aliasType === "stream") refuseEncodedBody(req);
			ctx.meta.ip = this.clientAddress(req);
			// Cookies, declared headers, the Idempotency-Key and the raw body reach only the actions that ask for them, never the
			// rest of the cluster.
			const action = (req as GatewayRequest & { $action?: { cookies?: string[]; headers?: string[]; idempotent?: boolean; rawBody?: boolean } }).$action;
			const wantedCookies = action?.cookies;
			if (wantedCookies && typeof req.headers.cookie === "string") {
				const jar = parseCookie(req.headers.cookie);
				ctx.meta.cookies = Object.fromEntries(wantedCookies.filter((name) => jar[name] !== undefined).map((name) => [name, String(jar[name])]));
			}
			const wantedHeaders = action?.headers;
			if (wantedHeaders) {
				const picked: Record<string, string> = {};
				for (const name of wantedHeaders) {
					const value = req.headers[name.toLowerCase()];
					if (value !== undefined) picked[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
				}
				(ctx.meta as CallerMeta & { headers?: Record<string, string> }).headers = picked;
			}
			// The idempotency mixin stores and replays responses (ctx.meta.$statusCode/$location included).
			const idempotencyKey = req.headers["idempotency-key"];
			if (action?.idempotent === true && idempotencyKey !== undefined) {
				if (typeof idempotencyKey !== "string" || !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
					throw new BadRequestError("Idempotency-Key must be 1 to 255 printable ASCII characters", "INVALID_IDEMPOTENCY_KEY");
				}
				ctx.meta.idempotencyKey = idempotencyKey;
			}
			// Signed webhooks (Stripe) are verified over the exact bytes that were sent.
			if (action?.rawBody === true && req.rawBody) ctx.meta.rawBody = req.rawBody.toString("utf8");
			const userAgent = req.headers["user-agent"];
			if (userAgent) ctx.meta.userAgent = userAgent.slice(0, 512);
			const authorization = req.headers.authorization;
			const apiKey = req.headers["x-api-key"];
			// What `authorization.replace(/^Bearer\s+/i, "").trim()` after a test of the same expression gave, in one match.
			const bearer = typeof authorization === "string" ? BEARER_PREFIX.exec(authorization) : null;
			const token = bearer ? (authorization as string).slice(bearer[0].length).trim() : undefined;
			if (!token && typeof apiKey !== "string") return null;
			const key = token ? credentialHash("token", token) : credentialHash("key", apiKey as string);
			// The answer is remembered on this node until the caller's state changes (or AUTH_STATE_TTL_MS).
			const known = this.callers.peek(key);
			if (!known) return this.resolveCaller(ctx, key, token, apiKey as string | undefined);
			Object.assign(ctx.meta, known);
			return known.user ?? null;
		},

		/** authenticate for a caller this node does not remember: asks the identity domain (one request per credential at a time). */
		async resolveCaller(this: GatewayThis, ctx: Context<unknown, CallerMeta>, key: string, token: string | undefined, apiKey: string | undefined) {
			// With no identity node up this fails with 503: the credentials can't be judged, not judged wrong.
			// broker.call, not ctx.call: a child's meta merges back into its parent, and $system must not.
			const caller = await this.callers.get(
				key,
				() => this.broker.call<CallerMeta, object>("auth.resolveCredentials", { token, apiKey }, { meta: { $system: true }, requestID: ctx.requestID ?? undefined }),
				token ? () => tokenExpiryMs(token) : undefined,
			);
			Object.assign(ctx.meta, caller);
			return caller.user ?? null;
		},

		/**
		 * moleculer-web forgets the routes of a service when its last node leaves, so callers would get 404
		 * for a route that exists. Known routes are kept: with no node to serve them they answer 503.
		 */
		regenerateAutoAliases(this: GatewayThis, route: unknown) {
			const known = this.aliases.filter((alias) => alias.route === route && alias._generated);
			originalRegenerateAutoAliases.call(this, route);
			const current = new Set(this.aliases.filter((alias) => alias.route === route).map((alias) => `${alias.method} ${alias.path}`));
			const departed = known.filter((alias) => !current.has(`${alias.method} ${alias.path}`));
			if (departed.length > 0) {
				this.aliases.push(...departed);
				(this as unknown as { optimizeAliasesOrder(): void }).optimizeAliasesOrder();
			}
		},
	},

	created(this: GatewayThis) {
		const config = platformConfigOf(this.broker);
		this.settings.port = config.http.port;
		this.settings.ip = config.http.host;
		this.settings.cors = {
			origin: config.http.corsOrigins,
			methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
			allowedHeaders: ["Authorization", "Content-Type", "X-API-Key", "X-Request-Id", "Idempotency-Key"],
			exposedHeaders: ["X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"],
			credentials: false,
			maxAge: 600,
		};
		// moleculer-web's own created() has already read settings.routes; routes that depend on this
		// node's configuration are added through its API instead.
		const routes = [
			{
				path: API_BASE_PATH,
				autoAliases: true,
				mappingPolicy: "restrict",
				authentication: true,
				bodyParsers: {
					// Keep the bytes as received for actions that verify a signature over them (rawBody: true).
					json: { strict: true, limit: config.http.bodyLimit, verify: (req: GatewayRequest, _res: unknown, buffer: Buffer) => (req.rawBody = buffer) },
					urlencoded: { extended: true, limit: config.http.bodyLimit },
				},
				// No call timeout of the route's own: each action's `timeout` applies (the broker's REQUEST_TIMEOUT_MS
				// unless it sets one, as uploads do).
			},
			{
				path: "",
				mappingPolicy: "restrict",
				bodyParsers: false,
				aliases: {
					"GET /healthz": (req: GatewayRequest, res: GatewayResponse) => sendJson(res, 200, { status: "ok", nodeID: this.broker.nodeID }),
					"GET /readyz": async (req: GatewayRequest, res: GatewayResponse) => {
						const report = await checkReadiness(this.broker);
						if (report.status === "ready") return sendJson(res, 200, report);
						const problem = toProblem(new ServiceUnavailableError("This node is not ready", "NOT_READY"), req.$ctx?.requestID ?? undefined, "/readyz");
						Object.assign(problem.body, { checks: report.checks, errors: report.errors });
						this.sendProblem(req, res, problem);
					},
					"GET /api/openapi.json": (req: GatewayRequest, res: GatewayResponse) => {
						const services = this.broker.registry.getServiceList({ withActions: true, grouping: true });
						// The routes this gateway really generated (moleculer-web's aliases), not a re-derivation of its rules.
						const aliases = (this as unknown as { aliases?: LiveAlias[] }).aliases ?? [];
						sendJson(res, 200, buildOpenApiDocument(services as never, { title: "Lattice API", version: "1", basePath: API_BASE_PATH, extraPaths: OPS_PATHS, aliases }));
					},
					"GET /api/docs": (req: GatewayRequest, res: GatewayResponse) => {
						for (const [name, value] of DOCUMENT_SECURITY_HEADERS) res.setHeader(name, value);
						res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
						res.end(renderApiDocsPage({ title: "Lattice API", specUrl: "/api/openapi.json", assetsPath: DOCS_ASSETS_PATH }));
					},
					[`GET ${DOCS_ASSETS_PATH}/:file`]: (req: GatewayRequest & { $params: { file: string } }, res: GatewayResponse) => {
						const file = req.$params.file;
						if (file === "init.js") {
							res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
							return res.end(renderApiDocsInitScript("/api/openapi.json"));
						}
						if (!DOCS_ASSETS.has(file)) return this.sendError(req, res, new NotFoundError(`No asset ${file}`, "ASSET_NOT_FOUND"));
						const type = file.endsWith(".css") ? "text/css" : file.endsWith(".js") ? "text/javascript" : "image/png";
						res.writeHead(200, { "Content-Type": type, "Cache-Control": "public, max-age=86400" });
						fs.createReadStream(path.join(swaggerUiAssetsDir(), file))
							.on("error", (err) => this.failRequest(req, res, err, []))
							.pipe(res);
					},
				},
			},
		];
		const [apiRoute] = routes.map((route) => (this as unknown as { addRoute(route: unknown): GatewayRoute }).addRoute(route));
		// A body parser's error reaches the error handler as a typed client error (lib/problem.ts bodyParserError):
		// moleculer-web would re-wrap a decompression error into a 500.
		apiRoute.middlewares = apiRoute.middlewares.map(
			(middleware) => (req: GatewayRequest, res: GatewayResponse, next: (err?: unknown) => void) =>
				(middleware as (req: GatewayRequest, res: GatewayResponse, next: (err?: unknown) => void) => void)(req, res, (err?: unknown) => next(err ? bodyParserError(err) : undefined)),
		);

		const store = config.rateLimit.redisUrl
			? new RedisRateLimitStore(config.rateLimit.redisUrl, `${config.namespace}:ratelimit`)
			: new MemoryRateLimitStore();
		this.rateLimiter = new RateLimiter(store, config.rateLimit.max, config.rateLimit.windowMs);
		this.securityHeaders = apiSecurityHeaders();
		this.securityHeaderList = this.securityHeaders.flat();
		this.unavailableLog = new LogThrottle(60_000);
		// Requests Node's parser refuses (headers over 16 KB, a malformed request line) answer problem+json too.
		answerClientErrors(this.server, this.logger, this.securityHeaders, () => this.broker.generateUid());
		this.callers = new CallerCache();
		this.fastPath = new GatewayFastPath(this as unknown as GatewayInternals, apiRoute, config.log.level === "debug" || config.log.level === "trace");
		// Node ends a request whose body takes longer than requestTimeout (5 min); an upload may take FILES_UPLOAD_TIMEOUT.
		this.server.requestTimeout = Math.max(this.server.requestTimeout, config.storage.uploadTimeoutMs + 5_000);

		// moleculer-web runs every HTTP request as a call of its private `rest` action, so each request
		// crossed the whole middleware chain twice (once for `rest`, once for the real action). The real
		// action keeps every policy, metric and trace; the wrapper only needs a context.
		const restHandler = (ApiGateway.actions!.rest as unknown as { handler: (this: GatewayThis, ctx: Context) => Promise<unknown> }).handler;
		const noEndpoint = null as never; // the wrapper context stands for no action of its own
		(this as unknown as { actions: Record<string, unknown> }).actions.rest = (params: Record<string, unknown>, opts: Record<string, unknown> = {}) =>
			restHandler.call(this, this.broker.ContextFactory.create(this.broker, noEndpoint, params, opts) as Context);
	},

	events: {
		/** Broadcast by the identity domain whenever a caller's state changes: forget the callers it names. */
		[AUTH_STATE_CHANGED]: {
			handler(this: GatewayThis, ctx: Context<AuthStateChange>) {
				this.callers.invalidate(ctx.params ?? { reason: "unknown" });
			},
		},
		/** Changes announced while this node was cut off from NATS were missed: forget every caller. */
		"$transporter.connected": {
			handler(this: GatewayThis) {
				this.callers.clear();
			},
		},
		/**
		 * moleculer-web builds aliases on a 500 ms debounce after services change; build them as soon as
		 * the node has started so the first requests don't meet a 404.
		 */
		"$broker.started": {
			handler(this: GatewayThis) {
				const routes = (this as unknown as { routes: Array<{ opts: { autoAliases?: boolean } }> }).routes;
				for (const route of routes) if (route.opts.autoAliases) this.regenerateAutoAliases(route);
			},
		},
	},

	async started(this: GatewayThis) {
		await this.rateLimiter.ready();
	},

	async stopped(this: GatewayThis) {
		await this.rateLimiter.close();
		await closeProbePools();
	},
};

/**
 * Ops endpoints live outside /api/v1; they are documented beside the generated API. /metrics is not among
 * them: it is served on each node's OPS_PORT only (lib/ops-server.ts), not on this port.
 */
const OPS_PATHS: Record<string, unknown> = {
	"/healthz": { get: { operationId: "ops.healthz", tags: ["ops"], summary: "Liveness", security: [], responses: { "200": { description: "The process is alive" } } } },
	"/readyz": {
		get: {
			operationId: "ops.readyz",
			tags: ["ops"],
			summary: "Readiness: database, transporter and cacher answer",
			security: [],
			responses: { "200": { description: "Ready" }, "503": { $ref: "#/components/responses/Problem" } },
		},
	},
	// Served on this HTTP server's upgrade event (realtime.service.ts), not by a route: no alias would list it.
	[REALTIME_PATH]: REALTIME_PATH_ITEM,
};

export default GatewayService;
