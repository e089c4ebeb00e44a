import { describe, expect, it } from "vitest";
import { assertDatabaseAvailable, availableDomains, ConfigError, loadConfig, redisOptionsFromUrl, runsDomain } from "../../lib/config";

/** Loading must fail with a ConfigError that names the variable, in its field and its message. */
function expectConfigErrorNaming(env: Record<string, string | undefined>, variable: string): void {
	expect(() => loadConfig(env)).toThrow(ConfigError);
	try {
		loadConfig(env);
	} catch (err) {
		expect((err as ConfigError).variable).toBe(variable);
		expect((err as Error).message).toContain(variable);
	}
}

describe("loadConfig", () => {
	it("defaults to one embedded node running every domain", () => {
		const config = loadConfig({});
		expect(config.transporter).toBeUndefined();
		expect(config.cacher).toBeUndefined();
		expect(config.databaseUrl).toBeUndefined();
		expect(config.services).toEqual(availableDomains());
		expect(config.services).toContain("gateway");
		expect(config.http.port).toBe(3000);
		expect(config.log).toEqual({ level: "info", format: "pretty" });
		expect(config.tracing.exporter).toBe("console");
	});

	it("reads a cluster node's settings", () => {
		const config = loadConfig({
			NODE_ENV: "production",
			TRANSPORTER: "nats://nats:4222",
			CACHER: "redis://redis:6379/2",
			DATABASE_URL: "postgres://u:p@db:5432/lattice",
			SERVICES: "gateway, platform",
			PORT: "8080",
			NODE_ID: "gw-1",
			NAMESPACE: "prod",
			TRACING_EXPORTER: "jaeger",
			TRACING_ENDPOINT: "http://jaeger:14268/api/traces",
			SECRETS_KEY: "a".repeat(64),
		});
		expect(config).toMatchObject({
			transporter: "nats://nats:4222",
			services: ["gateway", "platform"],
			nodeID: "gw-1",
			namespace: "prod",
			log: { format: "json" },
			tracing: { exporter: "jaeger" },
			rateLimit: { redisUrl: "redis://redis:6379/2" },
		});
		expect(config.http.port).toBe(8080);
	});

	it.each([
		[{ TRANSPORTER: "http://nats:4222" }, "TRANSPORTER"],
		[{ TRANSPORTER: "not a url" }, "TRANSPORTER"],
		[{ CACHER: "memcached://x" }, "CACHER"],
		[{ DATABASE_URL: "mysql://x/y" }, "DATABASE_URL"],
		[{ SERVICES: "gateway,billing-typo" }, "SERVICES"],
		[{ PORT: "80a" }, "PORT"],
		[{ PORT: "70000" }, "PORT"],
		[{ LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
		[{ LOG_FORMAT: "xml" }, "LOG_FORMAT"],
		[{ NAMESPACE: "bad space" }, "NAMESPACE"],
		[{ TRACING_EXPORTER: "zipkin" }, "TRACING_ENDPOINT"],
		[{ CORS_ORIGINS: "app.example.com" }, "CORS_ORIGINS"],
		[{ BODY_LIMIT: "lots" }, "BODY_LIMIT"],
		[{ BOOTSTRAP_ADMIN_EMAIL: "admin@example.com" }, "BOOTSTRAP_ADMIN_PASSWORD"],
		[{ BOOTSTRAP_ADMIN_EMAIL: "admin@example.com", BOOTSTRAP_ADMIN_PASSWORD: "short" }, "BOOTSTRAP_ADMIN_PASSWORD"],
	])("refuses %o naming %s", (env, variable) => expectConfigErrorNaming(env, variable));

	it("selects whole domains or single services of a domain", () => {
		const config = loadConfig({ SERVICES: "gateway,commerce/orders" });
		expect(config.services).toEqual(["gateway", "commerce/orders"]);
		expect(runsDomain(config, "commerce")).toBe(true);
		expect(runsDomain(config, "identity")).toBe(false);
		expect(() => loadConfig({ SERVICES: "commerce/nope" })).toThrow(/commerce\/nope/);
		expect(() => loadConfig({ SERVICES: "commerce/orders/x" })).toThrow(ConfigError);
	});

	it("requires a shared database on cluster nodes that need one", () => {
		const cluster = loadConfig({ TRANSPORTER: "nats://127.0.0.1:4222" });
		expect(() => assertDatabaseAvailable(cluster, false)).not.toThrow();
		expect(() => assertDatabaseAvailable(cluster, true)).toThrow(/DATABASE_URL/);
		expect(() => assertDatabaseAvailable(loadConfig({}), true)).not.toThrow();
	});

	it("turns a Redis URL into ioredis options", () => {
		expect(redisOptionsFromUrl("rediss://user:p%40ss@cache:6380/3")).toMatchObject({ host: "cache", port: 6380, username: "user", password: "p@ss", db: 3, tls: {} });
	});
});

describe("loadConfig: OpenID Connect providers", () => {
	const corp = {
		OIDC_PROVIDERS: "corp-sso",
		OIDC_CORP_SSO_ISSUER: "https://login.example.com",
		OIDC_CORP_SSO_CLIENT_ID: "lattice",
		OIDC_CORP_SSO_CLIENT_SECRET: "s3cret",
	};

	it("has no providers by default, and a public URL on the gateway's port", () => {
		expect(loadConfig({}).oidc).toEqual({ providers: [], publicUrl: "http://localhost:3000" });
		expect(loadConfig({ PORT: "8080" }).oidc.publicUrl).toBe("http://localhost:8080");
	});

	it("reads a discovered provider, with the redirect URI built from PUBLIC_URL", () => {
		const config = loadConfig({ ...corp, PUBLIC_URL: "https://api.example.com/" });
		expect(config.oidc.publicUrl).toBe("https://api.example.com");
		expect(config.oidc.providers).toEqual([
			{
				name: "corp-sso",
				issuer: "https://login.example.com",
				endpoints: undefined,
				clientId: "lattice",
				clientSecret: "s3cret",
				tokenAuthMethod: "client_secret_basic",
				scopes: ["openid", "email", "profile"],
				redirectUri: "https://api.example.com/api/v1/auth/oauth/corp-sso/callback",
			},
		]);
	});

	it("reads endpoints configured by hand, scopes and the token endpoint's client authentication", () => {
		const config = loadConfig({
			...corp,
			OIDC_PROVIDERS: "corp-sso, other",
			OIDC_CORP_SSO_AUTHORIZATION_ENDPOINT: "https://login.example.com/authorize",
			OIDC_CORP_SSO_TOKEN_ENDPOINT: "https://login.example.com/token",
			OIDC_CORP_SSO_USERINFO_ENDPOINT: "https://login.example.com/userinfo",
			OIDC_CORP_SSO_SCOPES: "openid email groups",
			OIDC_CORP_SSO_TOKEN_AUTH_METHOD: "client_secret_post",
			OIDC_OTHER_ISSUER: "http://127.0.0.1:9000",
			OIDC_OTHER_CLIENT_ID: "x",
			OIDC_OTHER_CLIENT_SECRET: "y",
		});
		expect(config.oidc.providers.map((provider) => provider.name)).toEqual(["corp-sso", "other"]);
		expect(config.oidc.providers[0]).toMatchObject({
			endpoints: { authorization: "https://login.example.com/authorize", token: "https://login.example.com/token", userinfo: "https://login.example.com/userinfo", jwks: undefined },
			scopes: ["openid", "email", "groups"],
			tokenAuthMethod: "client_secret_post",
		});
		expect(config.oidc.providers[1]).toMatchObject({ issuer: "http://127.0.0.1:9000", redirectUri: "http://localhost:3000/api/v1/auth/oauth/other/callback" });
	});

	it.each([
		[{ OIDC_PROVIDERS: "Corp" }, "OIDC_PROVIDERS"],
		[{ OIDC_PROVIDERS: "corp_sso" }, "OIDC_PROVIDERS"],
		[{ ...corp, OIDC_PROVIDERS: "corp-sso,corp-sso" }, "OIDC_PROVIDERS"],
		[{ ...corp, OIDC_CORP_SSO_ISSUER: undefined }, "OIDC_CORP_SSO_ISSUER"],
		[{ ...corp, OIDC_CORP_SSO_ISSUER: "login.example.com" }, "OIDC_CORP_SSO_ISSUER"],
		[{ ...corp, OIDC_CORP_SSO_ISSUER: "https://login.example.com/.well-known/openid-configuration" }, "OIDC_CORP_SSO_ISSUER"],
		[{ ...corp, OIDC_CORP_SSO_CLIENT_ID: "" }, "OIDC_CORP_SSO_CLIENT_ID"],
		[{ ...corp, OIDC_CORP_SSO_CLIENT_SECRET: undefined }, "OIDC_CORP_SSO_CLIENT_SECRET"],
		[{ ...corp, OIDC_CORP_SSO_AUTHORIZATION_ENDPOINT: "https://login.example.com/authorize" }, "OIDC_CORP_SSO_TOKEN_ENDPOINT"],
		[{ ...corp, OIDC_CORP_SSO_USERINFO_ENDPOINT: "https://login.example.com/userinfo" }, "OIDC_CORP_SSO_AUTHORIZATION_ENDPOINT"],
		[{ ...corp, OIDC_CORP_SSO_TOKEN_ENDPOINT: "ftp://login.example.com/token" }, "OIDC_CORP_SSO_TOKEN_ENDPOINT"],
		[{ ...corp, OIDC_CORP_SSO_SCOPES: "email profile" }, "OIDC_CORP_SSO_SCOPES"],
		[{ ...corp, OIDC_CORP_SSO_SCOPES: "openid e\"mail" }, "OIDC_CORP_SSO_SCOPES"],
		[{ ...corp, OIDC_CORP_SSO_TOKEN_AUTH_METHOD: "private_key_jwt" }, "OIDC_CORP_SSO_TOKEN_AUTH_METHOD"],
		[{ ...corp, NODE_ENV: "production", OIDC_CORP_SSO_ISSUER: "http://login.example.com" }, "OIDC_CORP_SSO_ISSUER"],
		[{ PUBLIC_URL: "api.example.com" }, "PUBLIC_URL"],
		[{ PUBLIC_URL: "https://api.example.com/?x=1" }, "PUBLIC_URL"],
	])("refuses %o naming %s", (env, variable) => expectConfigErrorNaming(env, variable));
});

describe("payment settings", () => {
	it("reads the bank callback secret and Stripe settings", () => {
		const config = loadConfig({ PAYMENTS_BANK_CALLBACK_SECRET: "x".repeat(32), STRIPE_SECRET_KEY: "sk_test_123456", STRIPE_WEBHOOK_SECRET: "whsec_123456", STRIPE_API_BASE: "http://127.0.0.1:12111" });
		expect(config.payments).toEqual({ bankCallbackSecret: "x".repeat(32), stripe: { secretKey: "sk_test_123456", webhookSecret: "whsec_123456", apiBase: "http://127.0.0.1:12111" } });
		expect(loadConfig({}).payments.stripe.apiBase).toBe("https://api.stripe.com");
	});

	it.each([
		[{ PAYMENTS_BANK_CALLBACK_SECRET: "short" }, "PAYMENTS_BANK_CALLBACK_SECRET"],
		[{ STRIPE_API_BASE: "ftp://x" }, "STRIPE_API_BASE"],
	])("refuses %o naming %s", (env, variable) => expectConfigErrorNaming(env, variable));
});

describe("invoice PDF settings", () => {
	it("renders with Debian's Chromium, two pages at once, by default; everything can be set", () => {
		expect(loadConfig({}).invoicePdf).toEqual({ chromiumPath: "/usr/bin/chromium", concurrency: 2, timeoutMs: 30_000, seller: { name: "Lattice", addressLines: [] } });
		const config = loadConfig({
			BILLING_CHROMIUM_PATH: "/opt/chrome/chrome",
			BILLING_PDF_CONCURRENCY: "4",
			BILLING_PDF_TIMEOUT: "10s",
			BILLING_SELLER_NAME: "Lattice GmbH",
			BILLING_SELLER_ADDRESS: "Hauptstraße 1; 10115 Berlin ;VAT DE123456789",
		});
		expect(config.invoicePdf).toEqual({ chromiumPath: "/opt/chrome/chrome", concurrency: 4, timeoutMs: 10_000, seller: { name: "Lattice GmbH", addressLines: ["Hauptstraße 1", "10115 Berlin", "VAT DE123456789"] } });
	});

	it.each([
		[{ BILLING_CHROMIUM_PATH: "chromium" }, "BILLING_CHROMIUM_PATH"],
		[{ BILLING_PDF_CONCURRENCY: "0" }, "BILLING_PDF_CONCURRENCY"],
		[{ BILLING_PDF_TIMEOUT: "500ms" }, "BILLING_PDF_TIMEOUT"],
		[{ BILLING_SELLER_NAME: "x".repeat(201) }, "BILLING_SELLER_NAME"],
		[{ BILLING_SELLER_ADDRESS: "1;2;3;4;5;6;7;8;9" }, "BILLING_SELLER_ADDRESS"],
	])("refuses %o naming %s", (env, variable) => expectConfigErrorNaming(env, variable));
});

describe("billing settings", () => {
	it("reads the dunning schedule in days, 1,3,5,7 by default", () => {
		expect(loadConfig({}).billing).toEqual({ dunningDays: [1, 3, 5, 7] });
		expect(loadConfig({ BILLING_DUNNING_DAYS: "2, 4,10" }).billing.dunningDays).toEqual([2, 4, 10]);
	});

	it.each([
		[{ BILLING_DUNNING_DAYS: "1,1,3" }, "BILLING_DUNNING_DAYS"],
		[{ BILLING_DUNNING_DAYS: "3,1" }, "BILLING_DUNNING_DAYS"],
		[{ BILLING_DUNNING_DAYS: "0,1" }, "BILLING_DUNNING_DAYS"],
		[{ BILLING_DUNNING_DAYS: "1.5" }, "BILLING_DUNNING_DAYS"],
		[{ BILLING_DUNNING_DAYS: "1d,3d" }, "BILLING_DUNNING_DAYS"],
		[{ BILLING_DUNNING_DAYS: "400" }, "BILLING_DUNNING_DAYS"],
	])("refuses %o naming %s", (env, variable) => expectConfigErrorNaming(env, variable));
});

describe("secrets key", () => {
	const hex = "0123456789abcdef".repeat(4);
	const base64 = Buffer.from(hex, "hex").toString("base64");

	it("reads the key as hex or base64, and previous keys for rotation", () => {
		const config = loadConfig({ SECRETS_KEY: hex, SECRETS_KEY_PREVIOUS: `${Buffer.alloc(32, 7).toString("base64url")}, ${"f".repeat(64)}` });
		expect(config.secrets.key).toEqual(Buffer.from(hex, "hex"));
		expect(config.secrets.previousKeys).toEqual([Buffer.alloc(32, 7), Buffer.alloc(32, 0xff)]);
		expect(loadConfig({ SECRETS_KEY: base64 }).secrets.key).toEqual(Buffer.from(hex, "hex"));
	});

	it("stores secrets readable without a key outside production only", () => {
		expect(loadConfig({}).secrets).toEqual({ key: undefined, previousKeys: [] });
		expectConfigErrorNaming({ NODE_ENV: "production" }, "SECRETS_KEY");
		expect(loadConfig({ NODE_ENV: "production", SECRETS_KEY: hex }).secrets.key).toHaveLength(32);
	});

	it.each([
		[{ SECRETS_KEY: "too-short" }, "SECRETS_KEY"],
		[{ SECRETS_KEY: "ab".repeat(31) }, "SECRETS_KEY"],
		[{ SECRETS_KEY: Buffer.alloc(31).toString("base64") }, "SECRETS_KEY"],
		[{ SECRETS_KEY: hex, SECRETS_KEY_PREVIOUS: "nope" }, "SECRETS_KEY_PREVIOUS"],
		[{ SECRETS_KEY_PREVIOUS: hex }, "SECRETS_KEY"],
	])("refuses %o naming %s", (env, variable) => expectConfigErrorNaming(env, variable));
});

describe("screenshot settings", () => {
	it("reads Chromium's path, the pool's size and the page budgets, with defaults", () => {
		const defaults = loadConfig({}).screenshots;
		expect(defaults).toMatchObject({ chromiumPath: "/usr/bin/chromium", pagesPerContext: 50, pageTimeoutMs: 30_000, pageMaxBytes: 50 * 1024 ** 2, cacheControl: "public, max-age=31536000, immutable" });
		expect(defaults.concurrency).toBeGreaterThanOrEqual(1);
		const config = loadConfig({
			SCREENSHOT_CHROMIUM_PATH: "/opt/chromium/chrome",
			SCREENSHOT_CONCURRENCY: "3",
			SCREENSHOT_PAGES_PER_CONTEXT: "10",
			SCREENSHOT_PAGE_TIMEOUT: "5s",
			SCREENSHOT_PAGE_MAX_BYTES: "2mb",
			SCREENSHOT_CACHE_CONTROL: "public, max-age=600",
		}).screenshots;
		expect(config).toEqual({ chromiumPath: "/opt/chromium/chrome", concurrency: 3, pagesPerContext: 10, pageTimeoutMs: 5_000, pageMaxBytes: 2 * 1024 ** 2, cacheControl: "public, max-age=600" });
	});

	it.each([
		[{ SCREENSHOT_CHROMIUM_PATH: "chromium" }, "SCREENSHOT_CHROMIUM_PATH"],
		[{ SCREENSHOT_CONCURRENCY: "0" }, "SCREENSHOT_CONCURRENCY"],
		[{ SCREENSHOT_CONCURRENCY: "many" }, "SCREENSHOT_CONCURRENCY"],
		[{ SCREENSHOT_PAGES_PER_CONTEXT: "0" }, "SCREENSHOT_PAGES_PER_CONTEXT"],
		[{ SCREENSHOT_PAGE_TIMEOUT: "10ms" }, "SCREENSHOT_PAGE_TIMEOUT"],
		[{ SCREENSHOT_PAGE_TIMEOUT: "1h" }, "SCREENSHOT_PAGE_TIMEOUT"],
		[{ SCREENSHOT_PAGE_MAX_BYTES: "1kb" }, "SCREENSHOT_PAGE_MAX_BYTES"],
		[{ SCREENSHOT_CACHE_CONTROL: "public\r\nX-Evil: 1" }, "SCREENSHOT_CACHE_CONTROL"],
	])("refuses %o naming %s", (env, variable) => expectConfigErrorNaming(env, variable));
});
