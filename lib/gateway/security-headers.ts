/**
 * The security headers every gateway answer carries. bench/floor-server.ts sends the same ones, so the
 * benchmark can show what this response contract costs by itself.
 */
import helmet from "helmet";

/**
 * Helmet's headers for this gateway, worked out once: they are the same for every response, and running
 * helmet per request was a measurable share of a request's cost. Headers meant for old browsers
 * (X-XSS-Protection, X-Download-Options, X-DNS-Prefetch-Control, X-Permitted-Cross-Domain-Policies,
 * Origin-Agent-Cluster) are left out: they only lengthen every answer of a JSON API.
 */
export function staticSecurityHeaders(): Array<[string, string]> {
	const headers = new Map<string, string>();
	const recorder = {
		setHeader: (name: string, value: string) => headers.set(name, String(value)),
		removeHeader: (name: string) => headers.delete(name),
		getHeader: (name: string) => headers.get(name),
	};
	helmet({
		contentSecurityPolicy: {
			useDefaults: false,
			directives: { defaultSrc: ["'self'"], imgSrc: ["'self'", "data:"], styleSrc: ["'self'", "'unsafe-inline'"], scriptSrc: ["'self'"], objectSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'self'"] },
		},
		crossOriginResourcePolicy: { policy: "same-site" },
		strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
		frameguard: { action: "deny" },
		xXssProtection: false,
		xDownloadOptions: false,
		xDnsPrefetchControl: false,
		xPermittedCrossDomainPolicies: false,
		originAgentCluster: false,
	})(recorder as never, recorder as never, () => undefined);
	return [...headers.entries()];
}
