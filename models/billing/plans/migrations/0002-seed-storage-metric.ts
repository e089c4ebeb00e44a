import type { MigrationContext } from "../../../../lib/database";
import { STORAGE_METRIC } from "../../../../services/billing/contracts";

/**
 * The metric files records (services/files/file-storage.ts meterStorage): a tenant's stored bytes after each
 * upload or deletion, aggregated with `max`, so a plan may charge for storage or cap it like any metric.
 */
export async function up({ sequelize, schema }: MigrationContext): Promise<void> {
	await sequelize.query(
		`INSERT INTO "${schema}".metrics (id, code, name, description, aggregation, field, created_at, updated_at)
		 VALUES (gen_random_uuid(), :code, 'Storage', 'Bytes stored in files: the most the tenant stored during the period', 'max', NULL, now(), now())
		 ON CONFLICT (code) DO NOTHING`,
		{ replacements: { code: STORAGE_METRIC } },
	);
}

export async function down({ sequelize, schema }: MigrationContext): Promise<void> {
	await sequelize.query(`DELETE FROM "${schema}".metrics WHERE code = :code`, { replacements: { code: STORAGE_METRIC } });
}
