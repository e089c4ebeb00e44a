import { describe, expect, it } from "vitest";
import { assertDatabaseAvailable, availableDomains, ConfigError, loadConfig, redisOptionsFromUrl } from "../../lib/config";

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
	])("refuses %o naming %s", (env, variable) => {
		expect(() => loadConfig(env)).toThrow(ConfigError);
		try {
			loadConfig(env);
		} catch (err) {
			expect((err as ConfigError).variable).toBe(variable);
			expect((err as Error).message).toContain(variable);
		}
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
