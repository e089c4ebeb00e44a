import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

const timestamps = {
	created_at: { type: DataTypes.DATE, allowNull: false },
	updated_at: { type: DataTypes.DATE, allowNull: false },
};

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	// A session is one refresh-token family: every rotation stays in it, and revoking it ends them all.
	await queryInterface.createTable(
		{ tableName: "sessions", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			user_id: { type: DataTypes.UUID, allowNull: false },
			tenant_id: { type: DataTypes.UUID, allowNull: true },
			ip: { type: DataTypes.STRING(64), allowNull: true },
			user_agent: { type: DataTypes.STRING(512), allowNull: true },
			last_used_at: { type: DataTypes.DATE, allowNull: false },
			expires_at: { type: DataTypes.DATE, allowNull: false },
			revoked_at: { type: DataTypes.DATE, allowNull: true },
			revoked_reason: { type: DataTypes.STRING(40), allowNull: true },
			...timestamps,
		},
	);
	await queryInterface.addIndex({ tableName: "sessions", schema }, ["user_id"]);
	await queryInterface.createTable(
		{ tableName: "refresh_tokens", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			session_id: { type: DataTypes.UUID, allowNull: false, references: { model: { tableName: "sessions", schema }, key: "id" }, onDelete: "CASCADE" },
			token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
			used_at: { type: DataTypes.DATE, allowNull: true },
			expires_at: { type: DataTypes.DATE, allowNull: false },
			...timestamps,
		},
	);
	await queryInterface.addIndex({ tableName: "refresh_tokens", schema }, ["session_id"]);
	await queryInterface.createTable(
		{ tableName: "one_time_tokens", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			user_id: { type: DataTypes.UUID, allowNull: false },
			purpose: { type: DataTypes.STRING(32), allowNull: false },
			token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
			expires_at: { type: DataTypes.DATE, allowNull: false },
			used_at: { type: DataTypes.DATE, allowNull: true },
			...timestamps,
		},
	);
	await queryInterface.createTable(
		{ tableName: "login_failures", schema },
		{
			id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
			// "email:<address>" or "ip:<address>": both are throttled on their own.
			throttle_key: { type: DataTypes.STRING(400), allowNull: false },
			failed_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await queryInterface.addIndex({ tableName: "login_failures", schema }, ["throttle_key", "failed_at"]);
	await queryInterface.createTable(
		{ tableName: "signing_keys", schema },
		{
			kid: { type: DataTypes.STRING(64), primaryKey: true },
			algorithm: { type: DataTypes.STRING(16), allowNull: false },
			private_jwk: { type: DataTypes.JSONB, allowNull: false },
			public_jwk: { type: DataTypes.JSONB, allowNull: false },
			status: { type: DataTypes.STRING(16), allowNull: false },
			...timestamps,
		},
	);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	for (const table of ["signing_keys", "login_failures", "one_time_tokens", "refresh_tokens", "sessions"]) {
		await queryInterface.dropTable({ tableName: table, schema });
	}
}
