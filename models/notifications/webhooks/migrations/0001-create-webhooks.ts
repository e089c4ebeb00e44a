import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Webhook endpoints, the messages sent to them, one delivery (a durable job) per message and endpoint, and
 * the log of every attempt. Tenants live in another service's schema: referred to by id only.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const timestamps = {
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	};
	await queryInterface.createTable(
		{ tableName: "endpoints", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			tenant_id: { type: DataTypes.UUID, allowNull: false },
			url: { type: DataTypes.STRING(2048), allowNull: false },
			description: { type: DataTypes.STRING(500), allowNull: true },
			events: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
			secret: { type: DataTypes.STRING(100), allowNull: false },
			previous_secret: { type: DataTypes.STRING(100), allowNull: true },
			previous_secret_expires_at: { type: DataTypes.DATE, allowNull: true },
			status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "enabled" },
			enabled_at: { type: DataTypes.DATE, allowNull: false },
			disabled_at: { type: DataTypes.DATE, allowNull: true },
			disabled_reason: { type: DataTypes.STRING(500), allowNull: true },
			last_success_at: { type: DataTypes.DATE, allowNull: true },
			created_by: { type: DataTypes.UUID, allowNull: true },
			...timestamps,
		},
	);
	await sequelize.query(`ALTER TABLE "${schema}".endpoints ADD CONSTRAINT endpoints_status_known CHECK (status IN ('enabled', 'disabled'))`);
	await queryInterface.addIndex({ tableName: "endpoints", schema }, ["tenant_id", "created_at"], { name: "endpoints_tenant_idx" });

	await queryInterface.createTable(
		{ tableName: "messages", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			tenant_id: { type: DataTypes.UUID, allowNull: false },
			event_id: { type: DataTypes.STRING(255), allowNull: false },
			event_type: { type: DataTypes.STRING(100), allowNull: false },
			body: { type: DataTypes.TEXT, allowNull: false },
			...timestamps,
		},
	);
	// The same event dispatched twice (a producer's retry, a redelivered channel message) is one message.
	await queryInterface.addIndex({ tableName: "messages", schema }, ["tenant_id", "event_id"], { name: "messages_tenant_event_key", unique: true });

	await queryInterface.createTable(
		{ tableName: "deliveries", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			tenant_id: { type: DataTypes.UUID, allowNull: false },
			endpoint_id: { type: DataTypes.UUID, allowNull: false, references: { model: { tableName: "endpoints", schema }, key: "id" }, onDelete: "CASCADE" },
			message_id: { type: DataTypes.UUID, allowNull: false, references: { model: { tableName: "messages", schema }, key: "id" }, onDelete: "CASCADE" },
			status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "pending" },
			attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			max_attempts: { type: DataTypes.INTEGER, allowNull: false },
			next_attempt_at: { type: DataTypes.DATE, allowNull: true },
			lease_expires_at: { type: DataTypes.DATE, allowNull: true },
			last_attempt_at: { type: DataTypes.DATE, allowNull: true },
			last_status_code: { type: DataTypes.INTEGER, allowNull: true },
			last_error: { type: DataTypes.TEXT, allowNull: true },
			succeeded_at: { type: DataTypes.DATE, allowNull: true },
			...timestamps,
		},
	);
	await sequelize.query(
		`ALTER TABLE "${schema}".deliveries ADD CONSTRAINT deliveries_status_known CHECK (status IN ('pending', 'sending', 'succeeded', 'failed', 'exhausted'))`,
	);
	await queryInterface.addIndex({ tableName: "deliveries", schema }, ["message_id", "endpoint_id"], { name: "deliveries_message_endpoint_key", unique: true });
	await queryInterface.addIndex({ tableName: "deliveries", schema }, ["endpoint_id", "created_at"], { name: "deliveries_endpoint_idx" });
	// What the delivery loop polls every second on every node: only the rows that can become due.
	await sequelize.query(`CREATE INDEX deliveries_due_idx ON "${schema}".deliveries (next_attempt_at) WHERE status IN ('pending', 'failed')`);
	await sequelize.query(`CREATE INDEX deliveries_leased_idx ON "${schema}".deliveries (lease_expires_at) WHERE status = 'sending'`);

	await queryInterface.createTable(
		{ tableName: "attempts", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			delivery_id: { type: DataTypes.UUID, allowNull: false, references: { model: { tableName: "deliveries", schema }, key: "id" }, onDelete: "CASCADE" },
			tenant_id: { type: DataTypes.UUID, allowNull: false },
			attempt: { type: DataTypes.INTEGER, allowNull: false },
			started_at: { type: DataTypes.DATE, allowNull: false },
			duration_ms: { type: DataTypes.INTEGER, allowNull: false },
			status_code: { type: DataTypes.INTEGER, allowNull: true },
			succeeded: { type: DataTypes.BOOLEAN, allowNull: false },
			error: { type: DataTypes.TEXT, allowNull: true },
			response_body: { type: DataTypes.TEXT, allowNull: true },
			...timestamps,
		},
	);
	await queryInterface.addIndex({ tableName: "attempts", schema }, ["delivery_id", "attempt"], { name: "attempts_delivery_idx" });
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "attempts", schema });
	await queryInterface.dropTable({ tableName: "deliveries", schema });
	await queryInterface.dropTable({ tableName: "messages", schema });
	await queryInterface.dropTable({ tableName: "endpoints", schema });
}
