/**
 * The one place that reads the environment. Everything else receives a validated, typed `PlatformConfig`.
 * A bad value stops the node at start with a message naming the variable, rather than failing later on a
 * code path that happens to touch it.
 */
import fs from "node:fs";
import path from "node:path";
import { SECRET_KEY_BYTES } from "./secret-box";

export const PROJECT_ROOT = path.resolve(__dirname, "..");
export const SERVICES_DIR = path.join(PROJECT_ROOT, "services");

export type LogFormat = "pretty" | "json";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
export type TracingExporter = "console" | "jaeger" | "zipkin" | "none";
export type NodeEnvironment = "development" | "production" | "test";

export interface PlatformConfig {
	env: NodeEnvironment;
	nodeID?: string;
	namespace: string;
	/** nats://… when this node is part of a cluster; undefined for a single embedded node. */
	transporter?: string;
	/** redis://… for a shared cache; undefined for a per-node memory cache. */
	cacher?: string;
	/** postgres://…; undefined means "start the embedded PostgreSQL under dataDir". */
	databaseUrl?: string;
	dataDir: string;
	embeddedPostgresPort: number;
	/** Domains (folders of services/) this node runs. */
	services: string[];
	http: {
		port: number;
		host: string;
		corsOrigins: string[] | "*";
		bodyLimit: string;
		trustProxy: boolean;
	};
	rateLimit: {
		windowMs: number;
		max: number;
		/** Where counters live: redis when a Redis URL is known, so limits hold across gateway nodes. */
		redisUrl?: string;
	};
	log: { level: LogLevel; format: LogFormat };
	requestTimeoutMs: number;
	/** Port of the small /healthz, /readyz, /metrics listener on nodes that don't run the gateway (0 = any free port). */
	opsPort?: number;
	tracing: { exporter: TracingExporter; endpoint?: string };
	bootstrapAdmin?: { email: string; password: string };
	mail: {
		/** smtp:// or smtps:// URL; unset keeps messages in the local outbox (and the log). */
		smtpUrl?: string;
		from: string;
	};
	/** Public base URL of the web app, used in links sent by email (verification, reset, invitations). */
	appUrl: string;
	payments: {
		/** Shared secret a bank's callback presents to settle a transfer; unset refuses bank callbacks. */
		bankCallbackSecret?: string;
		stripe: {
			secretKey?: string;
			webhookSecret?: string;
			/** Where the Stripe SDK sends requests: Stripe's API, or a local server that speaks it (tests). */
			apiBase: string;
		};
	};
	oidc: {
		providers: OidcProviderConfig[];
		/** Externally visible base URL of the gateway; redirect URIs registered at providers are built from it. */
		publicUrl: string;
	};
	storage: {
		/**
		 * An S3 API (MinIO, AWS, R2...); undefined starts the embedded S3 server (s3rver) under dataDir.
		 * `publicEndpoint` is where clients reach the same store, when that differs from the nodes' address
		 * (e.g. http://minio:9000 inside Docker): presigned URLs are signed for it.
		 */
		s3?: { endpoint: string; accessKey: string; secretKey: string; region: string; publicEndpoint?: string };
		bucket: string;
		/** Port of the embedded S3 server; presigned URLs point at it, so it must be reachable by clients. */
		embeddedPort: number;
		/** Largest single file, in bytes. */
		maxFileBytes: number;
		/** Content types accepted, as sniffed from the bytes (never as the client declares them). */
		allowedContentTypes: string[];
		/** Lifetime of presigned upload and download URLs. */
		presignTtlSeconds: number;
		/** How long an upload through the gateway may take, body included (other calls: REQUEST_TIMEOUT_MS). */
		uploadTimeoutMs: number;
	};
	outbound: {
		/** Hosts (or host:port) that outbound requests may reach even when they resolve to private addresses. */
		allowHosts: string[];
	};
	webhooks: {
		/** Delay before each retry after the first attempt, in ms (Standard Webhooks / Svix schedule by default). */
		retryScheduleMs: number[];
		timeoutMs: number;
		/** An endpoint failing without a single success for this long, with a delivery out of retries, is disabled. */
		disableAfterMs: number;
	};
	/**
	 * The application key that seals secrets stored in PostgreSQL (lib/secret-box.ts), and earlier keys that
	 * still open values sealed before a rotation. No key (development and tests only): stored readable.
	 */
	secrets: { key?: Buffer; previousKeys: Buffer[] };
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

export class ConfigError extends Error {
	constructor(
		readonly variable: string,
		message: string,
	) {
		super(`Invalid configuration: ${variable} ${message}`);
		this.name = "ConfigError";
	}
}

type Env = Record<string, string | undefined>;

/** Every domain folder under services/, in a stable order. */
export function availableDomains(): string[] {
	return fs
		.readdirSync(SERVICES_DIR, { withFileTypes: true })
		.filter((entry) => entry.isDirectory())
		.map((entry) => entry.name)
		.sort();
}

function read(env: Env, name: string): string | undefined {
	const value = env[name];
	if (value === undefined) return undefined;
	const trimmed = value.trim();
	return trimmed === "" ? undefined : trimmed;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
	const value = read(env, name);
	if (value === undefined) return fallback;
	if (!(allowed as readonly string[]).includes(value)) {
		throw new ConfigError(name, `must be one of ${allowed.join(", ")} (got "${value}")`);
	}
	return value as T;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
	const value = read(env, name);
	if (value === undefined) return fallback;
	if (!/^\d+$/.test(value)) throw new ConfigError(name, `must be a whole number (got "${value}")`);
	const parsed = Number(value);
	if (parsed < min || parsed > max) {
		throw new ConfigError(name, `must be between ${min} and ${max} (got ${parsed})`);
	}
	return parsed;
}

function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
	const value = read(env, name);
	if (value === undefined) return undefined;
	let parsed: URL;
	try {
		parsed = new URL(value);
	} catch {
		throw new ConfigError(name, `must be a URL (got "${value}")`);
	}
	if (!protocols.includes(parsed.protocol)) {
		throw new ConfigError(name, `must use ${protocols.join(" or ")} (got "${parsed.protocol}")`);
	}
	if (!parsed.hostname) throw new ConfigError(name, "must name a host");
	return value;
}

