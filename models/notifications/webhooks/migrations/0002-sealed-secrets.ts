import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Secrets are stored sealed with SECRETS_KEY (lib/secret-box.ts): the sealed form of a `whsec_` secret is
 * longer than the 100 characters the columns allowed.
 */
export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	const endpoints = { tableName: "endpoints", schema };
	await queryInterface.changeColumn(endpoints, "secret", { type: DataTypes.TEXT, allowNull: false });
	await queryInterface.changeColumn(endpoints, "previous_secret", { type: DataTypes.TEXT, allowNull: true });
}

/** Only for readable secrets: a sealed one no longer fits, and the rollback fails rather than cut it. */
export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	const endpoints = { tableName: "endpoints", schema };
	await queryInterface.changeColumn(endpoints, "secret", { type: DataTypes.STRING(100), allowNull: false });
	await queryInterface.changeColumn(endpoints, "previous_secret", { type: DataTypes.STRING(100), allowNull: true });
}
