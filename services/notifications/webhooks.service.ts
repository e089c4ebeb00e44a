/**
 * Webhooks as Standard Webhooks (and Svix) send them. A tenant registers endpoints (`/webhook-endpoints`)
 * subscribed to event types of services/notifications/catalog.ts; producers call `webhooks.dispatch` with an
 * event, and every subscribed enabled endpoint of the tenant gets a signed POST (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`; services/notifications/webhook-signature.ts).
 *
 * Deliveries are durable jobs: rows of `webhooks.deliveries`, written with their message in one
 * transaction, claimed by the delivery loop of whichever node runs this service (mixins/due-jobs.mixin.ts,
 * `FOR UPDATE SKIP LOCKED` as a lease), attempted through the SSRF-guarded outbound client
 * (lib/outbound), and rescheduled by WEBHOOK_RETRY_SCHEDULE on failure. A restart or a killed node loses
 * nothing: the schedule lives in PostgreSQL, and a lease that runs out puts its delivery back.
 *
 * A delivery out of attempts whose endpoint has had no success for WEBHOOK_DISABLE_AFTER disables the
 * endpoint, closes what was still waiting for it, audits it and tells the tenant's admins.
 *
 * This file is the endpoint API (`/webhook-endpoints`, the delivery log, retries by hand); the delivery engine
 * (`webhooks.dispatch`, the delivery loop, secrets) is the mixin in webhook-delivery.ts.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { Context } from "moleculer";
import { DbMixin, PAGE_PARAMS, toPage, plainRow, type DbServiceSchema } from "../../mixins/db.mixin";
import { AuditMixin, type AuditMixinMethods } from "../../mixins/audit.mixin";
import { DueJobsMixin, type DueJobsMethods } from "../../mixins/due-jobs.mixin";
import { platformConfigOf } from "../../lib/node";
import { requireTenant, systemCall, type CallerMeta } from "../../lib/caller";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { ConflictError, ForbiddenError, UnprocessableEntityError } from "../../lib/errors";
import { OutboundClient } from "../../lib/outbound/client";
import { SecretBox } from "../../lib/secret-box";
import { OutboundFailedError } from "../../lib/outbound/errors";
import { WEBHOOK_EVENT_TYPES } from "./catalog";
import type { PublicEndpoint } from "./contracts";
import { newWebhookSecret } from "./webhook-signature";
import { WebhookDeliveryStore, type DeliveryView } from "./webhook-deliveries";
import { WebhookDelivery } from "./webhook-delivery";
import type { EndpointInput, EndpointRow, WebhooksContext, WebhooksLocals, WebhooksMethods, WebhooksSettings } from "./webhooks.types";
import {
	AttemptModel,
	DELIVERY_STATUSES,
	DeliveryModel,
	EndpointModel,
	ENDPOINT_STATUSES,
	MessageModel,
	type DeliveryStatus,
	type EndpointStatus,
} from "../../models/notifications/webhooks/webhook.models";
import { apiPath, created } from "../../lib/api-path";
import { Nullable, PageOf, Type, Uuid } from "../../lib/schema";
import { CreatedEndpointSchema, DeliverySchema, DeliveryWithAttemptsSchema, EndpointSecretSchema, PublicEndpointSchema } from "./api-schemas";

export type { DispatchParams, DispatchResult, PublicEndpoint } from "./contracts";
export type { WebhooksSettings } from "./webhooks.types";

/** After a rotation, deliveries carry signatures with both secrets for this long (Standard Webhooks). */
const ROTATION_GRACE_MS = 24 * 3600 * 1000;
const USER_AGENT = "Lattice-Webhooks/1.0";
/** Tenant admins, and API keys holding the action's scope (keys act as members, below tenant:admin). */
const MANAGERS = ["tenant:admin", "$isApiKeyCaller"];
/** The endpoint an action names: another tenant's answers 404, exactly like a missing one (DbMixin's owner). */
const ENDPOINT_SCOPE = { entity: "endpoint", name: "Webhook endpoint" } as const;
const READ_SCOPE = ["webhook-endpoints:read"];
const WRITE_SCOPE = ["webhook-endpoints:write"];