function byteSize(env: Env, name: string, fallback: string): string {
	const value = read(env, name) ?? fallback;
	if (!/^\d+(b|kb|mb)?$/i.test(value)) {
		throw new ConfigError(name, `must be a size such as 512kb or 1mb (got "${value}")`);
	}
	return value.toLowerCase();
}

/** The services of a domain folder, by name (`orders` for services/commerce/orders.service.ts). */
export function domainServiceNames(domain: string): string[] {
	return fs
		.readdirSync(path.join(SERVICES_DIR, domain))
		.filter((file) => /\.service\.(ts|js)$/.test(file) && !file.endsWith(".d.ts"))
		.map((file) => file.replace(/\.service\.(ts|js)$/, ""));
}

/**
 * Entries of SERVICES: a whole domain ("commerce") or one service of it ("commerce/orders"), so a cluster
 * can give a single service its own nodes.
 */
function domains(env: Env): string[] {
	const known = availableDomains();
	const value = read(env, "SERVICES");
	if (value === undefined || value === "*" || value === "all") return known;
	const requested = [...new Set(value.split(",").map((item) => item.trim()).filter(Boolean))];
	if (requested.length === 0) throw new ConfigError("SERVICES", "must list at least one domain");
	const unknown = requested.filter((item) => {
		const [domain, service, ...rest] = item.split("/");
		if (rest.length > 0 || !known.includes(domain)) return true;
		return service !== undefined && !domainServiceNames(domain).includes(service);
	});
	if (unknown.length > 0) {
		throw new ConfigError("SERVICES", `names unknown domains or services: ${unknown.join(", ")} (domains: ${known.join(", ")}; a single service is "<domain>/<service>")`);
	}
	return requested;
}

