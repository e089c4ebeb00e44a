import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** A user's choice for one notification type on one channel; no row means the type's default. */
export const PreferenceModel: ModelDefinition = {
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
export const RecipientSettingsModel: ModelDefinition = {
	name: "recipientSettings",
	define: {
		userId: { type: DataTypes.UUID, primaryKey: true },
		locale: { type: DataTypes.STRING(35), allowNull: true },
	},
	options: { tableName: "recipient_settings" },
};
