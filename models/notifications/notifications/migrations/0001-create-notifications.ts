import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: "notifications", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			user_id: { type: DataTypes.UUID, allowNull: false },
			tenant_id: { type: DataTypes.UUID, allowNull: true },
			type: { type: DataTypes.STRING(64), allowNull: false },
			title: { type: DataTypes.TEXT, allowNull: false },
			body: { type: DataTypes.TEXT, allowNull: false },
			data: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			event_id: { type: DataTypes.STRING(200), allowNull: true },
			read_at: { type: DataTypes.DATE, allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	// The feed is read newest first per user; the unread badge counts a user's unread rows.
	await queryInterface.addIndex({ tableName: "notifications", schema }, ["user_id", "created_at"]);
	await queryInterface.addIndex({ tableName: "notifications", schema }, ["user_id"], { where: { read_at: null }, name: "notifications_unread" });

	await queryInterface.createTable(
		{ tableName: "dispatches", schema },
		{
			event_id: { type: DataTypes.STRING(200), primaryKey: true },
			recipient_id: { type: DataTypes.UUID, primaryKey: true },
			channel: { type: DataTypes.STRING(16), primaryKey: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "dispatches", schema });
	await queryInterface.dropTable({ tableName: "notifications", schema });
}
