import type { MigrationContext } from "../../../../lib/database";

/**
 * Usage events, keyed by (tenant, transaction id) so a replayed event is recognised by the primary key
 * (INSERT … ON CONFLICT DO NOTHING). Aggregating a period reads (tenant, metric, occurred_at) ranges, so the
 * index leads with those and carries `value`: count, sum and max of a period are index-only scans.
 */
export async function up({ sequelize, schema }: MigrationContext): Promise<void> {
	const s = `"${schema}"`;
	await sequelize.query(`
		CREATE TABLE ${s}.usage_events (
			tenant_id uuid NOT NULL,
			transaction_id varchar(200) NOT NULL,
			metric varchar(64) NOT NULL,
			value bigint NOT NULL DEFAULT 1 CHECK (value >= 0),
			occurred_at timestamptz NOT NULL,
			properties jsonb NOT NULL DEFAULT '{}',
			received_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (tenant_id, transaction_id)
		);
		CREATE INDEX usage_events_period_idx ON ${s}.usage_events (tenant_id, metric, occurred_at) INCLUDE (value);
	`);
}

export async function down({ sequelize, schema }: MigrationContext): Promise<void> {
	await sequelize.query(`DROP TABLE IF EXISTS "${schema}".usage_events`);
}
