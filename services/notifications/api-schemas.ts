/**
 * The notifications domain's API answers: each schema is the OpenAPI document's (an action's `responses`).
 * Re-exported by contracts.ts; it imports no service file, so the services import it without a cycle.
 */
import { AnyObject, DateTime, Enum, Nullable, Type, Uuid } from "../../lib/schema";
import { DELIVERY_STATUSES, ENDPOINT_STATUSES } from "../../models/notifications/webhooks/webhook.models";

export const PublicNotificationSchema = Type.Object({
	id: Uuid,
	userId: Uuid,
	tenantId: Nullable(Uuid),
	type: Type.String(),
	title: Type.String(),
	body: Type.String(),
	data: AnyObject,
	readAt: Nullable(DateTime),
	createdAt: DateTime,
});

const ChannelCounts = Type.Object({ email: Type.Integer({ minimum: 0 }), in_app: Type.Integer({ minimum: 0 }), realtime: Type.Integer({ minimum: 0 }) });

/** What a broadcast answers (202): its event id and, unless queued, what was delivered. */
export const SendResultSchema = Type.Object({
	eventId: Type.String(),
	recipients: Type.Integer({ minimum: 0 }),
	delivered: ChannelCounts,
	failed: Type.Integer({ minimum: 0, description: "Email deliveries that failed; the rest still went out." }),
	webhooks: Type.Integer({ minimum: 0 }),
	queued: Type.Optional(Type.Boolean({ description: "The recipients are paged through by a background job." })),
});

export const PreferencesSchema = Type.Object({
	locale: Nullable(Type.String()),
	preferences: Type.Array(
		Type.Object({
			type: Type.String(),
			category: Type.String(),
			description: Type.String(),
			critical: Type.Boolean({ description: "Its email and in-app deliveries can't be turned off." }),
			channels: Type.Object({ email: Type.Boolean(), in_app: Type.Boolean(), realtime: Type.Boolean() }),
		}),
	),
});

export const MailOutboxEntrySchema = Type.Object({
	id: Uuid,
	toAddress: Type.String(),
	subject: Type.String(),
	textBody: Nullable(Type.String()),
	htmlBody: Nullable(Type.String()),
	template: Nullable(Type.String()),
	transport: Type.String(),
	status: Type.String(),
	messageId: Nullable(Type.String()),
	error: Nullable(Type.String()),
	createdAt: DateTime,
	updatedAt: DateTime,
});

export const PublicEndpointSchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	url: Type.String({ format: "uri" }),
	description: Nullable(Type.String()),
	events: Type.Array(Type.String()),
	status: Enum(ENDPOINT_STATUSES),
	disabledAt: Nullable(DateTime),
	disabledReason: Nullable(Type.String()),
	lastSuccessAt: Nullable(DateTime),
	createdAt: DateTime,
	updatedAt: DateTime,
});
export const EndpointSecretSchema = Type.Object({ secret: Type.String({ description: "The signing secret (whsec_…): keep it; it verifies the webhook-signature header." }) });
export const CreatedEndpointSchema = Type.Composite([PublicEndpointSchema, EndpointSecretSchema]);

export const DeliverySchema = Type.Object({
	id: Uuid,
	tenantId: Uuid,
	endpointId: Uuid,
	eventId: Type.String(),
	eventType: Type.String(),
	status: Enum(DELIVERY_STATUSES),
	attemptCount: Type.Integer({ minimum: 0 }),
	maxAttempts: Type.Integer({ minimum: 1 }),
	nextAttemptAt: Nullable(DateTime),
	lastAttemptAt: Nullable(DateTime),
	lastStatusCode: Nullable(Type.Integer()),
	lastError: Nullable(Type.String()),
	succeededAt: Nullable(DateTime),
	createdAt: DateTime,
});
export const AttemptSchema = Type.Object({
	attempt: Type.Integer({ minimum: 1 }),
	startedAt: DateTime,
	durationMs: Type.Integer({ minimum: 0 }),
	statusCode: Nullable(Type.Integer()),
	succeeded: Type.Boolean(),
	error: Nullable(Type.String()),
	responseBody: Nullable(Type.String()),
});
export const DeliveryWithAttemptsSchema = Type.Composite([DeliverySchema, Type.Object({ attempts: Type.Array(AttemptSchema) })]);
