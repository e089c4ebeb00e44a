import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Login throttling by counters with increasing waits instead of one row per failure, and the addresses each
 * account signed in from. Every key is an HMAC (services/identity/login-throttle.ts): neither emails nor
 * addresses are stored readable. The old failure rows are transient and are dropped.
 */
export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "login_failures", schema });
	await queryInterface.createTable(
		{ tableName: "login_throttles", schema },
		{
			// HMAC of the scope and its parts: (account, address), account, or address.
			key_hash: { type: DataTypes.STRING(64), primaryKey: true },
			scope: { type: DataTypes.STRING(16), allowNull: false },
			// For lifting every throttle of an account or of an address at once (DELETE /auth/throttles).
			account_hash: { type: DataTypes.STRING(64), allowNull: true },
			address_hash: { type: DataTypes.STRING(64), allowNull: true },
			failures: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			last_failure_at: { type: DataTypes.DATE, allowNull: true },
			blocked_until: { type: DataTypes.DATE, allowNull: true },
		},
	);
	await queryInterface.addIndex({ tableName: "login_throttles", schema }, ["account_hash"]);
	await queryInterface.addIndex({ tableName: "login_throttles", schema }, ["address_hash"]);
	await queryInterface.addIndex({ tableName: "login_throttles", schema }, ["last_failure_at"]);
	await queryInterface.createTable(
		{ tableName: "known_addresses", schema },
		{
			// HMAC of (account email, address): an address this account signed in from with its password.
			key_hash: { type: DataTypes.STRING(64), primaryKey: true },
			user_id: { type: DataTypes.UUID, allowNull: false },
			last_seen_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "known_addresses", schema }, ["user_id"]);
	await queryInterface.addIndex({ tableName: "known_addresses", schema }, ["last_seen_at"]);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "known_addresses", schema });
	await queryInterface.dropTable({ tableName: "login_throttles", schema });
	await queryInterface.createTable(
		{ tableName: "login_failures", schema },
		{
			id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
			throttle_key: { type: DataTypes.STRING(400), allowNull: false },
			failed_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "login_failures", schema }, ["throttle_key", "failed_at"]);
}
