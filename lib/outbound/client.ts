/**
 * The one way the platform makes HTTP requests to addresses its users choose (webhook endpoints now,
 * screenshot and scraper targets later), guarded against server-side request forgery:
 *
 * - only http and https;
 * - the target must be a public address (lib/outbound/addresses.ts), checked on an IP-literal host before
 *   connecting and, for a host name, on EVERY address DNS answers, inside the socket's own `lookup`: the
 *   connection goes to the address that was checked, so a DNS answer that changes between a check and the
 *   connect (DNS rebinding) can't slip a private address in;
 * - redirects are followed by hand (a few at most), each hop checked again;
 * - one deadline for the whole exchange, redirects included, and a cap on the response body kept.
 *
 * Hosts listed in OUTBOUND_ALLOW_HOSTS (`host` for any port, `host:port` for one) skip the address check:
 * internal receivers an operator vouches for, and the local servers of tests.
 */
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { addressRange } from "./addresses";
import { OutboundFailedError, OutboundRefusedError } from "./errors";

export interface OutboundClientOptions {
	/** config.outbound.allowHosts: lower-case `host` or `host:port` (IPv6 in brackets). */
	allowHosts: readonly string[];
	userAgent?: string;
	timeoutMs?: number;
	maxBodyBytes?: number;
	maxRedirects?: number;
}

export interface OutboundRequest {
	method?: string;
	headers?: Record<string, string>;
	body?: string | Buffer;
	/** For the whole exchange: connect, every redirect hop, and reading the body. */
	timeoutMs?: number;
	/** The body is read up to this many bytes; the rest is dropped and `truncated` set. */
	maxBodyBytes?: number;
	/** 0: a 3xx is answered as it is. */
	maxRedirects?: number;
	signal?: AbortSignal;
}

export interface OutboundResponse {
	status: number;
	headers: http.IncomingHttpHeaders;
	body: Buffer;
	truncated: boolean;
	/** The URL that answered, after redirects. */
	url: string;
	redirects: number;
	durationMs: number;
}

const DEFAULTS = { userAgent: "Lattice/1.0", timeoutMs: 15_000, maxBodyBytes: 1024 * 1024, maxRedirects: 5 };
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that carry the caller's credentials for one origin; never forwarded to another. */
const ORIGIN_BOUND_HEADERS = ["authorization", "cookie", "proxy-authorization"];

export class OutboundClient {
	private readonly allowHosts: ReadonlySet<string>;
	private readonly defaults: typeof DEFAULTS;

	constructor(options: OutboundClientOptions) {
		this.allowHosts = new Set(options.allowHosts.map((host) => host.toLowerCase()));
		this.defaults = {
			userAgent: options.userAgent ?? DEFAULTS.userAgent,
			timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
			maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
			maxRedirects: options.maxRedirects ?? DEFAULTS.maxRedirects,
		};
	}

	/** True when the URL's host (any port) or host:port is in OUTBOUND_ALLOW_HOSTS. */
	isAllowListed(url: URL): boolean {
		const host = url.hostname.toLowerCase();
		const port = url.port || (url.protocol === "https:" ? "443" : "80");
		return this.allowHosts.has(host) || this.allowHosts.has(`${host}:${port}`);
	}

	/** Parses the URL and refuses a scheme other than http(s) or an IP-literal host that isn't public. */
	checkUrl(value: string | URL): URL {
		let url: URL;
		try {
			url = typeof value === "string" ? new URL(value) : value;
		} catch {
			throw new OutboundRefusedError("The URL is not valid", "URL", { url: String(value) });
		}
		if (url.protocol !== "http:" && url.protocol !== "https:") {
			throw new OutboundRefusedError(`Only http and https URLs may be requested (got ${url.protocol})`, "SCHEME", { url: url.href });
		}
		if (!url.hostname) throw new OutboundRefusedError("The URL has no host", "URL", { url: url.href });
		if (this.isAllowListed(url)) return url;
		const literal = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
		const range = addressRange(literal);
		if (range !== "invalid" && range !== "unicast") throw refusedAddress(url.hostname, literal, range);
		return url;
	}

	/**
	 * What a request would do before connecting: the URL's checks plus a DNS resolution whose every address
	 * must be public. For validating a target when it is registered; requests check again when they run.
	 */
	async assertAllowed(value: string | URL): Promise<URL> {
		const url = this.checkUrl(value);
		if (this.isAllowListed(url) || addressRange(url.hostname.replace(/^\[|\]$/g, "")) !== "invalid") return url;
		let addresses: dns.LookupAddress[];
		try {
			addresses = await dns.promises.lookup(url.hostname, { all: true });
		} catch (err) {
			throw new OutboundFailedError("DNS_FAILED", `${url.hostname} does not resolve`, err);
		}
		for (const { address } of addresses) {
			const range = addressRange(address);
			if (range !== "unicast") throw refusedAddress(url.hostname, address, range);
		}
		return url;
	}

