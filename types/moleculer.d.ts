/**
 * Custom action and broker properties, declared once so every service schema is type-checked against them.
 * `auth`/`permissions` are enforced by middlewares/access-control.middleware.ts; `rest`, `summary`,
 * `description` and `openapi` feed the gateway's aliases and lib/openapi.ts.
 *
 * Moleculer's typings expose ActionSchema twice (the package index and src/service, which ServiceSchema
 * uses); both get the same properties. moleculer-web already adds `rest` to the index one.
 */
import "moleculer";

interface LatticeActionProperties {
	/** Who may call: "required" (default) needs an authenticated principal, "public" anyone. */
	auth?: "required" | "public" | "optional";
	/**
	 * Any one grants access. Personas ("super_admin"), minimum tenant roles ("tenant:admin") or
	 * "$method" naming a service method (ctx) => boolean.
	 */
	permissions?: string[];
	/** Request cookies this action may read: the gateway copies just these into `ctx.meta.cookies`. */
	cookies?: string[];
	/**
	 * Honours an `Idempotency-Key` header (the gateway copies it into `ctx.meta.idempotencyKey` for this
	 * action only); the service must use mixins/idempotency.mixin.ts, which stores and replays responses.
	 */
	idempotent?: boolean;
	/** Scopes an API key needs for this action; default "<service>:read" for GET, "<service>:write" otherwise. */
	scopes?: string[];
	summary?: string;
	description?: string;
	openapi?: { responses?: Record<string, unknown> };
}

interface LatticeRestRoute {
	path?: string;
	method?: "GET" | "POST" | "DELETE" | "PUT" | "PATCH";
	fullPath?: string;
	basePath?: string;
}

declare module "moleculer" {
	interface ActionSchema extends LatticeActionProperties {}
}

declare module "moleculer/src/service" {
	interface ActionSchema<TThis = Service> extends LatticeActionProperties {
		/** moleculer-web auto-alias definition: "GET /path", { method, path } or a list; null unpublishes. */
		rest?: string | string[] | LatticeRestRoute | LatticeRestRoute[] | null;
	}
	interface ServiceSchema<
		TSettings = ServiceSettingSchema,
		TMethods = Record<string, any>,
		TVars = Record<string, any>,
		TThis = Service<TSettings> & TVars & TMethods,
	> {
		/** Called with the schema after mixins are merged, before the service is created. */
		merged?: (schema: ServiceSchema) => void;
	}
}

declare module "moleculer/src/service-broker" {
	interface BrokerOptions {
		/** Facts this node resolves at start (see server.ts), read by mixins instead of the environment. */
		platform?: { databaseUrl?: string };
	}
}
