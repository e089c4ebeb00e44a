import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: "users", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			// Stored lower-cased: uniqueness and lookups are case-insensitive.
			email: { type: DataTypes.STRING(320), allowNull: false },
			password_hash: { type: DataTypes.STRING(255), allowNull: true },
			full_name: { type: DataTypes.STRING(200), allowNull: false },
			phone: { type: DataTypes.STRING(40), allowNull: true },
			address: { type: DataTypes.JSONB, allowNull: true },
			persona: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "end_user" },
			status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "active" },
			email_verified_at: { type: DataTypes.DATE, allowNull: true },
			last_login_at: { type: DataTypes.DATE, allowNull: true },
			password_changed_at: { type: DataTypes.DATE, allowNull: true },
			deleted_at: { type: DataTypes.DATE, allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "users", schema }, ["email"], { unique: true, name: "users_email_unique" });
	await queryInterface.addIndex({ tableName: "users", schema }, ["status"]);
	await queryInterface.addIndex({ tableName: "users", schema }, ["persona"]);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "users", schema });
}
