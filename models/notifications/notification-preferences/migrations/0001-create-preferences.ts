import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: "preferences", schema },
		{
			user_id: { type: DataTypes.UUID, primaryKey: true },
			type: { type: DataTypes.STRING(64), primaryKey: true },
			channel: { type: DataTypes.STRING(16), primaryKey: true },
			enabled: { type: DataTypes.BOOLEAN, allowNull: false },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.createTable(
		{ tableName: "recipient_settings", schema },
		{
			user_id: { type: DataTypes.UUID, primaryKey: true },
			locale: { type: DataTypes.STRING(35), allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "recipient_settings", schema });
	await queryInterface.dropTable({ tableName: "preferences", schema });
}
