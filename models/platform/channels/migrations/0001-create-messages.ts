import type { MigrationContext } from "../../../../lib/database";

/**
 * Durable channel messages for the PostgreSQL channels adapter (lib/channels/postgres.adapter.ts).
 *
 * `messages` holds one row per (message, consumer group); `group_name` is NULL for a message published
 * to a channel no group has subscribed to yet (copied to each group when it first subscribes).
 * `subscriptions` remembers every (channel, group) that ever subscribed, so a group keeps receiving
 * messages while all of its nodes are down.
 */
export async function up({ sequelize, schema }: MigrationContext): Promise<void> {
	await sequelize.query(`
		CREATE TABLE "${schema}".messages (
			id bigserial PRIMARY KEY,
			channel text NOT NULL,
			group_name text,
			payload bytea NOT NULL,
			headers jsonb,
			attempts integer NOT NULL DEFAULT 0,
			available_at timestamptz NOT NULL DEFAULT now(),
			locked_until timestamptz,
			created_at timestamptz NOT NULL DEFAULT now()
		)`);
	await sequelize.query(`CREATE INDEX messages_delivery_idx ON "${schema}".messages (channel, group_name, available_at, id)`);
	await sequelize.query(`
		CREATE TABLE "${schema}".subscriptions (
			channel text NOT NULL,
			group_name text NOT NULL,
			created_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (channel, group_name)
		)`);
}

export async function down({ sequelize, schema }: MigrationContext): Promise<void> {
	await sequelize.query(`DROP TABLE IF EXISTS "${schema}".subscriptions`);
	await sequelize.query(`DROP TABLE IF EXISTS "${schema}".messages`);
}
