/**
 * The identity domain's configuration section: the bootstrap super admin and OpenID Connect providers.
 * Parsed with the rest of the environment by loadConfig (lib/config.ts), so a bad value stops any node at
 * start, whichever domains it runs.
 */
import { ConfigError, oneOf, read, url, type Env } from "./env";
import { apiPath } from "../api-path";

/** BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD: the super admin that exists after the first start. */
export interface BootstrapAdmin {
	email: string;
	password: string;
}

export interface OidcConfig {
	providers: OidcProviderConfig[];
	/** Externally visible base URL of the gateway; redirect URIs registered at providers are built from it. */
	publicUrl: string;
}

export type OidcClientAuthMethod = "client_secret_basic" | "client_secret_post";

/** One OpenID Connect provider users can sign in with (OIDC_PROVIDERS and its OIDC_<NAME>_* variables). */
export interface OidcProviderConfig {
	/** As it appears in URLs: /auth/oauth/<name>/authorize. */
	name: string;
	/** The expected `iss` of ID tokens; also the discovery base when no endpoints are configured. */
	issuer: string;
	/** Set when the endpoints are configured by hand, which skips discovery. */
	endpoints?: { authorization: string; token: string; userinfo?: string; jwks?: string };
	clientId: string;
	clientSecret: string;
	tokenAuthMethod: OidcClientAuthMethod;
	scopes: string[];
	/** ${PUBLIC_URL}/api/v1/auth/oauth/<name>/callback: must be registered at the provider exactly. */
	redirectUri: string;
}

export function bootstrapAdmin(env: Env): BootstrapAdmin | undefined {
	const email = read(env, "BOOTSTRAP_ADMIN_EMAIL");
	const password = read(env, "BOOTSTRAP_ADMIN_PASSWORD");
	if (email === undefined && password === undefined) return undefined;
	if (email === undefined) throw new ConfigError("BOOTSTRAP_ADMIN_EMAIL", "is required when BOOTSTRAP_ADMIN_PASSWORD is set");
	if (password === undefined) throw new ConfigError("BOOTSTRAP_ADMIN_PASSWORD", "is required when BOOTSTRAP_ADMIN_EMAIL is set");
	if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new ConfigError("BOOTSTRAP_ADMIN_EMAIL", "must be an email address");
	if (password.length < 10) throw new ConfigError("BOOTSTRAP_ADMIN_PASSWORD", "must be at least 10 characters");
	return { email: email.toLowerCase(), password };
}

function publicUrl(env: Env, port: number): string {
	const value = url(env, "PUBLIC_URL", ["http:", "https:"]) ?? `http://localhost:${port}`;
	const parsed = new URL(value);
	// Redirect URIs are compared byte for byte by providers: a query or fragment here could never match.
	if (parsed.search || parsed.hash) throw new ConfigError("PUBLIC_URL", `must be a base URL without query or fragment (got "${value}")`);
	return value.replace(/\/+$/, "");
}

/** OIDC_PROVIDERS=google,corp-sso → OIDC_GOOGLE_*, OIDC_CORP_SSO_*. */
function oidcVariable(name: string, suffix: string): string {
	return `OIDC_${name.toUpperCase().replace(/-/g, "_")}_${suffix}`;
}

function oidcProvider(env: Env, name: string, basePublicUrl: string, production: boolean): OidcProviderConfig {
	const variable = (suffix: string) => oidcVariable(name, suffix);
	// Plain http would let anyone on the path read authorization codes and client secrets; it is
	// tolerated outside production only, for local providers such as the one the tests start.
	const protocols = production ? ["https:"] : ["http:", "https:"];
	const endpoint = (suffix: string) => url(env, variable(suffix), protocols);
	const required = (suffix: string, reason: string) => {
		const value = read(env, variable(suffix));
		if (value === undefined) throw new ConfigError(variable(suffix), reason);
		return value;
	};

	const issuer = endpoint("ISSUER");
	const authorization = endpoint("AUTHORIZATION_ENDPOINT");
	const token = endpoint("TOKEN_ENDPOINT");
	const userinfo = endpoint("USERINFO_ENDPOINT");
	const jwks = endpoint("JWKS_URI");
	if (!issuer) {
		throw new ConfigError(
			variable("ISSUER"),
			`is required for the provider "${name}" named in OIDC_PROVIDERS (the discovery base URL, or the expected "iss" when endpoints are set)`,
		);
	}
	if (new URL(issuer).pathname.includes("/.well-known/")) {
		throw new ConfigError(variable("ISSUER"), `must be the issuer identifier (the "iss" of its ID tokens), not the address of its discovery document`);
	}
	const manual = authorization !== undefined || token !== undefined || userinfo !== undefined || jwks !== undefined;
	if (manual && !authorization) throw new ConfigError(variable("AUTHORIZATION_ENDPOINT"), "is required when any other endpoint of this provider is set");
	if (manual && !token) throw new ConfigError(variable("TOKEN_ENDPOINT"), "is required when any other endpoint of this provider is set");

	const scopeValue = read(env, variable("SCOPES")) ?? "openid email profile";
	const scopes = [...new Set(scopeValue.split(/[\s,]+/).filter(Boolean))];
	const badScope = scopes.find((scope) => !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope));
	if (badScope !== undefined) throw new ConfigError(variable("SCOPES"), `holds an invalid scope "${badScope}"`);
	// The account is identified by the ID token's issuer and subject: without openid there is none.
	if (!scopes.includes("openid")) throw new ConfigError(variable("SCOPES"), `must include openid (got "${scopeValue}")`);

	return {
		name,
		issuer,
		endpoints: manual && authorization && token ? { authorization, token, userinfo, jwks } : undefined,
		clientId: required("CLIENT_ID", `is required for the provider "${name}" named in OIDC_PROVIDERS`),
		clientSecret: required("CLIENT_SECRET", `is required for the provider "${name}" named in OIDC_PROVIDERS`),
		tokenAuthMethod: oneOf(env, variable("TOKEN_AUTH_METHOD"), ["client_secret_basic", "client_secret_post"] as const, "client_secret_basic"),
		scopes,
		redirectUri: `${basePublicUrl}${apiPath("auth/oauth")}/${name}/callback`,
	};
}

export function oidc(env: Env, port: number, production: boolean): OidcConfig {
	const base = publicUrl(env, port);
	const value = read(env, "OIDC_PROVIDERS");
	const names = value === undefined ? [] : value.split(",").map((item) => item.trim()).filter(Boolean);
	const invalid = names.find((name) => !/^[a-z0-9-]+$/.test(name));
	if (invalid !== undefined) throw new ConfigError("OIDC_PROVIDERS", `must be a comma list of names of lowercase letters, digits and dashes (got "${invalid}")`);
	const duplicate = names.find((name, index) => names.indexOf(name) !== index);
	if (duplicate !== undefined) throw new ConfigError("OIDC_PROVIDERS", `names "${duplicate}" twice`);
	return { providers: names.map((name) => oidcProvider(env, name, base, production)), publicUrl: base };
}
