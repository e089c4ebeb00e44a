/** The metrics bench/usage.bench.ts records and aggregates (shared with its stand-ins, bench/usage-stand-ins.ts). */
import { STORAGE_METRIC, type Aggregation } from "../services/billing/contracts";

export interface BenchMetric {
	code: string;
	aggregation: Aggregation;
	field: string | null;
}

export const BENCH_METRICS: readonly BenchMetric[] = [
	{ code: "bench_calls", aggregation: "count", field: null },
	{ code: "bench_bytes", aggregation: "sum", field: null },
	{ code: "bench_seats", aggregation: "max", field: null },
	{ code: "bench_users", aggregation: "unique_count", field: "user" },
	{ code: STORAGE_METRIC, aggregation: "max", field: null },
];
