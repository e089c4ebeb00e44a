/**
 * Custom action and broker properties, declared once so every service schema is type-checked against them.
 * `auth`/`permissions` are enforced by middlewares/access-control.middleware.ts; `rest`, `summary`,
 * `description` and `openapi` feed the gateway's aliases and lib/openapi.ts.
 *
 * Moleculer's typings expose ActionSchema twice (the package index and src/service, which ServiceSchema
 * uses); both get the same properties. moleculer-web already adds `rest` to the index one.
 */
import "moleculer";
import type { EntityScope } from "../middlewares/entity-scope.middleware";
import type { ErrorDeclarations, ResponseDeclarations } from "../lib/openapi/types";

interface LatticeActionProperties {
	/** Who may call: "required" (default) needs an authenticated principal, "public" anyone. */
	auth?: "required" | "public" | "optional";
	/**
	 * Any one grants access. Personas ("super_admin"), minimum tenant roles ("tenant:admin") or
	 * "$method" naming a service method (ctx) => boolean.
	 */
	permissions?: string[];
	/**
	 * The entity the action works on, loaded in the caller's scope into `ctx.locals.entity` before the handler
	 * runs (middlewares/entity-scope.middleware.ts): 404 alike for a malformed, missing or foreign id.
	 */
	scope?: EntityScope;
	/** The request body exactly as received, in `ctx.meta.rawBody`, for verifying a signature over it. */
	rawBody?: boolean;
	/** Request cookies this action may read: the gateway copies just these into `ctx.meta.cookies`. */
	cookies?: string[];
	/** Request headers (lower-case names) this action may read: the gateway copies just these into `ctx.meta.headers`. */
	headers?: string[];
	/**
	 * Honours an `Idempotency-Key` header (the gateway copies it into `ctx.meta.idempotencyKey` for this
	 * action only); the service must use mixins/idempotency.mixin.ts, which stores and replays responses.
	 */
	idempotent?: boolean;
	/** Scopes an API key needs for this action; default "<service>:read" for GET, "<service>:write" otherwise. */
	scopes?: string[];
	summary?: string;
	description?: string;
	/**
	 * What a REST action answers, by status: `{ 201: { description, body: SomeSchema } }` with a JSON Schema
	 * (TypeBox, from the domain's contracts.ts) for a body, or just a description (`{ 204: "Deleted" }`,
	 * a 302 with its Location header). lib/openapi.ts documents exactly these instead of "200, any body".
	 */
	responses?: ResponseDeclarations;
	/** Error statuses the action answers beyond the generic ones (400, 401, 403, 404 on a path id, 429, 503), with their codes. */
	errors?: ErrorDeclarations;
	openapi?: {
		responses?: Record<string, unknown>;
		/** A multipart action's file parts, by name; lib/openapi.ts documents file parts of any name without it. */
		fileParts?: string[];
	};
}

interface LatticeRestRoute {
	path?: string;
	method?: "GET" | "POST" | "DELETE" | "PUT" | "PATCH";
	fullPath?: string;
	basePath?: string;
	/** How the gateway hands over the body: each file part of a form as a stream, or the whole body as one. */
	type?: "multipart" | "stream";
	/** A multipart route's parser options (limits travel with the route to every gateway). */
	busboyConfig?: { empty?: boolean; limits?: Record<string, number> };
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
		/** Durable channel consumers (@moleculer/channels; adapter chosen in moleculer.config.ts). */
		channels?: Record<string, LatticeChannelHandler<TThis> | LatticeChannelDefinition<TThis>>;
	}
}

/** Receives the deserialized payload; the second argument is the adapter's raw message. */
type LatticeChannelHandler<TThis> = (this: TThis, payload: any, raw?: any) => unknown;

interface LatticeChannelDefinition<TThis> {
	/** Consumer group (default: the service's full name). Each group gets every message once. */
	group?: string;
	/** Failed deliveries retried before the message is dead-lettered or dropped. */
	maxRetries?: number;
	/** Messages of this channel a node handles at once. */
	maxInFlight?: number;
	/** Hand a Context (with the publisher's meta) to the handler instead of the bare payload. */
	context?: boolean;
	deadLettering?: { enabled?: boolean; queueName?: string };
	handler: LatticeChannelHandler<TThis>;
}

declare module "moleculer/src/service-broker" {
	interface BrokerOptions {
		/** Facts this node resolves at start (see server.ts), read by mixins instead of the environment. */
		platform?: { databaseUrl?: string };
	}
}

declare module "moleculer" {
	interface ServiceBroker {
		/** Publishes to a durable channel (added by the @moleculer/channels middleware). */
		sendToChannel(channelName: string, payload: unknown, opts?: { ctx?: unknown; headers?: Record<string, string> }): Promise<void>;
	}
}
