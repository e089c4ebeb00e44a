/**
 * The security headers the gateway answers with, worked out once by helmet: they are the same for every
 * response, and running helmet per request was a measurable share of a request's cost.
 *
 * Two sets, because a JSON API and an HTML page need different things (OWASP REST Security Cheat Sheet):
 * - every answer (JSON, problem+json, ops endpoints, static assets) carries the API set: nosniff, HSTS,
 *   no framing, a same-site resource policy and a policy that lets the answer load nothing at all
 *   (`default-src 'none'`), so a JSON body opened as a page can run nothing.
 * - the one HTML page (/api/docs, Swagger UI) adds the document set on top: a policy that lets it load its
 *   own scripts and styles, an opener policy and a referrer policy. Those mean nothing on a JSON answer
 *   and only lengthened every one of them, which clients pay for on every call.
 * Headers meant for old browsers (X-XSS-Protection, X-Download-Options, X-DNS-Prefetch-Control,
 * X-Permitted-Cross-Domain-Policies, Origin-Agent-Cluster) are left out.
 * bench/floor-server.ts sends the API set, so the benchmark shows what this response contract costs by itself.
 */
import helmet, { type HelmetOptions } from "helmet";

/** Every helmet header off; each set below turns on what it needs. */
const NONE: HelmetOptions = {
	contentSecurityPolicy: false,
	crossOriginEmbedderPolicy: false,
	crossOriginOpenerPolicy: false,
	crossOriginResourcePolicy: false,
	originAgentCluster: false,
	referrerPolicy: false,
	strictTransportSecurity: false,
	xContentTypeOptions: false,
	xDnsPrefetchControl: false,
	xDownloadOptions: false,
	xFrameOptions: false,
	xPermittedCrossDomainPolicies: false,
	xPoweredBy: false,
	xXssProtection: false,
};

function render(options: HelmetOptions): Array<[string, string]> {
	const headers = new Map<string, string>();
	const recorder = {
		setHeader: (name: string, value: string) => headers.set(name, String(value)),
		removeHeader: (name: string) => headers.delete(name),
		getHeader: (name: string) => headers.get(name),
	};
	// Spreading two of helmet's either-this-name-or-its-alias option types defeats its typings, not its checks.
	helmet({ ...NONE, ...options } as HelmetOptions)(recorder as never, recorder as never, () => undefined);
	return [...headers.entries()];
}

/** The headers on every answer. */
export function apiSecurityHeaders(): Array<[string, string]> {
	return render({
		contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
		crossOriginResourcePolicy: { policy: "same-site" },
		strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
		xContentTypeOptions: true,
		xFrameOptions: { action: "deny" },
	});
}

/** What an HTML page sets on top of the API set (its policy replaces the API one). */
export function documentSecurityHeaders(): Array<[string, string]> {
	return render({
		contentSecurityPolicy: {
			useDefaults: false,
			directives: { defaultSrc: ["'self'"], imgSrc: ["'self'", "data:"], styleSrc: ["'self'", "'unsafe-inline'"], scriptSrc: ["'self'"], objectSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'self'"] },
		},
		crossOriginOpenerPolicy: { policy: "same-origin" },
		referrerPolicy: { policy: "no-referrer" },
	});
}