/** Whether this node runs any service of the domain. */
export function runsDomain(config: PlatformConfig, domain: string): boolean {
	return config.services.some((entry) => entry === domain || entry.startsWith(`${domain}/`));
}

function corsOrigins(env: Env): string[] | "*" {
	const value = read(env, "CORS_ORIGINS");
	if (value === undefined) return [];
	if (value === "*") return "*";
	const origins = value.split(",").map((item) => item.trim()).filter(Boolean);
	for (const origin of origins) {
		try {
			const parsed = new URL(origin);
			if (parsed.origin !== origin) throw new Error("not an origin");
		} catch {
			throw new ConfigError("CORS_ORIGINS", `must be * or a comma list of origins like https://app.example.com (got "${origin}")`);
		}
	}
	return origins;
}

function bootstrapAdmin(env: Env): PlatformConfig["bootstrapAdmin"] {
	const email = read(env, "BOOTSTRAP_ADMIN_EMAIL");
	const password = read(env, "BOOTSTRAP_ADMIN_PASSWORD");
	if (email === undefined && password === undefined) return undefined;
	if (email === undefined) throw new ConfigError("BOOTSTRAP_ADMIN_EMAIL", "is required when BOOTSTRAP_ADMIN_PASSWORD is set");
	if (password === undefined) throw new ConfigError("BOOTSTRAP_ADMIN_PASSWORD", "is required when BOOTSTRAP_ADMIN_EMAIL is set");
	if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new ConfigError("BOOTSTRAP_ADMIN_EMAIL", "must be an email address");
	if (password.length < 10) throw new ConfigError("BOOTSTRAP_ADMIN_PASSWORD", "must be at least 10 characters");
	return { email: email.toLowerCase(), password };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "5s" → 5000; "250ms", "30m", "2h", "5d". */
function parseDuration(name: string, value: string): number {
	const match = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
	if (!match) throw new ConfigError(name, `must be durations like 5s, 5m, 2h or 5d (got "${value}")`);
	return Number(match[1]) * DURATION_UNITS[match[2]];
}

function duration(env: Env, name: string, fallback: string): number {
	return parseDuration(name, read(env, name) ?? fallback);
}

function durationList(env: Env, name: string, fallback: string): number[] {
	const items = (read(env, name) ?? fallback).split(",").map((item) => item.trim()).filter(Boolean);
	if (items.length === 0 || items.length > 20) throw new ConfigError(name, "must list 1 to 20 durations");
	return items.map((item) => parseDuration(name, item));
}

function list(env: Env, name: string, fallback: string[]): string[] {
	const value = read(env, name);
	return value === undefined ? fallback : [...new Set(value.split(",").map((item) => item.trim()).filter(Boolean))];
}

/** Bytes from "10mb", "1gb", "512kb" or a plain number. */
function bytes(env: Env, name: string, fallback: number): number {
	const value = read(env, name);
	if (value === undefined) return fallback;
	const match = /^(\d+)(b|kb|mb|gb)?$/i.exec(value);
	if (!match) throw new ConfigError(name, `must be a size such as 512kb, 100mb or 1gb (got "${value}")`);
	const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? "b").toLowerCase() as "b"];
	return Number(match[1]) * unit;
}

