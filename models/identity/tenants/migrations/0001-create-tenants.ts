import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: "tenants", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			name: { type: DataTypes.STRING(200), allowNull: false },
			plan: { type: DataTypes.STRING(40), allowNull: false, defaultValue: "free" },
			features: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			limits: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			created_by: { type: DataTypes.UUID, allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.createTable(
		{ tableName: "memberships", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			// user_id names a user of the users service: no foreign key across services.
			tenant_id: { type: DataTypes.UUID, allowNull: false, references: { model: { tableName: "tenants", schema }, key: "id" }, onDelete: "CASCADE" },
			user_id: { type: DataTypes.UUID, allowNull: false },
			role: { type: DataTypes.STRING(20), allowNull: false },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "memberships", schema }, ["tenant_id", "user_id"], { unique: true, name: "memberships_tenant_user_unique" });
	await queryInterface.addIndex({ tableName: "memberships", schema }, ["user_id"]);
	await queryInterface.createTable(
		{ tableName: "invitations", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			tenant_id: { type: DataTypes.UUID, allowNull: false, references: { model: { tableName: "tenants", schema }, key: "id" }, onDelete: "CASCADE" },
			email: { type: DataTypes.STRING(320), allowNull: false },
			role: { type: DataTypes.STRING(20), allowNull: false },
			token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
			invited_by: { type: DataTypes.UUID, allowNull: true },
			expires_at: { type: DataTypes.DATE, allowNull: false },
			accepted_at: { type: DataTypes.DATE, allowNull: true },
			accepted_by: { type: DataTypes.UUID, allowNull: true },
			revoked_at: { type: DataTypes.DATE, allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "invitations", schema }, ["tenant_id"]);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "invitations", schema });
	await queryInterface.dropTable({ tableName: "memberships", schema });
	await queryInterface.dropTable({ tableName: "tenants", schema });
}
