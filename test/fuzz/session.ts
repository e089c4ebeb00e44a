/**
 * One fuzz run against a node: read its OpenAPI document, make the callers, then send rounds of cases
 * until the wanted number of requests (or the deadline) is reached. Both the short form in `npm test` and
 * `npm run fuzz` run this.
 */
import { generateRound, type FuzzCase } from "./cases";
import { provisionCallers, refreshCallers, type Callers } from "./callers";
import { runCases, type RunStats } from "./runner";
import { operationsOf, type Operation } from "./spec";
import type { FuzzTarget } from "./target";

/** Operations whose baseline may really change the caller (persona, password): sent after every other case of a round. */
export const LATE_OPERATIONS = new Set(["auth.updatePersona", "auth.changePassword", "auth.logout", "auth.switchTenant"]);

export interface FuzzOptions {
	seed: number;
	requests: number;
	concurrency?: number;
	/** BODY_LIMIT of the node in bytes. */
	bodyLimit: number;
	admin: { email: string; password: string };
	/** Wall-clock budget; the run stops sending when it is spent. */
	timeBudgetMs?: number;
	onRound?: (round: number, stats: RunStats) => void;
}

export interface FuzzRun {
	stats: RunStats;
	operations: Operation[];
	callers: Callers;
}

let addressCounter = 0;

/** 198.18.0.0/15 (benchmarking) addresses, one per request: the node trusts X-Forwarded-For here. */
function nextAddress(): string {
	addressCounter += 1;
	return `198.${18 + ((addressCounter >> 16) & 1)}.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
}

export async function fetchOperations(url: string): Promise<Operation[]> {
	const response = await fetch(`${url}/api/openapi.json`);
	if (response.status !== 200) throw new Error(`GET /api/openapi.json answered ${response.status}`);
	return operationsOf((await response.json()) as Parameters<typeof operationsOf>[0]);
}

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzRun> {
	const operations = await fetchOperations(target.url);
	const operationKeys = new Set(operations.map((operation) => operation.key));
	const callers = await provisionCallers(target.url, options.admin);
	const deadline = options.timeBudgetMs ? Date.now() + options.timeBudgetMs : undefined;
	let stats: RunStats | undefined;
	// Requests sent count, not cases skipped because their family ended the process.
	for (let round = 0; (stats?.sent ?? 0) < options.requests; round += 1) {
		if (deadline && Date.now() > deadline) break;
		const sentBefore = stats?.sent ?? 0;
		const remaining = options.requests - sentBefore;
		const cases: FuzzCase[] = generateRound(operations, {
			seed: options.seed,
			bodyLimit: options.bodyLimit,
			owned: callers.owned,
			lateOperations: LATE_OPERATIONS,
			excludeFamilies: new Set(stats?.quarantined ?? []),
		}, round, remaining);
		if (cases.length === 0) break;
		stats = await runCases(target, cases, operationKeys, {
			concurrency: options.concurrency ?? 8,
			credentials: () => callers.headers,
			deadline,
			forwardedFor: nextAddress,
		}, stats);
		options.onRound?.(round, stats);
		if (stats.sent === sentBefore) break;
		// The late operations may have changed the callers: sign in again for the next round.
		await refreshCallers(target.url, callers);
	}
	return { stats: stats!, operations, callers };
}
