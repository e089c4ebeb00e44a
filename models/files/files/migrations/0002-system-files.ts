import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Files the platform keeps for a tenant (invoice PDFs: `invoice:<invoiceId>`) carry the key their producer
 * names them by: one file per (tenant, key), so a producer that runs again finds the file it stored instead
 * of storing a second one. Such files don't count against the tenant's storage quota and can't be deleted
 * through the API.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	await queryInterface.addColumn({ tableName: "files", schema }, "system_key", { type: DataTypes.STRING(200), allowNull: true });
	await sequelize.query(`CREATE UNIQUE INDEX files_tenant_system_key ON "${schema}".files (tenant_id, system_key) WHERE system_key IS NOT NULL`);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.removeColumn({ tableName: "files", schema }, "system_key");
}