	async request(target: string | URL, options: OutboundRequest = {}): Promise<OutboundResponse> {
		const started = Date.now();
		const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs;
		const maxRedirects = options.maxRedirects ?? this.defaults.maxRedirects;
		const deadline = new AbortController();
		const timer = setTimeout(() => deadline.abort(new OutboundFailedError("TIMEOUT", `No complete answer within ${timeoutMs} ms`)), timeoutMs);
		const onAbort = () => deadline.abort(new OutboundFailedError("ABORTED", "The request was cancelled"));
		options.signal?.addEventListener("abort", onAbort, { once: true });
		if (options.signal?.aborted) onAbort();

		let url = this.checkUrl(target);
		let method = (options.method ?? "GET").toUpperCase();
		let body = options.body;
		const headers: Record<string, string> = { "user-agent": this.defaults.userAgent };
		for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
		try {
			for (let redirects = 0; ; redirects += 1) {
				const answer = await this.exchange(url, method, headers, body, options.maxBodyBytes ?? this.defaults.maxBodyBytes, deadline.signal, maxRedirects > 0);
				const location = answer.headers.location;
				if (maxRedirects === 0 || !REDIRECT_STATUSES.has(answer.status) || !location) {
					return { ...answer, url: url.href, redirects, durationMs: Date.now() - started };
				}
				if (redirects >= maxRedirects) throw new OutboundFailedError("TOO_MANY_REDIRECTS", `More than ${maxRedirects} redirects`);
				let next: URL;
				try {
					next = new URL(location, url);
				} catch (err) {
					throw new OutboundFailedError("INVALID_REDIRECT", `The redirect to "${location}" is not a URL`, err);
				}
				next = this.checkUrl(next);
				// As browsers do: 303, and 301/302 after a POST, continue as a GET without the body.
				if (answer.status === 303 || ((answer.status === 301 || answer.status === 302) && method === "POST")) {
					if (method !== "HEAD") method = "GET";
					body = undefined;
					delete headers["content-type"];
					delete headers["content-length"];
				}
				if (next.origin !== url.origin) for (const name of ORIGIN_BOUND_HEADERS) delete headers[name];
				url = next;
			}
		} catch (err) {
			// Whatever surfaced (a socket error, an AbortError), a deadline or a cancel is what happened.
			if (deadline.signal.aborted && !(err instanceof OutboundRefusedError)) throw deadline.signal.reason;
			throw err;
		} finally {
			clearTimeout(timer);
			options.signal?.removeEventListener("abort", onAbort);
		}
	}

	/** One HTTP exchange; a redirect's body is never read. */
	private exchange(
		url: URL,
		method: string,
		headers: Record<string, string>,
		body: string | Buffer | undefined,
		maxBodyBytes: number,
		signal: AbortSignal,
		followingRedirects: boolean,
	): Promise<Omit<OutboundResponse, "url" | "redirects" | "durationMs">> {
		const transport = url.protocol === "https:" ? https : http;
		const requestHeaders = { ...headers };
		if (body !== undefined) requestHeaders["content-length"] = String(Buffer.byteLength(body));
		return new Promise((resolve, reject) => {
			const request = transport.request({
				protocol: url.protocol,
				hostname: url.hostname.replace(/^\[|\]$/g, ""),
				port: url.port || undefined,
				path: `${url.pathname}${url.search}`,
				method,
				headers: requestHeaders,
				// Credentials in the URL (https://user:pass@host/) become Basic auth, for this origin only.
				auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
				// A fresh connection per request: a pooled socket would skip the lookup below.
				agent: false,
				lookup: this.isAllowListed(url) ? undefined : guardedLookup,
				signal,
			});
			request.once("error", (err) => reject(translateError(err, url)));
			request.once("response", (response) => {
				const status = response.statusCode ?? 0;
				if (followingRedirects && REDIRECT_STATUSES.has(status) && response.headers.location) {
					response.resume();
					request.destroy();
					resolve({ status, headers: response.headers, body: Buffer.alloc(0), truncated: false });
					return;
				}
				const chunks: Buffer[] = [];
				let size = 0;
				let done = false;
				const finish = (truncated: boolean) => {
					if (done) return;
					done = true;
					resolve({ status, headers: response.headers, body: Buffer.concat(chunks), truncated });
				};
				response.on("data", (chunk: Buffer) => {
					if (done) return;
					const room = maxBodyBytes - size;
					if (chunk.length > room) {
						chunks.push(chunk.subarray(0, room));
						size = maxBodyBytes;
						finish(true);
						request.destroy();
						return;
					}
					chunks.push(chunk);
					size += chunk.length;
				});
				response.once("end", () => finish(false));
				response.once("error", (err) => {
					if (!done) {
						done = true;
						reject(translateError(err, url));
					}
				});
			});
			request.end(body);
		});
	}
}

function refusedAddress(host: string, address: string, range: string): OutboundRefusedError {
	return new OutboundRefusedError(`${host} is not a public address (${address}: ${range}); list it in OUTBOUND_ALLOW_HOSTS to allow it`, "ADDRESS", {
		host,
		address,
		range,
	});
}

/**
 * The socket's DNS lookup: resolves every address, refuses the connection when any of them is not public
 * (a mixed answer is how rebinding attacks start), and hands the socket exactly the addresses it checked.
 */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
	dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
		if (err) return callback(err, "", 0);
		const list = addresses as dns.LookupAddress[];
		for (const { address } of list) {
			const range = addressRange(address);
			if (range !== "unicast") return callback(refusedAddress(hostname, address, range) as unknown as NodeJS.ErrnoException, "", 0);
		}
		if (list.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), "", 0);
		if (options.all) return callback(null, list);
		return callback(null, list[0].address, list[0].family);
	});
};

function translateError(err: Error & { code?: string }, url: URL): Error {
	if (err instanceof OutboundRefusedError || err instanceof OutboundFailedError) return err;
	if (err.name === "AbortError") return new OutboundFailedError("ABORTED", "The request was cancelled", err);
	if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN") return new OutboundFailedError("DNS_FAILED", `${url.hostname} does not resolve`, err);
	return new OutboundFailedError("CONNECTION_FAILED", `${url.host}: ${err.code ?? err.message}`, err);
}
