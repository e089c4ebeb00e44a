import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

const timestamps = {
	created_at: { type: DataTypes.DATE, allowNull: false },
	updated_at: { type: DataTypes.DATE, allowNull: false },
};

export async function up({ queryInterface, schema }: MigrationContext): Promise<void> {
	// Keyed by the hash of `state`: a leaked table reveals no state that could be replayed at the callback.
	await queryInterface.createTable(
		{ tableName: "login_attempts", schema },
		{
			state_hash: { type: DataTypes.STRING(64), primaryKey: true },
			provider: { type: DataTypes.STRING(64), allowNull: false },
			code_verifier: { type: DataTypes.STRING(128), allowNull: false },
			nonce: { type: DataTypes.STRING(128), allowNull: false },
			redirect_uri: { type: DataTypes.STRING(2048), allowNull: false },
			ip: { type: DataTypes.STRING(64), allowNull: true },
			user_agent: { type: DataTypes.STRING(512), allowNull: true },
			expires_at: { type: DataTypes.DATE, allowNull: false },
			used_at: { type: DataTypes.DATE, allowNull: true },
			...timestamps,
		},
	);
	// Old attempts are swept by expiry.
	await queryInterface.addIndex({ tableName: "login_attempts", schema }, ["expires_at"]);
	await queryInterface.createTable(
		{ tableName: "identity_links", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			provider: { type: DataTypes.STRING(64), allowNull: false },
			// Kept beside the provider name: renaming a provider in the configuration must not hand its
			// subjects to whatever issuer the name points at next.
			issuer: { type: DataTypes.STRING(2048), allowNull: false },
			subject: { type: DataTypes.STRING(255), allowNull: false },
			user_id: { type: DataTypes.UUID, allowNull: false },
			email: { type: DataTypes.STRING(320), allowNull: true },
			last_login_at: { type: DataTypes.DATE, allowNull: true },
			...timestamps,
		},
	);
	await queryInterface.addIndex({ tableName: "identity_links", schema }, ["provider", "subject"], { unique: true });
	await queryInterface.addIndex({ tableName: "identity_links", schema }, ["user_id"]);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	for (const table of ["identity_links", "login_attempts"]) {
		await queryInterface.dropTable({ tableName: table, schema });
	}
}