const ENDPOINT_FIELDS = {
	url: { type: "string", trim: true, min: 1, max: 2048 },
	events: { type: "array", items: { type: "enum", values: WEBHOOK_EVENT_TYPES }, unique: true, max: 100 },
	description: { type: "string", trim: true, max: 500, nullable: true },
} as const;

const WebhooksService: DbServiceSchema<WebhooksSettings, WebhooksMethods & AuditMixinMethods & DueJobsMethods, WebhooksLocals, typeof EndpointModel> = {
	name: "webhooks",
	mixins: [
		// First: Moleculer runs the first mixin's `started` last (after DbMixin has connected) and its `stopped` first.
		WebhookDelivery,
		DbMixin({
			schema: "webhooks",
			migrations: path.join(__dirname, "../../models/notifications/webhooks/migrations"),
			model: EndpointModel,
			extraModels: [MessageModel, DeliveryModel, AttemptModel],
			// An endpoint is its tenant's.
			owner: "tenant",
			entityName: "Webhook endpoint",
		}),
		AuditMixin,
		DueJobsMixin({ name: "Webhook deliveries", claim: "claimDeliveries", run: "attemptDelivery" }),
	],

	settings: {
		rest: "/webhook-endpoints",
		retryScheduleMs: [],
		timeoutMs: 15_000,
		disableAfterMs: 5 * 86_400_000,
		requireHttps: false,
	},

	actions: {
		createEndpoint: {
			rest: "POST /",
			responses: { 201: { description: "The endpoint and its signing secret", body: CreatedEndpointSchema, headers: { Location: "The endpoint's URL" } } },
			errors: { 403: ["PLAN_LIMIT_REACHED", "TENANT_REQUIRED"], 422: ["HTTPS_REQUIRED", "WEBHOOK_URL_UNRESOLVABLE"] },
			permissions: MANAGERS,
			scopes: WRITE_SCOPE,
			summary: "Register a webhook endpoint; its signing secret is in this answer",
			description: "`events` lists the event types to receive (empty or omitted: all). The URL must reach a public address (422 OUTBOUND_TARGET_REFUSED otherwise).",
			params: { ...ENDPOINT_FIELDS, events: { ...ENDPOINT_FIELDS.events, optional: true, default: [] }, description: { ...ENDPOINT_FIELDS.description, optional: true } },
			async handler(ctx: WebhooksContext<Required<Pick<EndpointInput, "url" | "events">> & { description?: string | null }>) {
				const tenantId = requireTenant(ctx.meta);
				const url = await this.validateUrl(ctx.params.url);
				const row = await this.adapter.db.transaction(async (transaction) => {
					// One creation at a time per tenant, so two at once can't both fit under the limit.
					await this.adapter.db.query("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))", { replacements: { key: `webhooks.endpoints:${tenantId}` }, transaction });
					const current = await this.models.endpoint.count({ where: { tenantId }, transaction });
					// As the platform: an API key allowed to manage endpoints needn't also hold a tenants scope.
					const check = await this.broker.call<{ allowed: boolean; maximum: number }, Record<string, unknown>>(
						"tenants.checkLimit",
						{ tenantId, limit: "webhookEndpoints", current, increment: 1 },
						systemCall(),
					);
					if (!check.allowed) {
						throw new ForbiddenError(`The plan allows ${check.maximum} webhook endpoints`, "PLAN_LIMIT_REACHED", { limit: "webhookEndpoints", maximum: check.maximum, current });
					}
					// The id is chosen here because the sealed secret is bound to it.
					const id = randomUUID();
					const created = await this.models.endpoint.create(
						{
							id,
							tenantId,
							url,
							description: ctx.params.description ?? null,
							events: ctx.params.events,
							secret: this.sealSecret(id, "secret", newWebhookSecret()),
							status: "enabled",
							enabledAt: new Date(),
							createdBy: ctx.meta.user?.id ?? null,
						},
						{ transaction },
					);
					return created.get({ plain: true });
				});
				await this.audit(ctx, { action: "webhook_endpoint.created", targetType: "webhook_endpoint", targetId: row.id, data: { url, events: row.events } });
				created(ctx, "webhook-endpoints", row.id);
				return { ...this.toPublic(row), secret: this.openSecret(row.id, "secret", row.secret) };
			},
		},

		listEndpoints: {
			rest: "GET /",
			responses: { 200: { description: "A page of endpoints, newest first", body: PageOf(PublicEndpointSchema) } },
			permissions: MANAGERS,
			scopes: READ_SCOPE,
			summary: "The organization's webhook endpoints, newest first",
			params: { ...PAGE_PARAMS, status: { type: "enum", values: ENDPOINT_STATUSES, optional: true }, $$strict: "remove" },
			async handler(ctx: WebhooksContext<{ page: number; pageSize: number; status?: EndpointStatus }>) {
				const { page, pageSize, status } = ctx.params;
				return this.scoped(ctx).page({ page, pageSize, where: status ? { status } : {} }, (row) => this.toPublic(row));
			},
		},

		getEndpoint: {
			rest: "GET /:id",
			responses: { 200: { description: "The endpoint", body: PublicEndpointSchema } },
			permissions: MANAGERS,
			scopes: READ_SCOPE,
			summary: "One webhook endpoint (without its secret)",
			params: { id: "string|max:64" },
			scope: ENDPOINT_SCOPE,
			async handler(ctx: WebhooksContext<{ id: string }>) {
				return this.toPublic(entityOf<EndpointRow>(ctx));
			},
		},

		getSecret: {
			rest: "GET /:id/secret",
			responses: { 200: { description: "The signing secret", body: EndpointSecretSchema } },
			permissions: MANAGERS,
			scopes: WRITE_SCOPE,
			summary: "The endpoint's signing secret",
			params: { id: "string|max:64" },
			scope: ENDPOINT_SCOPE,
			async handler(ctx: WebhooksContext<{ id: string }>) {
				const row = entityOf<EndpointRow>(ctx);
				return { secret: this.openSecret(row.id, "secret", row.secret) };
			},
		},

		rotateSecret: {
			rest: "POST /:id/rotate-secret",
			responses: { 200: { description: "The new signing secret", body: EndpointSecretSchema } },
			permissions: MANAGERS,
			scopes: WRITE_SCOPE,
			summary: "Replace the signing secret; for 24 hours deliveries are signed with both",
			params: { id: "string|max:64" },
			scope: ENDPOINT_SCOPE,
			async handler(ctx: WebhooksContext<{ id: string }>) {
				const row = entityOf<EndpointRow>(ctx);
				const secret = newWebhookSecret();
				const previousSecret = this.sealSecret(row.id, "previous_secret", this.openSecret(row.id, "secret", row.secret));
				await this.models.endpoint.update(
					{ secret: this.sealSecret(row.id, "secret", secret), previousSecret, previousSecretExpiresAt: new Date(Date.now() + ROTATION_GRACE_MS) },
					{ where: { id: row.id } },
				);
				await this.audit(ctx, { action: "webhook_endpoint.secret_rotated", targetType: "webhook_endpoint", targetId: row.id });
				return { secret };
			},
		},

		updateEndpoint: {
			rest: ["PATCH /:id", "PUT /:id"],
			responses: { 200: { description: "The endpoint as changed", body: PublicEndpointSchema } },
			errors: { 422: ["HTTPS_REQUIRED", "WEBHOOK_URL_UNRESOLVABLE"] },
			permissions: MANAGERS,
			scopes: WRITE_SCOPE,
			summary: "Change the URL, events or description, or disable / re-enable the endpoint",
			description: "`status: \"enabled\"` re-enables a disabled endpoint: new events are delivered again and its failure window starts over. Deliveries closed while it was disabled stay exhausted; retry them one by one.",
			params: {
				id: "string|max:64",
				url: { ...ENDPOINT_FIELDS.url, optional: true },
				events: { ...ENDPOINT_FIELDS.events, optional: true },
				description: { ...ENDPOINT_FIELDS.description, optional: true },
				status: { type: "enum", values: ENDPOINT_STATUSES, optional: true },
				$$strict: "remove",
			},
			scope: ENDPOINT_SCOPE,
			async handler(ctx: WebhooksContext<EndpointInput & { id: string }>) {
				const before = entityOf<EndpointRow>(ctx);
				const changes: Partial<EndpointRow> = {};
				if (ctx.params.url !== undefined && ctx.params.url !== before.url) changes.url = await this.validateUrl(ctx.params.url);
				if (ctx.params.events !== undefined) changes.events = ctx.params.events;
				if (ctx.params.description !== undefined) changes.description = ctx.params.description;
				if (ctx.params.status === "enabled" && before.status === "disabled") {
					Object.assign(changes, { status: "enabled", enabledAt: new Date(), disabledAt: null, disabledReason: null });
				} else if (ctx.params.status === "disabled" && before.status === "enabled") {
					Object.assign(changes, { status: "disabled", disabledAt: new Date(), disabledReason: "Disabled by an administrator" });
				}
				if (Object.keys(changes).length === 0) return this.toPublic(before);
				const [, rows] = await this.models.endpoint.update(changes, { where: { id: before.id }, returning: true });
				if (changes.status === "disabled") await this.store.closeOutstanding(before.id);
				const after = rows[0].get({ plain: true });
				const action = changes.status === "enabled" ? "webhook_endpoint.enabled" : changes.status === "disabled" ? "webhook_endpoint.disabled" : "webhook_endpoint.updated";
				await this.audit(ctx, { action, targetType: "webhook_endpoint", targetId: before.id, data: { changed: Object.keys(changes) } });
				return this.toPublic(after);
			},
		},

		deleteEndpoint: {
			rest: "DELETE /:id",
			responses: { 204: "Deleted, with its deliveries" },
			permissions: MANAGERS,
			scopes: WRITE_SCOPE,
			summary: "Remove the endpoint and its delivery log",
			params: { id: "string|max:64" },
			scope: ENDPOINT_SCOPE,
			async handler(ctx: WebhooksContext<{ id: string }>) {
				const row = entityOf<EndpointRow>(ctx);
				// Deliveries and attempts go with it (ON DELETE CASCADE); an attempt in flight records nothing.
				await this.models.endpoint.destroy({ where: { id: row.id } });
				await this.audit(ctx, { action: "webhook_endpoint.deleted", targetType: "webhook_endpoint", targetId: row.id, data: { url: row.url } });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		testEndpoint: {
			rest: "POST /:id/test",
			responses: { 202: { description: "A ping is queued for the endpoint", body: Type.Object({ eventId: Type.String(), deliveryId: Nullable(Uuid) }) } },
			errors: { 409: ["ENDPOINT_DISABLED"] },
			permissions: MANAGERS,
			scopes: WRITE_SCOPE,
			summary: "Send a `ping` event to the endpoint, through the usual signed and retried delivery",
			params: { id: "string|max:64" },
			scope: ENDPOINT_SCOPE,
			async handler(ctx: WebhooksContext<{ id: string }>) {
				const endpoint = entityOf<EndpointRow>(ctx);
				if (endpoint.status !== "enabled") throw new ConflictError("The endpoint is disabled; enable it first", "ENDPOINT_DISABLED", { endpointId: endpoint.id });
				const result = await this.enqueue({ tenantId: endpoint.tenantId, eventType: "ping", eventId: `msg_${randomUUID()}`, data: { endpointId: endpoint.id }, endpointId: endpoint.id });
				ctx.meta.$statusCode = 202;
				return { eventId: result.eventId, deliveryId: result.deliveryIds[0] };
			},
		},

		listDeliveries: {
			rest: "GET /:id/deliveries",
			responses: { 200: { description: "A page of deliveries, newest first, each with its attempts", body: PageOf(DeliveryWithAttemptsSchema) } },
			permissions: MANAGERS,
			scopes: READ_SCOPE,
			summary: "The endpoint's deliveries, newest first, each with its attempts",
			params: { id: "string|max:64", ...PAGE_PARAMS, status: { type: "enum", values: DELIVERY_STATUSES, optional: true }, $$strict: "remove" },
			scope: ENDPOINT_SCOPE,
			async handler(ctx: WebhooksContext<{ id: string; page: number; pageSize: number; status?: DeliveryStatus }>) {
				const endpoint = entityOf<EndpointRow>(ctx);
				const { page, pageSize, status } = ctx.params;
				const { rows, total } = await this.store.listForEndpoint(endpoint.id, page, pageSize, status);
				const attempts = await this.store.attemptsOf(rows.map((row) => row.id));
				const withAttempts = rows.map((row) => ({
					...row,
					attempts: attempts.filter((attempt) => attempt.deliveryId === row.id).map(({ deliveryId: _deliveryId, ...attempt }) => attempt),
				}));
				return toPage(withAttempts, total, page, pageSize);
			},
		},

		retryDelivery: {
			rest: { method: "POST", fullPath: apiPath("webhook-deliveries/:id/retry") },
			responses: { 202: { description: "The delivery, queued again", body: DeliverySchema } },
			errors: { 409: ["ENDPOINT_DISABLED", "DELIVERY_NOT_RETRYABLE"] },
			permissions: MANAGERS,
			scopes: WRITE_SCOPE,
			summary: "Attempt a failed or exhausted delivery again now",
			description: "A failed delivery keeps the rest of its retry schedule; an exhausted one gets one more attempt. The endpoint must be enabled (409 ENDPOINT_DISABLED).",
			params: { id: "string|max:64" },
			scope: { entity: "$findDelivery", owner: "tenant", name: "Webhook delivery" },
			async handler(ctx: WebhooksContext<{ id: string }>) {
				const delivery = entityOf<DeliveryView>(ctx);
				const endpoint = plainRow(await this.models.endpoint.findByPk(delivery.endpointId))!;
				if (endpoint.status !== "enabled") throw new ConflictError("The endpoint is disabled; enable it first", "ENDPOINT_DISABLED", { endpointId: endpoint.id });
				const requeued = delivery.status === "failed" || delivery.status === "exhausted" ? await this.store.requeue(delivery.id, delivery.status) : undefined;
				if (!requeued) {
					throw new ConflictError(`A ${delivery.status} delivery can't be retried`, "DELIVERY_NOT_RETRYABLE", { deliveryId: delivery.id, status: delivery.status });
				}
				this.kickDueJobs();
				await this.audit(ctx, { action: "webhook_delivery.retried", targetType: "webhook_delivery", targetId: delivery.id });
				ctx.meta.$statusCode = 202;
				return requeued;
			},
		},
	},

	methods: {
		isApiKeyCaller(ctx: Context<unknown, CallerMeta>): boolean {
			// The middleware has already checked the key's scopes when this runs.
			return Boolean(ctx.meta.apiKeyId);
		},

		/** A delivery by id, for the `scope` of retryDelivery (which compares its tenant). */
		async findDelivery(id: string): Promise<DeliveryView | undefined> {
			return this.store.find(id);
		},

		/** http(s), https in production unless allow-listed, and a host that resolves to public addresses only. */
		async validateUrl(value: string): Promise<string> {
			const url = this.outbound.checkUrl(value);
			if (this.settings.requireHttps && url.protocol !== "https:" && !this.outbound.isAllowListed(url)) {
				throw new UnprocessableEntityError("Webhook endpoints must use https", "HTTPS_REQUIRED", { url: url.href });
			}
			try {
				await this.outbound.assertAllowed(url);
			} catch (err) {
				if (err instanceof OutboundFailedError) throw new UnprocessableEntityError(`${url.hostname} does not resolve`, "WEBHOOK_URL_UNRESOLVABLE", { url: url.href });
				throw err;
			}
			return url.href;
		},

		toPublic(row: EndpointRow): PublicEndpoint {
			return {
				id: row.id,
				tenantId: row.tenantId,
				url: row.url,
				description: row.description ?? null,
				events: row.events,
				status: row.status,
				disabledAt: row.disabledAt ?? null,
				disabledReason: row.disabledReason ?? null,
				lastSuccessAt: row.lastSuccessAt ?? null,
				createdAt: row.createdAt,
				updatedAt: row.updatedAt,
			};
		},
	},

	created() {
		const config = platformConfigOf(this.broker);
		this.settings.retryScheduleMs = config.webhooks.retryScheduleMs;
		this.settings.timeoutMs = config.webhooks.timeoutMs;
		this.settings.disableAfterMs = config.webhooks.disableAfterMs;
		this.settings.requireHttps = config.env === "production";
		this.outbound = new OutboundClient({ allowHosts: config.outbound.allowHosts, userAgent: USER_AGENT });
		this.secretBox = new SecretBox(config.secrets.key, config.secrets.previousKeys);
		// The pool exists once the adapter connects (started); the store asks for it on each query.
		this.store = new WebhookDeliveryStore(() => this.adapter.db);
	},
};

export default WebhooksService;
