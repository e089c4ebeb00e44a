import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * A job is one of two kinds: `capture` (a page on devices, as before) or `store_set` (a store set's screens
 * composed for every locale and store size, then zipped in fastlane's layout). A store set's images are told
 * apart by device, locale and screen; its ZIP is a file of its own.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const jobs = { tableName: "screenshot_jobs", schema };
	await queryInterface.addColumn(jobs, "kind", { type: DataTypes.STRING(16), allowNull: false, defaultValue: "capture" });
	await queryInterface.addColumn(jobs, "store_set_id", { type: DataTypes.UUID, allowNull: true });
	await queryInterface.addColumn(jobs, "archive_file_id", { type: DataTypes.UUID, allowNull: true });
	await queryInterface.addColumn(jobs, "archive_bytes", { type: DataTypes.BIGINT, allowNull: true });
	await sequelize.query(`ALTER TABLE "${schema}".screenshot_jobs ADD CONSTRAINT screenshot_jobs_kind_known CHECK (kind IN ('capture', 'store_set'))`);
	await sequelize.query(`ALTER TABLE "${schema}".screenshot_jobs ADD CONSTRAINT screenshot_jobs_store_set_named CHECK ((kind = 'store_set') = (store_set_id IS NOT NULL))`);
	await queryInterface.addIndex(jobs, ["store_set_id", "created_at"], { name: "screenshot_jobs_store_set_idx", where: { kind: "store_set" } });

	const results = { tableName: "screenshot_results", schema };
	// A store set's image is keyed by device, locale and screen (target_id holds all three); these say which.
	await queryInterface.addColumn(results, "device", { type: DataTypes.STRING(64), allowNull: true });
	await queryInterface.addColumn(results, "locale", { type: DataTypes.STRING(16), allowNull: true });
	await queryInterface.addColumn(results, "screen", { type: DataTypes.INTEGER, allowNull: true });
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	const results = { tableName: "screenshot_results", schema };
	await queryInterface.removeColumn(results, "screen");
	await queryInterface.removeColumn(results, "locale");
	await queryInterface.removeColumn(results, "device");
	const jobs = { tableName: "screenshot_jobs", schema };
	await queryInterface.removeIndex(jobs, "screenshot_jobs_store_set_idx");
	await queryInterface.removeColumn(jobs, "archive_bytes");
	await queryInterface.removeColumn(jobs, "archive_file_id");
	await queryInterface.removeColumn(jobs, "store_set_id");
	await queryInterface.removeColumn(jobs, "kind");
}