/** What uploads accept by default: images, PDF, plain text/CSV/JSON, zip, and office documents. */
export const DEFAULT_ALLOWED_CONTENT_TYPES = [
	"image/png",
	"image/jpeg",
	"image/gif",
	"image/webp",
	"image/avif",
	"application/pdf",
	"text/plain",
	"text/csv",
	"application/json",
	"application/zip",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

function storage(env: Env): PlatformConfig["storage"] {
	const endpoint = url(env, "S3_ENDPOINT", ["http:", "https:"]);
	const accessKey = read(env, "S3_ACCESS_KEY");
	const secretKey = read(env, "S3_SECRET_KEY");
	if (endpoint === undefined && (accessKey !== undefined || secretKey !== undefined)) {
		throw new ConfigError("S3_ENDPOINT", "is required when S3_ACCESS_KEY or S3_SECRET_KEY is set");
	}
	if (endpoint !== undefined && accessKey === undefined) throw new ConfigError("S3_ACCESS_KEY", "is required when S3_ENDPOINT is set");
	if (endpoint !== undefined && secretKey === undefined) throw new ConfigError("S3_SECRET_KEY", "is required when S3_ENDPOINT is set");
	const publicEndpoint = url(env, "S3_PUBLIC_URL", ["http:", "https:"]);
	if (publicEndpoint !== undefined && endpoint === undefined) throw new ConfigError("S3_PUBLIC_URL", "is only used with S3_ENDPOINT (the embedded S3 server is reached at its own address)");
	// Presigned URLs are signed for host and path: a base path or query could never match a request.
	if (publicEndpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(publicEndpoint)) throw new ConfigError("S3_PUBLIC_URL", `must be a scheme, host and optional port only (got "${publicEndpoint}")`);
	const bucket = read(env, "S3_BUCKET") ?? "lattice";
	// S3's bucket naming rules: DNS-compatible, 3 to 63 characters.
	if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError("S3_BUCKET", `must be a valid S3 bucket name (got "${bucket}")`);
	const allowed = list(env, "FILES_ALLOWED_TYPES", DEFAULT_ALLOWED_CONTENT_TYPES);
	const badType = allowed.find((type) => !/^[a-z]+\/[a-z0-9.+-]+$/.test(type));
	if (badType !== undefined) throw new ConfigError("FILES_ALLOWED_TYPES", `must be a comma list of media types like image/png (got "${badType}")`);
	return {
		s3: endpoint && accessKey && secretKey ? { endpoint, accessKey, secretKey, region: read(env, "S3_REGION") ?? "us-east-1", publicEndpoint } : undefined,
		bucket,
		embeddedPort: integer(env, "EMBEDDED_S3_PORT", 54330, 0, 65535),
		maxFileBytes: bytes(env, "FILES_MAX_BYTES", 100 * 1024 ** 2),
		allowedContentTypes: allowed,
		presignTtlSeconds: integer(env, "FILES_PRESIGN_TTL_SECONDS", 300, 10, 7 * 86_400),
		uploadTimeoutMs: uploadTimeout(env),
	};
}

/** A 100 MB file takes over a minute on a slow uplink: far beyond a service call's timeout, so uploads get their own. */
function uploadTimeout(env: Env): number {
	const value = duration(env, "FILES_UPLOAD_TIMEOUT", "5m");
	if (value < 1_000 || value > 6 * 3_600_000) throw new ConfigError("FILES_UPLOAD_TIMEOUT", "must be between 1s and 6h");
	return value;
}

function outboundAllowHosts(env: Env): string[] {
	const hosts = list(env, "OUTBOUND_ALLOW_HOSTS", []).map((host) => host.toLowerCase());
	const bad = hosts.find((host) => !/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(host));
	if (bad !== undefined) throw new ConfigError("OUTBOUND_ALLOW_HOSTS", `must be a comma list of host or host:port (got "${bad}")`);
	return hosts;
}

/** An optional secret: when set, long enough to be worth having. */
function secret(env: Env, name: string, minLength: number): string | undefined {
	const value = read(env, name);
	if (value !== undefined && value.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters`);
	return value;
}

/** 32 bytes as 64 hex characters or base64 (standard or url-safe). */
function secretsKeyBytes(name: string, value: string): Buffer {
	const key = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, "hex") : /^[A-Za-z0-9+/_-]{43}=?$/.test(value) ? Buffer.from(value, "base64") : undefined;
	if (key?.length !== SECRET_KEY_BYTES) {
		throw new ConfigError(name, `must be ${SECRET_KEY_BYTES} random bytes as 64 hex characters or base64 (e.g. \`openssl rand -base64 32\`)`);
	}
	return key;
}

function secrets(env: Env, production: boolean): PlatformConfig["secrets"] {
	const value = read(env, "SECRETS_KEY");
	const previous = list(env, "SECRETS_KEY_PREVIOUS", []);
	// Without it a database dump would hold every webhook secret and JWT private key in the clear.
	if (value === undefined && production) throw new ConfigError("SECRETS_KEY", "is required when NODE_ENV is production: it seals the secrets stored in PostgreSQL");
	if (value === undefined && previous.length > 0) throw new ConfigError("SECRETS_KEY", "is required when SECRETS_KEY_PREVIOUS is set (previous keys only open values; the current one seals)");
	return {
		key: value === undefined ? undefined : secretsKeyBytes("SECRETS_KEY", value),
		previousKeys: previous.map((item) => secretsKeyBytes("SECRETS_KEY_PREVIOUS", item)),
	};
}

function mailFrom(env: Env): string {
	const value = read(env, "MAIL_FROM") ?? "Lattice <no-reply@lattice.local>";
	if (!/^(?:[^<>]*<)?[^@\s<>]+@[^@\s<>]+>?$/.test(value)) throw new ConfigError("MAIL_FROM", `must be an address like "Lattice <no-reply@example.com>" (got "${value}")`);
	return value;
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
		redirectUri: `${basePublicUrl}/api/v1/auth/oauth/${name}/callback`,
	};
}

