/**
 * Idempotency keys (mixins/idempotency.mixin.ts): one row per (scope, key). `scope` is who called and
 * which action, so keys never collide between callers or tenants. A row is `in_progress` while the first
 * request runs and `completed` with the stored response afterwards; it is ignored once `expires_at` passes.
 */
import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	const table = { tableName: "keys", schema };
	await queryInterface.createTable(table, {
		scope: { type: DataTypes.TEXT, allowNull: false },
		key: { type: DataTypes.STRING(255), allowNull: false },
		request_hash: { type: DataTypes.STRING(64), allowNull: false },
		status: { type: DataTypes.STRING(16), allowNull: false },
		response_status: { type: DataTypes.INTEGER, allowNull: true },
		response_location: { type: DataTypes.TEXT, allowNull: true },
		response_body: { type: DataTypes.JSONB, allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		expires_at: { type: DataTypes.DATE, allowNull: false },
	});
	await queryInterface.addConstraint(table, { type: "primary key", name: "keys_pkey", fields: ["scope", "key"] });
	await queryInterface.addConstraint(table, { type: "check", name: "keys_status_check", fields: ["status"], where: { status: ["in_progress", "completed"] } });
	// The periodic sweep of expired rows.
	await queryInterface.addIndex(table, ["expires_at"], { name: "keys_expires_at" });
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "keys", schema });
}
