import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: "audit_log", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			action: { type: DataTypes.STRING(64), allowNull: false },
			outcome: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "success" },
			actor_id: { type: DataTypes.UUID, allowNull: true },
			actor_email: { type: DataTypes.STRING(320), allowNull: true },
			tenant_id: { type: DataTypes.UUID, allowNull: true },
			target_type: { type: DataTypes.STRING(40), allowNull: true },
			target_id: { type: DataTypes.STRING(64), allowNull: true },
			ip: { type: DataTypes.STRING(64), allowNull: true },
			user_agent: { type: DataTypes.STRING(512), allowNull: true },
			data: { type: DataTypes.JSONB, allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "audit_log", schema }, ["tenant_id", "created_at"]);
	await queryInterface.addIndex({ tableName: "audit_log", schema }, ["actor_id", "created_at"]);
	await queryInterface.addIndex({ tableName: "audit_log", schema }, ["action"]);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "audit_log", schema });
}
