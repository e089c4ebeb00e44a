import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * The reviews service's own schema (`reviews`, created by DbMixin before this runs): no foreign key to
 * another service's tables, the tenant is a plain indexed column. Later changes are new files (0002-…), never
 * edits of this one: nodes that already ran it won't run it again.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const table = { tableName: "reviews", schema };
	await queryInterface.createTable(table, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(200), allowNull: false },
		description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
		status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "active" },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await sequelize.query(`ALTER TABLE "${schema}".reviews ADD CONSTRAINT reviews_status_known CHECK (status IN ('active', 'archived'))`);
	// Every list starts from the tenant (newest first by default); a name is unique within its tenant.
	await queryInterface.addIndex(table, ["tenant_id", "created_at"], { name: "reviews_tenant_created_idx" });
	await queryInterface.addIndex(table, ["tenant_id", "name"], { name: "reviews_tenant_name_key", unique: true });
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "reviews", schema });
}
