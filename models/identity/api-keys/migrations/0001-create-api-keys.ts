import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: "api_keys", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			// Keys belong to the organization, not to the user who made them.
			tenant_id: { type: DataTypes.UUID, allowNull: false },
			name: { type: DataTypes.STRING(100), allowNull: false },
			prefix: { type: DataTypes.STRING(32), allowNull: false },
			key_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
			scopes: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
			created_by: { type: DataTypes.UUID, allowNull: true },
			last_used_at: { type: DataTypes.DATE, allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "api_keys", schema }, ["tenant_id"]);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "api_keys", schema });
}
