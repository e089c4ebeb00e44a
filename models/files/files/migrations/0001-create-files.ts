import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: "files", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			tenant_id: { type: DataTypes.UUID, allowNull: false },
			uploaded_by: { type: DataTypes.UUID, allowNull: true },
			uploader_kind: { type: DataTypes.STRING(16), allowNull: false },
			name: { type: DataTypes.STRING(255), allowNull: false },
			size: { type: DataTypes.BIGINT, allowNull: false },
			content_type: { type: DataTypes.STRING(255), allowNull: false },
			checksum: { type: DataTypes.STRING(64), allowNull: true },
			object_key: { type: DataTypes.STRING(255), allowNull: false, unique: true },
			status: { type: DataTypes.STRING(16), allowNull: false },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	// Lists (a tenant's ready files, newest first) and the usage sum both start from the tenant.
	await queryInterface.addIndex({ tableName: "files", schema }, ["tenant_id", "status", "created_at"]);
	await queryInterface.sequelize.query(`ALTER TABLE "${schema}".files ADD CONSTRAINT files_status_check CHECK (status IN ('pending', 'ready'))`);
	await queryInterface.sequelize.query(`ALTER TABLE "${schema}".files ADD CONSTRAINT files_size_check CHECK (size >= 0)`);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "files", schema });
}