function oidc(env: Env, port: number, production: boolean): PlatformConfig["oidc"] {
	const base = publicUrl(env, port);
	const value = read(env, "OIDC_PROVIDERS");
	const names = value === undefined ? [] : value.split(",").map((item) => item.trim()).filter(Boolean);
	const invalid = names.find((name) => !/^[a-z0-9-]+$/.test(name));
	if (invalid !== undefined) throw new ConfigError("OIDC_PROVIDERS", `must be a comma list of names of lowercase letters, digits and dashes (got "${invalid}")`);
	const duplicate = names.find((name, index) => names.indexOf(name) !== index);
	if (duplicate !== undefined) throw new ConfigError("OIDC_PROVIDERS", `names "${duplicate}" twice`);
	return { providers: names.map((name) => oidcProvider(env, name, base, production)), publicUrl: base };
}

/** Parses and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): PlatformConfig {
	const nodeEnv = oneOf(env, "NODE_ENV", ["development", "production", "test"] as const, "development");
	const transporter = url(env, "TRANSPORTER", ["nats:", "tls:"]);
	const cacher = url(env, "CACHER", ["redis:", "rediss:"]);
	const databaseUrl = url(env, "DATABASE_URL", ["postgres:", "postgresql:"]);
	const tracingExporter = oneOf(
		env,
		"TRACING_EXPORTER",
		["console", "jaeger", "zipkin", "none"] as const,
		nodeEnv === "development" ? "console" : "none",
	);
	const tracingEndpoint = url(env, "TRACING_ENDPOINT", ["http:", "https:"]);
	if ((tracingExporter === "jaeger" || tracingExporter === "zipkin") && !tracingEndpoint) {
		throw new ConfigError("TRACING_ENDPOINT", `is required when TRACING_EXPORTER is ${tracingExporter}`);
	}
	const namespace = read(env, "NAMESPACE") ?? "lattice";
	if (!/^[a-z0-9][a-z0-9-]*$/i.test(namespace)) {
		throw new ConfigError("NAMESPACE", "may hold letters, digits and dashes only");
	}

	const port = integer(env, "PORT", 3000, 0, 65535);

	return {
		env: nodeEnv,
		nodeID: read(env, "NODE_ID"),
		namespace,
		transporter,
		cacher,
		databaseUrl,
		dataDir: path.resolve(read(env, "DATA_DIR") ?? path.join(PROJECT_ROOT, "data")),
		embeddedPostgresPort: integer(env, "EMBEDDED_POSTGRES_PORT", 54329, 1, 65535),
		services: domains(env),
		http: {
			port,
			host: read(env, "HOST") ?? "0.0.0.0",
			corsOrigins: corsOrigins(env),
			bodyLimit: byteSize(env, "BODY_LIMIT", "1mb"),
			trustProxy: oneOf(env, "TRUST_PROXY", ["true", "false"] as const, "false") === "true",
		},
		rateLimit: {
			windowMs: integer(env, "RATE_LIMIT_WINDOW_MS", 60_000, 1_000, 86_400_000),
			max: integer(env, "RATE_LIMIT_MAX", 600, 1, 1_000_000),
			redisUrl: url(env, "RATE_LIMIT_REDIS_URL", ["redis:", "rediss:"]) ?? cacher,
		},
		log: {
			level: oneOf(env, "LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace"] as const, "info"),
			format: oneOf(env, "LOG_FORMAT", ["pretty", "json"] as const, nodeEnv === "production" ? "json" : "pretty"),
		},
		requestTimeoutMs: integer(env, "REQUEST_TIMEOUT_MS", 10_000, 100, 600_000),
		opsPort: read(env, "OPS_PORT") === "off" ? undefined : integer(env, "OPS_PORT", 3001, 0, 65535),
		tracing: { exporter: tracingExporter, endpoint: tracingEndpoint },
		bootstrapAdmin: bootstrapAdmin(env),
		mail: {
			smtpUrl: url(env, "SMTP_URL", ["smtp:", "smtps:"]),
			from: mailFrom(env),
		},
		appUrl: url(env, "APP_URL", ["http:", "https:"]) ?? "http://localhost:3000",
		payments: {
			bankCallbackSecret: secret(env, "PAYMENTS_BANK_CALLBACK_SECRET", 24),
			stripe: {
				secretKey: secret(env, "STRIPE_SECRET_KEY", 8),
				webhookSecret: secret(env, "STRIPE_WEBHOOK_SECRET", 8),
				apiBase: url(env, "STRIPE_API_BASE", ["http:", "https:"]) ?? "https://api.stripe.com",
			},
		},
		oidc: oidc(env, port, nodeEnv === "production"),
		storage: storage(env),
		outbound: { allowHosts: outboundAllowHosts(env) },
		webhooks: {
			// Svix's schedule after the immediate attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
			retryScheduleMs: durationList(env, "WEBHOOK_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h"),
			timeoutMs: duration(env, "WEBHOOK_TIMEOUT", "15s"),
			disableAfterMs: duration(env, "WEBHOOK_DISABLE_AFTER", "5d"),
		},
		secrets: secrets(env, nodeEnv === "production"),
	};
}

/**
 * Rules that depend on which services the node turned out to run. A cluster node must not start its own
 * embedded database: two nodes would each own a private copy of the data.
 */
