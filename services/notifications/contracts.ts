/**
 * The notifications domain's public face: what other domains may import from it (and nothing else). The
 * params and results of the internal actions other domains call (`notifications.send`, `mail.send`,
 * `mail.sendTemplate`, `webhooks.dispatch`), the realtime push every gateway node listens to, and the
 * durable channel notifications feeds itself.
 */
import type { TenantRole } from "../../lib/caller";
import type { EndpointStatus } from "../../models/notifications/webhooks/webhook.models";
import type { NotificationChannel, NotificationType } from "./catalog";
import type { MailTransportName } from "./mail-transports";
import type { TemplateName, TemplateVariables } from "./mail-templates";

export type { NotificationChannel, NotificationType } from "./catalog";
export type { TemplateName, TemplateVariables } from "./mail-templates";
/** The API answers' schemas (their Static types are the DTOs the document describes). */
export * from "./api-schemas";

// --- Notifications ---------------------------------------------------------------------------------------

/** Broadcast to every gateway node (group "realtime"); each pushes to the sockets it holds (services/gateway/realtime.service.ts). */
export const REALTIME_EVENT = "realtime.deliver";

/** Durable job channel: a broadcast to every user, paged through by a notifications node (resumed after a crash). */
export const NOTIFICATION_BROADCAST_CHANNEL = "notifications.broadcast";

/**
 * `notifications.send`. The recipients: one user (`userId`), several (`userIds`: one event, so the tenant's
 * webhooks get it once however many are told), a tenant's members (`tenantId`, narrowed by `roles`), or
 * everyone (`broadcast`). With `userId`/`userIds`, `tenantId` names the tenant the event belongs to (its
 * webhooks and sockets get it) without making its members recipients.
 */
export interface SendParams {
	userId?: string;
	userIds?: string[];
	tenantId?: string;
	roles?: TenantRole[];
	broadcast?: boolean;
	type: NotificationType;
	data: Record<string, unknown>;
	eventId?: string;
	channels?: NotificationChannel[];
}

/** What `notifications.send` answers. */
export interface SendResult {
	eventId: string;
	recipients: number;
	delivered: Record<NotificationChannel, number>;
	/** Email deliveries that failed (the mail service answered an error); the rest still went out. */
	failed: number;
	webhooks: number;
	/** True when the recipients are paged through by a background job (broadcasts). */
	queued?: boolean;
}

export interface PublicNotification {
	id: string;
	userId: string;
	tenantId: string | null;
	type: string;
	title: string;
	body: string;
	data: Record<string, unknown>;
	readAt: Date | null;
	createdAt: Date;
}

/** What a WebSocket client receives; `kind` tells notifications, tenant events and read-state changes apart. */
export type RealtimeMessage =
	| { kind: "notification"; notification: PublicNotification | (Omit<PublicNotification, "id" | "readAt"> & { id: null; readAt: null }) }
	| { kind: "event"; type: string; eventId: string; tenantId: string; data: Record<string, unknown> }
	| { kind: "read"; ids: string[] | "all" };

/** What `realtime.deliver` carries. */
export interface RealtimeDelivery {
	/** Per-user messages. */
	users?: Array<{ userId: string; message: RealtimeMessage }>;
	/** One message for every socket acting in the tenant. */
	tenant?: { tenantId: string; message: RealtimeMessage };
}

// --- Mail ------------------------------------------------------------------------------------------------

export type OutboxStatus = "sent" | "failed" | "stored";
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ["sent", "failed", "stored"];

/** `mail.send`. */
export interface MailSendParams {
	to: string;
	subject: string;
	text: string;
	html?: string;
	/** Recorded with the message; set by sendTemplate. */
	template?: string;
}

/** `data` is typed per template when the caller names one: `MailSendTemplateParams<"verify-email">`. */
export interface MailSendTemplateParams<T extends TemplateName = TemplateName> {
	to: string;
	template: T;
	data: TemplateVariables[T];
	/** "en" when absent or unknown; "de-AT" falls back to "de" first. */
	locale?: string;
}

/** What `mail.send` and `mail.sendTemplate` answer. */
export interface MailSendResult {
	/** The outbox row. */
	id: string;
	transport: MailTransportName;
	status: OutboxStatus;
	/** The SMTP Message-ID; null when the message was only stored. */
	messageId: string | null;
}

// --- Webhooks --------------------------------------------------------------------------------------------

export interface PublicEndpoint {
	id: string;
	tenantId: string;
	url: string;
	description: string | null;
	events: string[];
	status: EndpointStatus;
	disabledAt: Date | null;
	disabledReason: string | null;
	lastSuccessAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

/** `webhooks.dispatch`. */
export interface DispatchParams {
	tenantId: string;
	eventType: string;
	eventId?: string;
	data: Record<string, unknown>;
}

export interface DispatchResult {
	eventId: string;
	deliveries: number;
	duplicate?: true;
}
