/**
 * The outbox: every message the mail service handled, sent or not. With SMTP it is the delivery log
 * (status sent/failed, the server's message id, the error); without SMTP it is where mail is kept (stored).
 */
import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	const table = { tableName: "outbox", schema };
	await queryInterface.createTable(table, {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		to_address: { type: DataTypes.STRING(320), allowNull: false },
		subject: { type: DataTypes.TEXT, allowNull: false },
		text_body: { type: DataTypes.TEXT, allowNull: false },
		html_body: { type: DataTypes.TEXT, allowNull: true },
		template: { type: DataTypes.STRING(100), allowNull: true },
		transport: { type: DataTypes.STRING(16), allowNull: false },
		status: { type: DataTypes.STRING(16), allowNull: false },
		message_id: { type: DataTypes.TEXT, allowNull: true },
		error: { type: DataTypes.TEXT, allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await queryInterface.addConstraint(table, { type: "check", name: "outbox_transport_check", fields: ["transport"], where: { transport: ["smtp", "outbox"] } });
	await queryInterface.addConstraint(table, { type: "check", name: "outbox_status_check", fields: ["status"], where: { status: ["sent", "failed", "stored"] } });
	// The admin listing: newest first, for everyone or for one recipient.
	await queryInterface.addIndex(table, ["created_at"], { name: "outbox_created_at" });
	await queryInterface.addIndex(table, ["to_address", "created_at"], { name: "outbox_to_address_created_at" });
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "outbox", schema });
}
