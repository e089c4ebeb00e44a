/**
 * The usage service's SQL: one multi-row insert per batch, and one aggregate query per aggregation kind.
 *
 * The batch travels as one JSON parameter that PostgreSQL unpacks (json_to_recordset): one statement and
 * two bind values whatever the batch size, no per-event work in JavaScript beyond serialising what was
 * received, and a plan PostgreSQL reuses. Rows go in in transaction-id order, so two batches that share
 * ids (a replay racing its original) lock them in the same order and can't deadlock.
 */
import { QueryTypes, type Sequelize } from "sequelize";
import type { MetricDefinition } from "./usage-caches";
import type { UsageQuantities } from "./contracts";

export const USAGE_SCHEMA = "usage";
const TABLE = `"${USAGE_SCHEMA}".usage_events`;

/**
 * `$1` tenant, `$2` the events as JSON (the API's own field names), `$3` the tenant's billing "now" for events
 * without a timestamp. Events of metrics with a value field had `value` filled in from their properties.
 */
const INSERT_SQL = `INSERT INTO ${TABLE} (tenant_id, transaction_id, metric, value, occurred_at, properties)
SELECT $1::uuid, e."transactionId", e.metric, COALESCE(e.value, 1), COALESCE(e."timestamp", $3::timestamptz), COALESCE(e.properties, '{}'::jsonb)
FROM json_to_recordset($2::json) AS e("transactionId" text, metric text, value bigint, "timestamp" timestamptz, properties jsonb)
ORDER BY e."transactionId" COLLATE "C"
ON CONFLICT (tenant_id, transaction_id) DO NOTHING`;

/** Stores a batch; answers how many rows were new (replays, and repeats within the batch, are not). */
export async function insertEvents(db: Sequelize, tenantId: string, eventsJson: string, nowIso: string): Promise<number> {
	const [, inserted] = (await db.query(INSERT_SQL, { bind: [tenantId, eventsJson, nowIso], type: QueryTypes.INSERT })) as unknown as [unknown, number];
	return inserted;
}

/** Quantities are integers the API answers exactly: a sum past 2^53 (absurd for one period) is held there. */
function quantity(value: string | number | null | undefined): number {
	const number = Number(value ?? 0);
	return Number.isFinite(number) ? Math.min(Math.max(0, Math.trunc(number)), Number.MAX_SAFE_INTEGER) : 0;
}

interface QuantityRow {
	metric: string;
	quantity: string | null;
}

/** `$1` tenant, `$2` metric codes, `$3` from (inclusive), `$4` to (exclusive): index-only scans of usage_events_period_idx. */
const COUNT_SQL = `SELECT metric, count(*) AS quantity FROM ${TABLE}
WHERE tenant_id = $1::uuid AND metric = ANY($2::text[]) AND occurred_at >= $3::timestamptz AND occurred_at < $4::timestamptz GROUP BY metric`;

const SUM_SQL = `SELECT metric, sum(value) AS quantity FROM ${TABLE}
WHERE tenant_id = $1::uuid AND metric = ANY($2::text[]) AND occurred_at >= $3::timestamptz AND occurred_at < $4::timestamptz GROUP BY metric`;

/**
 * A max metric measures a level (stored bytes, seats): the period's quantity is the highest level reached in
 * it, counting the level it began at, which is the last value recorded before it. Without that, a tenant who
 * stored 10 GB and changed nothing for a month would have used nothing that month.
 */
const MAX_SQL = `SELECT m.metric, GREATEST(
	(SELECT max(e.value) FROM ${TABLE} e WHERE e.tenant_id = $1::uuid AND e.metric = m.metric AND e.occurred_at >= $3::timestamptz AND e.occurred_at < $4::timestamptz),
	(SELECT e.value FROM ${TABLE} e WHERE e.tenant_id = $1::uuid AND e.metric = m.metric AND e.occurred_at < $3::timestamptz ORDER BY e.occurred_at DESC LIMIT 1)
) AS quantity
FROM unnest($2::text[]) AS m(metric)`;

/**
 * Distinct values of each metric's property (`$5`, aligned with `$2`). DISTINCT in a subquery, so PostgreSQL
 * may hash instead of sorting; with the work memory below a period of a million events hashes in memory.
 */
const UNIQUE_COUNT_SQL = `SELECT d.metric, count(*) AS quantity FROM (
	SELECT DISTINCT f.metric, e.properties ->> f.field AS distinct_value
	FROM unnest($2::text[], $5::text[]) AS f(metric, field)
	JOIN ${TABLE} e ON e.tenant_id = $1::uuid AND e.metric = f.metric AND e.occurred_at >= $3::timestamptz AND e.occurred_at < $4::timestamptz
	WHERE e.properties ->> f.field IS NOT NULL
) d GROUP BY d.metric`;
const UNIQUE_COUNT_WORK_MEM = "64MB";

/** The last value recorded at or before `at`: a max metric's current level (for limit checks). */
const LEVEL_SQL = `SELECT value AS quantity FROM ${TABLE} WHERE tenant_id = $1::uuid AND metric = $2 AND occurred_at <= $3::timestamptz ORDER BY occurred_at DESC LIMIT 1`;

async function quantities(db: Sequelize, sql: string, bind: unknown[]): Promise<QuantityRow[]> {
	return db.query<QuantityRow>(sql, { bind, type: QueryTypes.SELECT });
}

/**
 * Each metric's quantity over [from, to): one query per aggregation kind present, run side by side on the
 * pool's connections. Metrics without events answer 0.
 */
export async function aggregateUsage(db: Sequelize, tenantId: string, from: Date, to: Date, metrics: readonly MetricDefinition[]): Promise<UsageQuantities> {
	const result: UsageQuantities = {};
	const byKind = new Map<MetricDefinition["aggregation"], MetricDefinition[]>();
	for (const metric of metrics) {
		result[metric.code] = 0;
		byKind.set(metric.aggregation, [...(byKind.get(metric.aggregation) ?? []), metric]);
	}
	const range = [from.toISOString(), to.toISOString()];
	const runs: Array<Promise<QuantityRow[]>> = [];
	for (const [kind, list] of byKind) {
		const codes = list.map((metric) => metric.code);
		if (kind === "count") runs.push(quantities(db, COUNT_SQL, [tenantId, codes, ...range]));
		else if (kind === "sum") runs.push(quantities(db, SUM_SQL, [tenantId, codes, ...range]));
		else if (kind === "max") runs.push(quantities(db, MAX_SQL, [tenantId, codes, ...range]));
		else {
			// A unique_count metric without a field counts nothing (the plans service requires one).
			const counted = list.filter((metric) => metric.field !== null);
			if (counted.length === 0) continue;
			runs.push(
				db.transaction(async (transaction) => {
					await db.query(`SET LOCAL work_mem = '${UNIQUE_COUNT_WORK_MEM}'`, { transaction });
					return db.query<QuantityRow>(UNIQUE_COUNT_SQL, {
						bind: [tenantId, counted.map((metric) => metric.code), ...range, counted.map((metric) => metric.field)],
						type: QueryTypes.SELECT,
						transaction,
					});
				}),
			);
		}
	}
	for (const rows of await Promise.all(runs)) {
		for (const row of rows) result[row.metric] = quantity(row.quantity);
	}
	return result;
}

/** A level metric's value now: the last one recorded at or before `at` (0 when none). */
export async function currentLevel(db: Sequelize, tenantId: string, metric: string, at: Date): Promise<number> {
	const [row] = await quantities(db, LEVEL_SQL, [tenantId, metric, at.toISOString()]);
	return quantity(row?.quantity);
}
