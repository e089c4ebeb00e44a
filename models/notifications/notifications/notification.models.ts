import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** One entry of a user's in-app feed. */
export interface NotificationRow {
	id: string;
	userId: string;
	tenantId: string | null;
	type: string;
	title: string;
	body: string;
	data: Record<string, unknown>;
	eventId: string | null;
	readAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const NotificationModel: ModelDefinition<"notification", NotificationRow, "data"> = {
	name: "notification",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		userId: { type: DataTypes.UUID, allowNull: false },
		/** The organization the event belongs to; null for account-level notifications. */
		tenantId: { type: DataTypes.UUID, allowNull: true },
		type: { type: DataTypes.STRING(64), allowNull: false },
		title: { type: DataTypes.TEXT, allowNull: false },
		body: { type: DataTypes.TEXT, allowNull: false },
		data: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		eventId: { type: DataTypes.STRING(200), allowNull: true },
		readAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "notifications" },
};

/**
 * Which (event, recipient, channel) pairs were already delivered. Producers deliver at least once; a
 * repeated event id is answered without sending the same email or feed entry twice.
 */
export interface DispatchRow {
	eventId: string;
	recipientId: string;
	channel: string;
	createdAt: Date;
}

export const DispatchModel: ModelDefinition<"dispatch", DispatchRow> = {
	name: "dispatch",
	define: {
		eventId: { type: DataTypes.STRING(200), primaryKey: true },
		recipientId: { type: DataTypes.UUID, primaryKey: true },
		channel: { type: DataTypes.STRING(16), primaryKey: true },
	},
	options: { tableName: "dispatches", updatedAt: false },
};
