/**
 * Which channels a user wants each notification type on, and the language of their messages. A type the
 * user never touched uses its default channels from the catalog. Security and billing types are critical:
 * they can't be turned off (as Stripe and GitHub keep receipts and security alerts on), so a request that
 * tries is refused whole.
 */
import path from "node:path";
import type { Context } from "moleculer";
import { DbMixin, plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { PreferenceModel, RecipientSettingsModel } from "../../models/notifications/notification-preferences/preference.models";
import {
	NOTIFICATION_CHANNELS,
	NOTIFICATION_TYPES,
	NOTIFICATION_TYPE_NAMES,
	isCritical,
	type NotificationChannel,
	type NotificationType,
} from "./catalog";
import { requireUser, type CallerMeta } from "../../lib/caller";
import { UnprocessableEntityError } from "../../lib/errors";
import { PreferencesSchema } from "./api-schemas";

export interface TypePreference {
	type: NotificationType;
	category: string;
	description: string;
	critical: boolean;
	channels: Record<NotificationChannel, boolean>;
}

export interface PreferencesView {
	locale: string | null;
	preferences: TypePreference[];
}

/** Per recipient: the channels a type goes out on, and the language to write it in. */
export type RecipientChannels = Record<string, { channels: NotificationChannel[]; locale: string | null }>;

interface PreferenceChange {
	type: NotificationType;
	channel: NotificationChannel;
	enabled: boolean;
}

interface PreferencesMethods {
	view(userId: string): Promise<PreferencesView>;
}

/** Preferences belong to a person; an API key acts for an organization and has none. */
const NO_PREFERENCES = "Notification preferences belong to a user; API keys have none";

const LOCALE_PATTERN = /^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$/;

/** The channels a type would use for a user with the given choices. */
function effectiveChannels(type: NotificationType, choices: Map<string, boolean>): NotificationChannel[] {
	const defaults = NOTIFICATION_TYPES[type].defaultChannels as readonly NotificationChannel[];
	const critical = isCritical(type);
	return NOTIFICATION_CHANNELS.filter((channel) => {
		const choice = choices.get(`${type}:${channel}`);
		// A critical type keeps its default channels whatever is stored; more may be added.
		if (critical && defaults.includes(channel)) return true;
		return choice ?? defaults.includes(channel);
	});
}

const NotificationPreferencesService: DbServiceSchema<DbMixinSettings, PreferencesMethods, unknown, typeof PreferenceModel, typeof RecipientSettingsModel> = {
	name: "notification-preferences",
	mixins: [
		DbMixin({
			schema: "notification_preferences",
			migrations: path.join(__dirname, "../../models/notifications/notification-preferences/migrations"),
			entityName: "Notification preference",
			model: PreferenceModel,
			extraModels: [RecipientSettingsModel],
		}),
	],

	actions: {
		show: {
			rest: "GET /",
			responses: { 200: { description: "The caller's locale and, for each notification type, its channels", body: PreferencesSchema } },
			summary: "Your notification preferences: every type, its channels, and whether it is critical",
			params: {},
			async handler(ctx: Context<Record<string, never>, CallerMeta>): Promise<PreferencesView> {
				return this.view(requireUser(ctx.meta, NO_PREFERENCES));
			},
		},

		change: {
			rest: "PUT /",
			responses: { 200: { description: "The preferences as changed", body: PreferencesSchema } },
			errors: { 422: ["CRITICAL_NOTIFICATION"] },
			summary: "Turn channels of notification types on or off, and set the language of your messages",
			description: "Critical types (security, billing) can't be turned off: such a request is refused with 422 and changes nothing.",
			params: {
				locale: { type: "string", pattern: LOCALE_PATTERN, max: 35, optional: true, nullable: true },
				preferences: {
					type: "array",
					optional: true,
					max: 200,
					items: {
						type: "object",
						strict: true,
						props: {
							type: { type: "enum", values: NOTIFICATION_TYPE_NAMES },
							channel: { type: "enum", values: NOTIFICATION_CHANNELS },
							enabled: "boolean",
						},
					},
				},
			},
			async handler(ctx: Context<{ locale?: string | null; preferences?: PreferenceChange[] }, CallerMeta>): Promise<PreferencesView> {
				const userId = requireUser(ctx.meta, NO_PREFERENCES);
				const changes = ctx.params.preferences ?? [];
				const refused = changes.filter((change) => !change.enabled && isCritical(change.type));
				if (refused.length > 0) {
					throw new UnprocessableEntityError(
						`Critical notifications can't be turned off: ${[...new Set(refused.map((change) => change.type))].join(", ")}`,
						"CRITICAL_NOTIFICATION",
						{ types: [...new Set(refused.map((change) => change.type))] },
					);
				}
				await this.adapter.db.transaction(async (transaction) => {
					for (const change of changes) {
						await this.models.preference.upsert({ userId, type: change.type, channel: change.channel, enabled: change.enabled }, { transaction });
					}
					if (ctx.params.locale !== undefined) {
						await this.models.recipientSettings.upsert({ userId, locale: ctx.params.locale?.replace(/_/g, "-") ?? null }, { transaction });
					}
				});
				return this.view(userId);
			},
		},

		/** Internal: the channels and language for each recipient of one notification type. */
		channelsFor: {
			visibility: "public",
			params: {
				userIds: { type: "array", items: "uuid", max: 1000 },
				type: { type: "enum", values: NOTIFICATION_TYPE_NAMES },
			},
			async handler(ctx: Context<{ userIds: string[]; type: NotificationType }>): Promise<RecipientChannels> {
				const { userIds, type } = ctx.params;
				if (userIds.length === 0) return {};
				const [choices, settings] = await Promise.all([
					this.models.preference.findAll({ where: { userId: userIds, type } }),
					this.models.recipientSettings.findAll({ where: { userId: userIds } }),
				]);
				const choicesByUser = new Map<string, Map<string, boolean>>();
				for (const row of choices.map((item) => item.get({ plain: true }))) {
					const own = choicesByUser.get(row.userId) ?? new Map<string, boolean>();
					own.set(`${row.type}:${row.channel}`, row.enabled);
					choicesByUser.set(row.userId, own);
				}
				const locales = new Map(settings.map((item) => [item.get({ plain: true }).userId, item.get({ plain: true }).locale]));
				return Object.fromEntries(
					userIds.map((userId) => [userId, { channels: effectiveChannels(type, choicesByUser.get(userId) ?? new Map()), locale: locales.get(userId) ?? null }]),
				);
			},
		},
	},

	methods: {
		async view(userId: string): Promise<PreferencesView> {
			const [choices, settings] = await Promise.all([this.models.preference.findAll({ where: { userId } }), this.models.recipientSettings.findByPk(userId)]);
			const map = new Map(choices.map((item) => item.get({ plain: true })).map((row) => [`${row.type}:${row.channel}`, row.enabled]));
			return {
				locale: plainRow(settings)?.locale ?? null,
				preferences: NOTIFICATION_TYPE_NAMES.map((type) => {
					const enabled = new Set(effectiveChannels(type, map));
					return {
						type,
						category: NOTIFICATION_TYPES[type].category,
						description: NOTIFICATION_TYPES[type].description,
						critical: isCritical(type),
						channels: Object.fromEntries(NOTIFICATION_CHANNELS.map((channel) => [channel, enabled.has(channel)])) as Record<NotificationChannel, boolean>,
					};
				}),
			};
		},
	},
};

export default NotificationPreferencesService;
