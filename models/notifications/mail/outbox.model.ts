import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** Every message sent or kept: the delivery log `GET /mail/outbox` shows a super admin. */
export interface MailOutboxRow {
	id: string;
	toAddress: string;
	subject: string;
	textBody: string;
	htmlBody: string | null;
	template: string | null;
	/** The transport that took it ("smtp", "outbox"), and what came of it ("sent", "stored", "failed"). */
	transport: string;
	status: string;
	messageId: string | null;
	error: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const OutboxModel: ModelDefinition<"mailOutbox", MailOutboxRow> = {
	name: "mailOutbox",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		toAddress: { type: DataTypes.STRING(320), allowNull: false },
		subject: { type: DataTypes.TEXT, allowNull: false },
		textBody: { type: DataTypes.TEXT, allowNull: false },
		htmlBody: { type: DataTypes.TEXT, allowNull: true },
		template: { type: DataTypes.STRING(100), allowNull: true },
		transport: { type: DataTypes.STRING(16), allowNull: false },
		status: { type: DataTypes.STRING(16), allowNull: false },
		messageId: { type: DataTypes.TEXT, allowNull: true },
		error: { type: DataTypes.TEXT, allowNull: true },
	},
	options: { tableName: "outbox" },
};
