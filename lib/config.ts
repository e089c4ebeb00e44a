/**
 * The one place that reads the environment. Everything else receives a validated, typed `PlatformConfig`.
 * A bad value stops the node at start with a message naming the variable, rather than failing later on a
 * code path that happens to touch it.
 *
 * This file holds the platform's own settings and the composition; the parsing primitives are in
 * lib/config/env.ts and each domain's section (its variables, defaults and rules) in lib/config/<domain>.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { SECRET_KEY_BYTES } from "./secret-box";
import { ConfigError, byteSize, integer, list, oneOf, read, url, type Env } from "./config/env";
import { payments, type PaymentsConfig } from "./config/commerce";
import { billing, invoicePdf, type BillingConfig, type InvoicePdfConfig } from "./config/billing";
import { storage, type StorageConfig } from "./config/files";
import { bootstrapAdmin, oidc, type BootstrapAdmin, type OidcConfig } from "./config/identity";
import { mail, webhooks, type MailConfig, type WebhooksConfig } from "./config/notifications";
import { screenshots, type ScreenshotsConfig } from "./config/screenshots";

export { ConfigError } from "./config/env";
export { DEFAULT_ALLOWED_CONTENT_TYPES, type StorageConfig } from "./config/files";
export type { PaymentsConfig } from "./config/commerce";
export type { BillingConfig, InvoicePdfConfig } from "./config/billing";
export type { BootstrapAdmin, OidcClientAuthMethod, OidcConfig, OidcProviderConfig } from "./config/identity";
export type { MailConfig, WebhooksConfig } from "./config/notifications";
export type { ScreenshotsConfig } from "./config/screenshots";

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
	bootstrapAdmin?: BootstrapAdmin;
	mail: MailConfig;
	/** Public base URL of the web app, used in links sent by email (verification, reset, invitations). */
	appUrl: string;
	payments: PaymentsConfig;
	/** Invoice PDFs (billing): the Chromium that renders them, its limits, and the seller they name. */
	invoicePdf: InvoicePdfConfig;
	billing: BillingConfig;
	oidc: OidcConfig;
	storage: StorageConfig;
	outbound: {
		/** Hosts (or host:port) that outbound requests may reach even when they resolve to private addresses. */
		allowHosts: string[];
	};
	webhooks: WebhooksConfig;
	screenshots: ScreenshotsConfig;
	/**
	 * The application key that seals secrets stored in PostgreSQL (lib/secret-box.ts), and earlier keys that
	 * still open values sealed before a rotation. No key (development and tests only): stored readable.
	 */
	secrets: { key?: Buffer; previousKeys: Buffer[] };
}

/** Every domain folder under services/, in a stable order. */
export function availableDomains(): string[] {
	return fs
		.readdirSync(SERVICES_DIR, { withFileTypes: true })
		.filter((entry) => entry.isDirectory())
		.map((entry) => entry.name)
		.sort();
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

function outboundAllowHosts(env: Env): string[] {
	const hosts = list(env, "OUTBOUND_ALLOW_HOSTS", []).map((host) => host.toLowerCase());
	const bad = hosts.find((host) => !/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(host));
	if (bad !== undefined) throw new ConfigError("OUTBOUND_ALLOW_HOSTS", `must be a comma list of host or host:port (got "${bad}")`);
	return hosts;
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
		mail: mail(env),
		appUrl: url(env, "APP_URL", ["http:", "https:"]) ?? "http://localhost:3000",
		payments: payments(env),
		invoicePdf: invoicePdf(env),
		billing: billing(env),
		oidc: oidc(env, port, nodeEnv === "production"),
		storage: storage(env),
		outbound: { allowHosts: outboundAllowHosts(env) },
		webhooks: webhooks(env),
		screenshots: screenshots(env),
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
