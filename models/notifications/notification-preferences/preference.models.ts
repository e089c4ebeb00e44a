import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** A user's choice for one notification type on one channel; no row means the type's default. */
export interface PreferenceRow {
	userId: string;
	/** A NotificationType and NotificationChannel (services/notifications/catalog.ts). */
	type: string;
	channel: string;
	enabled: boolean;
	createdAt: Date;
	updatedAt: Date;
}

export const PreferenceModel: ModelDefinition<"preference", PreferenceRow> = {
	name: "preference",
	define: {
		userId: { type: DataTypes.UUID, primaryKey: true },
		type: { type: DataTypes.STRING(64), primaryKey: true },
		channel: { type: DataTypes.STRING(16), primaryKey: true },
		enabled: { type: DataTypes.BOOLEAN, allowNull: false },
	},
	options: { tableName: "preferences" },
};

/** Per-user settings that apply to every notification: the language messages are written in. */
export interface RecipientSettingsRow {
	userId: string;
	locale: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const RecipientSettingsModel: ModelDefinition<"recipientSettings", RecipientSettingsRow> = {
	name: "recipientSettings",
	define: {
		userId: { type: DataTypes.UUID, primaryKey: true },
		locale: { type: DataTypes.STRING(35), allowNull: true },
	},
	options: { tableName: "recipient_settings" },
};
