/**
 * Notifications: one internal action, `notifications.send`, fans a typed event out to the channels its
 * recipients want (email through the mail service, the in-app feed, realtime pushes to open WebSockets)
 * and, for tenant events, to the tenant's webhook endpoints. The feed and its read state are served here.
 *
 * Delivery is at least once and repeat-safe: every send carries an event id, and each (event, recipient,
 * channel) is recorded once delivered, so a producer that retries never doubles an email or a feed entry.
 * Broadcasts to every user run as a durable channel job that pages through users. New accounts, paid and
 * refunded orders and settled, failed and refunded payments arrive on durable channels that users', orders'
 * and payments' transactional outboxes feed, so the welcome reaches a new user, and a receipt the buyer and
 * the tenant, even when no notifications node was up at the time. Nothing here listens to plain broker
 * events: they are at most once, and a notification would be lost whenever no notifications node is up.
 */
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { Context } from "moleculer";
import { Op, QueryTypes, type Transaction } from "sequelize";
import { DbMixin, PAGE_PARAMS, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { DispatchModel, NotificationModel, type NotificationRow } from "../../models/notifications/notifications/notification.models";
import { NOTIFICATION_CHANNELS, NOTIFICATION_TYPES, NOTIFICATION_TYPE_NAMES, type NotificationChannel, type NotificationType } from "./catalog";
import { renderNotification, type RenderedNotification } from "./notification-templates";
import type { RecipientChannels } from "./notification-preferences.service";
import { TENANT_ROLES, systemCall, type CallerMeta, type TenantRole } from "../../lib/caller";
import { BadRequestError } from "../../lib/errors";
import { ConcurrencyLimit } from "../../lib/concurrency";
import { NOTIFICATION_TRIGGERS, NotificationTriggers, type TriggerMethods } from "./notification-triggers";
import {
	NOTIFICATION_BROADCAST_CHANNEL,
	REALTIME_EVENT,
	type PublicNotification,
	type RealtimeDelivery,
	type SendParams,
	type SendResult,
} from "./contracts";
import { PageOf, Type } from "../../lib/schema";
import { PublicNotificationSchema, SendResultSchema } from "./api-schemas";

export { REALTIME_EVENT };
export type { PublicNotification, RealtimeDelivery, RealtimeMessage, SendParams, SendResult } from "./contracts";

const SCHEMA = "notifications";

const RECIPIENT_PAGE = 200;
/** Users one send may name; more are a tenant (`tenantId` + `roles`) or a broadcast. */
const MAX_USER_IDS = 100;
const EMAIL_CONCURRENCY = 4;
/** The feed belongs to a person; an API key acts for an organization and has none. */
const NO_FEED = "Notifications belong to a user; API keys have none";
/** A notification is its recipient's alone: nobody else reads it, super admins and platform work included. */
const FEED_OWNERSHIP = { owner: "user", seesAll: "nobody", userRequired: NO_FEED } as const;

export interface Recipient {
	id: string;
	email: string;
	fullName: string;
}

interface BroadcastJob {
	eventId: string;
	type: NotificationType;
	data: Record<string, unknown>;
	tenantId?: string;
	roles?: TenantRole[];
}

interface DeliveryJob {
	eventId: string;
	type: NotificationType;
	data: Record<string, unknown>;
	tenantId?: string;
	channels?: NotificationChannel[];
}

interface NotificationsMethods {
	resolveRecipients(params: SendParams): Promise<Recipient[]>;
	deliver(job: DeliveryJob, recipients: Recipient[]): Promise<SendResult>;
	dispatchWebhooks(eventId: string, type: NotificationType, tenantId: string | undefined, data: Record<string, unknown>): Promise<number>;
	toPublic(row: NotificationRow): PublicNotification;
	pushRealtime(delivery: RealtimeDelivery): void;
	claimDispatches(eventId: string, channel: NotificationChannel, recipientIds: string[], transaction: Transaction): Promise<Set<string>>;
}

const NotificationsService: DbServiceSchema<DbMixinSettings, NotificationsMethods & TriggerMethods, unknown, typeof NotificationModel, typeof DispatchModel> = {
	name: "notifications",
	mixins: [
		DbMixin({
			schema: SCHEMA,
			migrations: path.join(__dirname, "../../models/notifications/notifications/migrations"),
			entityName: "Notification",
			model: NotificationModel,
			extraModels: [DispatchModel],
			owner: FEED_OWNERSHIP,
		}),
		NotificationTriggers,
	],

	channels: {
		...NOTIFICATION_TRIGGERS,
		/** Broadcasts page through every user, which can take long: a durable job, resumed after a crash. */
		[NOTIFICATION_BROADCAST_CHANNEL]: {
			group: "notifications",
			maxRetries: 5,
			async handler(job: BroadcastJob) {
				if (job.tenantId) {
					const recipients = await this.resolveRecipients({ tenantId: job.tenantId, roles: job.roles, type: job.type, data: job.data });
					await this.deliver({ eventId: job.eventId, type: job.type, data: job.data, tenantId: job.tenantId }, recipients);
					return;
				}
				let afterId: string | undefined;
				for (;;) {
					const page = await this.broker.call<Recipient[], { afterId?: string; limit: number }>("users.activeRecipients", { afterId, limit: RECIPIENT_PAGE }, systemCall());
					if (page.length === 0) break;
					// Already-delivered pairs are skipped, so a job retried after a crash resumes rather than repeats.
					await this.deliver({ eventId: job.eventId, type: job.type, data: job.data }, page);
					afterId = page[page.length - 1].id;
					if (page.length < RECIPIENT_PAGE) break;
				}
			},
		},
	},

	actions: {
		send: {
			visibility: "public",
			summary: "Send a notification to a user, a tenant's members, or everyone",
			params: {
				userId: { type: "uuid", optional: true },
				userIds: { type: "array", items: "uuid", optional: true, min: 1, max: MAX_USER_IDS },
				tenantId: { type: "uuid", optional: true },
				roles: { type: "array", items: { type: "enum", values: TENANT_ROLES }, optional: true, min: 1 },
				broadcast: { type: "boolean", optional: true },
				type: { type: "enum", values: NOTIFICATION_TYPE_NAMES },
				data: { type: "object", default: {} },
				eventId: { type: "string", min: 1, max: 200, pattern: /^[A-Za-z0-9_.:-]+$/, optional: true },
				channels: { type: "array", items: { type: "enum", values: NOTIFICATION_CHANNELS }, optional: true, min: 1 },
			},
			async handler(ctx: Context<SendParams, CallerMeta>): Promise<SendResult> {
				const params = ctx.params;
				const users = params.userId !== undefined || params.userIds !== undefined;
				const targets = [users || (params.tenantId !== undefined && !params.broadcast), params.broadcast === true].filter(Boolean).length;
				if (targets !== 1 || (params.broadcast && users) || (params.userId !== undefined && params.userIds !== undefined)) {
					throw new BadRequestError("Send to exactly one of: userId, userIds, tenantId, or broadcast", "INVALID_TARGET");
				}
				if (params.roles && (users || !params.tenantId)) throw new BadRequestError("roles narrows a tenantId target only", "INVALID_TARGET");
				const eventId = params.eventId ?? `evt_${randomUUID()}`;
				// Rendered once before anything goes out: a template missing a variable is a 422, not a blank.
				renderNotification(params.type, { fullName: "-", email: "-", ...params.data }, undefined, true);

				if (params.broadcast) {
					const job: BroadcastJob = { eventId, type: params.type, data: params.data, tenantId: params.tenantId, roles: params.roles };
					await this.broker.sendToChannel(NOTIFICATION_BROADCAST_CHANNEL, job);
					return { eventId, recipients: 0, delivered: { email: 0, in_app: 0, realtime: 0 }, failed: 0, webhooks: 0, queued: true };
				}
				const recipients = await this.resolveRecipients(params);
				return this.deliver({ eventId, type: params.type, data: params.data, tenantId: params.tenantId, channels: params.channels }, recipients);
			},
		},

		broadcast: {
			rest: "POST /broadcast",
			responses: { 202: { description: "Accepted: sent, or queued for a background job", body: SendResultSchema } },
			permissions: ["super_admin"],
			summary: "Announce something to every user, or to the members of one tenant (super admins)",
			params: {
				title: "string|trim|min:1|max:200",
				body: "string|trim|min:1|max:4000",
				tenantId: { type: "uuid", optional: true },
			},
			async handler(ctx: Context<{ title: string; body: string; tenantId?: string }, CallerMeta>): Promise<SendResult> {
				const result = await this.broker.call<SendResult, SendParams>(
					"notifications.send",
					{ broadcast: true, tenantId: ctx.params.tenantId, type: "announcement", data: { title: ctx.params.title, body: ctx.params.body } },
					systemCall(),
				);
				ctx.meta.$statusCode = 202;
				return result;
			},
		},

		feed: {
			rest: "GET /",
			responses: { 200: { description: "A page of the caller's notifications, newest first", body: PageOf(PublicNotificationSchema) } },
			summary: "Your notifications, newest first",
			params: {
				unread: { type: "boolean", convert: true, optional: true },
				tenantId: { type: "uuid", optional: true },
				type: { type: "enum", values: NOTIFICATION_TYPE_NAMES, optional: true },
				...PAGE_PARAMS,
			},
			async handler(ctx: Context<{ unread?: boolean; tenantId?: string; type?: NotificationType; page: number; pageSize: number }, CallerMeta>) {
				const { unread, tenantId, type, page, pageSize } = ctx.params;
				const where = { ...(unread === true ? { readAt: null } : unread === false ? { readAt: { [Op.ne]: null } } : {}), ...(tenantId ? { tenantId } : {}), ...(type ? { type } : {}) };
				return this.scoped(ctx).page({ page, pageSize, where }, (row) => this.toPublic(row));
			},
		},

		unreadCount: {
			rest: "GET /unread-count",
			responses: { 200: { description: "How many are unread", body: Type.Object({ unread: Type.Integer({ minimum: 0 }) }) } },
			summary: "How many of your notifications are unread",
			params: {},
			async handler(ctx: Context<Record<string, never>, CallerMeta>) {
				return { unread: await this.scoped(ctx).count({ readAt: null }) };
			},
		},

		markRead: {
			rest: "PUT /:id/read",
			responses: { 200: { description: "The notification, read", body: PublicNotificationSchema } },
			summary: "Mark one of your notifications read",
			params: { id: "uuid" },
			async handler(ctx: Context<{ id: string }, CallerMeta>) {
				const feed = this.scoped(ctx);
				// Someone else's notification answers exactly like a missing one.
				await feed.update({ readAt: new Date() }, { id: ctx.params.id, readAt: null });
				const row = await feed.get(ctx.params.id);
				this.pushRealtime({ users: [{ userId: row.userId, message: { kind: "read", ids: [row.id] } }] });
				return this.toPublic(row);
			},
		},

		markAllRead: {
			rest: "POST /read-all",
			responses: { 200: { description: "How many were marked read", body: Type.Object({ updated: Type.Integer({ minimum: 0 }) }) } },
			summary: "Mark all your notifications read",
			params: { tenantId: { type: "uuid", optional: true } },
			async handler(ctx: Context<{ tenantId?: string }, CallerMeta>) {
				const feed = this.scoped(ctx);
				const updated = await feed.update({ readAt: new Date() }, { readAt: null, ...(ctx.params.tenantId ? { tenantId: ctx.params.tenantId } : {}) });
				// scoped(ctx) has refused a caller without a user.
				this.pushRealtime({ users: [{ userId: ctx.meta.user!.id, message: { kind: "read", ids: "all" } }] });
				return { updated };
			},
		},
	},

	methods: {
		async resolveRecipients(params: SendParams): Promise<Recipient[]> {
			const userIds = params.userIds ?? (params.userId ? [params.userId] : undefined);
			if (userIds) {
				return this.broker.call<Recipient[], { ids: string[] }>("users.summaries", { ids: [...new Set(userIds)] }, systemCall());
			}
			const members = await this.broker.call<Array<{ userId: string; role: TenantRole; email: string | null; fullName: string | null }>, { id: string }>(
				"tenants.members",
				{ id: params.tenantId! },
				systemCall(),
			);
			return members
				.filter((member) => member.email && (!params.roles || params.roles.includes(member.role)))
				.map((member) => ({ id: member.userId, email: member.email!, fullName: member.fullName ?? member.email! }));
		},

		async deliver(job: DeliveryJob, recipients: Recipient[]): Promise<SendResult> {
			const result: SendResult = { eventId: job.eventId, recipients: recipients.length, delivered: { email: 0, in_app: 0, realtime: 0 }, failed: 0, webhooks: 0 };
			const wanted = await this.broker.call<RecipientChannels, { userIds: string[]; type: NotificationType }>(
				"notification-preferences.channelsFor",
				{ userIds: recipients.map((recipient) => recipient.id), type: job.type },
				systemCall(),
			);
			const done = new Set(
				(await this.models.dispatch.findAll({ where: { eventId: job.eventId, recipientId: recipients.map((recipient) => recipient.id) } })).map(
					(row) => `${row.get("recipientId")}:${row.get("channel")}`,
				),
			);
			const pending = (recipient: Recipient, channel: NotificationChannel) =>
				!done.has(`${recipient.id}:${channel}`) && (wanted[recipient.id]?.channels ?? []).includes(channel) && (!job.channels || job.channels.includes(channel));

			const rendered = new Map<string, RenderedNotification>();
			const render = (recipient: Recipient, withEmail: boolean) =>
				renderNotification(job.type, { ...job.data, fullName: recipient.fullName, email: recipient.email }, wanted[recipient.id]?.locale ?? undefined, withEmail);

			const feedRows: Array<Omit<PublicNotification, "id" | "readAt" | "createdAt"> & { eventId: string }> = [];
			const realtimeOnly: Recipient[] = [];
			for (const recipient of recipients) {
				const message = render(recipient, false);
				rendered.set(recipient.id, message);
				const row = { userId: recipient.id, tenantId: job.tenantId ?? null, type: job.type, title: message.title, body: message.body, data: job.data, eventId: job.eventId };
				if (pending(recipient, "in_app")) feedRows.push(row);
				else if (pending(recipient, "realtime")) realtimeOnly.push(recipient);
			}

			const realtime: NonNullable<RealtimeDelivery["users"]> = [];
			if (feedRows.length > 0) {
				// An entry and its dispatch record commit together, and only the delivery whose record went in writes
				// the entry: neither a crash between the two nor two deliveries of one event at once doubles it.
				const created = await this.adapter.db.transaction(async (transaction) => {
					const claimed = await this.claimDispatches(job.eventId, "in_app", feedRows.map((row) => row.userId), transaction);
					const rows = feedRows.filter((row) => claimed.has(row.userId));
					return rows.length > 0 ? this.model.bulkCreate(rows, { transaction }) : [];
				});
				for (const row of created.map((item) => this.toPublic(item.get({ plain: true })))) {
					result.delivered.in_app += 1;
					if ((wanted[row.userId]?.channels ?? []).includes("realtime") && !done.has(`${row.userId}:realtime`)) realtime.push({ userId: row.userId, message: { kind: "notification", notification: row } });
				}
			}
			for (const recipient of realtimeOnly) {
				const message = rendered.get(recipient.id)!;
				realtime.push({
					userId: recipient.id,
					message: { kind: "notification", notification: { id: null, readAt: null, userId: recipient.id, tenantId: job.tenantId ?? null, type: job.type, title: message.title, body: message.body, data: job.data, createdAt: new Date() } },
				});
			}
			result.delivered.realtime = realtime.length;
			if (realtime.length > 0) {
				this.pushRealtime({ users: realtime });
				// Pushes are fire-and-forget; recorded so that a redelivery doesn't push the same notification again.
				await this.models.dispatch.bulkCreate(
					realtime.map((item) => ({ eventId: job.eventId, recipientId: item.userId, channel: "realtime" })),
					{ ignoreDuplicates: true },
				);
			}

			const emailRecipients = recipients.filter((recipient) => pending(recipient, "email"));
			const emailLimit = new ConcurrencyLimit(EMAIL_CONCURRENCY);
			await Promise.all(
				emailRecipients.map((recipient) =>
					emailLimit.run(async () => {
						const email = render(recipient, true).email;
						if (!email) return;
						try {
							await this.broker.call("mail.send", { to: recipient.email, subject: email.subject, text: email.text, html: email.html, template: email.template }, systemCall());
						} catch (err) {
							result.failed += 1;
							this.logger.warn(`Notification ${job.type} (${job.eventId}) could not be emailed to user ${recipient.id}:`, (err as Error).message);
							return;
						}
						result.delivered.email += 1;
						// Recorded as soon as it is sent, not after the others: only a crash right here sends it twice (mail is at least once).
						await this.models.dispatch.bulkCreate([{ eventId: job.eventId, recipientId: recipient.id, channel: "email" }], { ignoreDuplicates: true });
					}),
				),
			);

			result.webhooks = await this.dispatchWebhooks(job.eventId, job.type, job.tenantId, job.data);
			if (result.failed > 0 && result.failed === emailRecipients.length && result.delivered.in_app === 0 && result.delivered.realtime === 0) {
				this.logger.warn(`Notification ${job.type} (${job.eventId}) reached no channel`);
			}
			return result;
		},

		/** Records (event, recipient, channel) for the recipients that don't have it yet, and answers those. */
		async claimDispatches(eventId: string, channel: NotificationChannel, recipientIds: string[], transaction: Transaction): Promise<Set<string>> {
			// A concurrent insert of the same key waits for the other transaction, then does nothing: one claim wins.
			const rows = await this.adapter.db.query<{ recipient_id: string }>(
				`INSERT INTO "${SCHEMA}".dispatches (event_id, recipient_id, channel, created_at)
				 SELECT :eventId, recipient, :channel, now() FROM unnest(ARRAY[:recipientIds]::uuid[]) AS recipient
				 ON CONFLICT DO NOTHING RETURNING recipient_id`,
				{ replacements: { eventId, channel, recipientIds }, type: QueryTypes.SELECT, transaction },
			);
			return new Set(rows.map((row) => row.recipient_id));
		},

		/** Tenant events go to the tenant's webhook endpoints and to every socket acting in the tenant. */
		async dispatchWebhooks(eventId: string, type: NotificationType, tenantId: string | undefined, data: Record<string, unknown>): Promise<number> {
			if (!tenantId || !NOTIFICATION_TYPES[type].webhook) return 0;
			this.pushRealtime({ tenant: { tenantId, message: { kind: "event", type, eventId, tenantId, data } } });
			const answer = await this.broker.call<{ deliveries: number }, Record<string, unknown>>("webhooks.dispatch", { tenantId, eventType: type, eventId, data }, systemCall());
			return answer.deliveries;
		},

		toPublic(row: NotificationRow): PublicNotification {
			return { id: row.id, userId: row.userId, tenantId: row.tenantId, type: row.type, title: row.title, body: row.body, data: row.data, readAt: row.readAt, createdAt: row.createdAt };
		},

		pushRealtime(delivery: RealtimeDelivery) {
			// Only gateway nodes listen; with none up there is simply no socket to push to.
			this.broker.broadcast(REALTIME_EVENT, delivery, { groups: ["realtime"] });
		},




	},
};

export default NotificationsService;