export function assertDatabaseAvailable(config: PlatformConfig, nodeNeedsDatabase: boolean): void {
	if (nodeNeedsDatabase && !config.databaseUrl && config.transporter) {
		throw new ConfigError(
			"DATABASE_URL",
			"is required when TRANSPORTER is set and this node runs database-backed services: every node of a cluster must share one PostgreSQL",
		);
	}
}

/** A cluster node can't keep files in an embedded S3 server of its own: other nodes would not see them. */
export function assertStorageAvailable(config: PlatformConfig, nodeStoresFiles: boolean): void {
	if (nodeStoresFiles && !config.storage.s3 && config.transporter) {
		throw new ConfigError("S3_ENDPOINT", "is required when TRANSPORTER is set and this node runs the files domain: every node of a cluster must share one object store");
	}
}

/** ioredis options from a redis:// or rediss:// URL (Moleculer's Redis cacher takes options, not a URL). */
export function redisOptionsFromUrl(value: string): Record<string, unknown> {
	const parsed = new URL(value);
	const database = parsed.pathname.replace(/^\//, "");
	return {
		host: parsed.hostname,
		port: parsed.port ? Number(parsed.port) : 6379,
		username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
		password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
		db: database ? Number(database) : 0,
		tls: parsed.protocol === "rediss:" ? {} : undefined,
	};
}
