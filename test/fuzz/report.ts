/** Figures and a grouped, readable account of fuzz failures. */
import type { Failure, RunStats } from "./runner";

export interface FailureClass {
	/** Who owns it, e.g. "finding 1". */
	owner: string;
	description: string;
	matches(failure: Failure): boolean;
}

export interface Group {
	key: string;
	kind: string;
	operation: string;
	variant: string;
	status: number | null;
	code: string | null;
	count: number;
	callers: Set<string>;
	example: Failure;
}

/** Failures grouped by kind, operation, variant, status and code. */
export function groupFailures(failures: Failure[]): Group[] {
	const groups = new Map<string, Group>();
	for (const failure of failures) {
		const key = `${failure.kind} ${failure.operation} ${failure.variant} ${failure.status ?? "-"} ${failure.code ?? "-"}`;
		const group = groups.get(key) ?? { key, kind: failure.kind, operation: failure.operation, variant: failure.variant, status: failure.status, code: failure.code, count: 0, callers: new Set(), example: failure };
		group.count += 1;
		group.callers.add(failure.caller);
		groups.set(key, group);
	}
	return [...groups.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.operation.localeCompare(b.operation) || a.variant.localeCompare(b.variant));
}

export function formatGroups(groups: Group[], limit = 200): string {
	const lines = groups.slice(0, limit).map(
		(group) =>
			`  [${group.kind}] ${group.operation}  ${group.variant}  → ${group.status ?? "no answer"} ${group.code ?? ""}  ×${group.count} (${[...group.callers].join(",")})\n` +
			`      e.g. #${group.example.index}: ${group.example.request.slice(0, 300)}\n      ${group.example.detail.slice(0, 300)}`,
	);
	if (groups.length > limit) lines.push(`  … and ${groups.length - limit} more groups`);
	return lines.join("\n");
}

/** Failures by kind and variant family: the short view. */
export function byClass(failures: Failure[]): Record<string, number> {
	const out: Record<string, number> = {};
	for (const failure of failures) {
		const key = `${failure.kind} ${failure.family}`;
		out[key] = (out[key] ?? 0) + 1;
	}
	return out;
}

export function formatFigures(stats: RunStats, seed: number): string {
	const seconds = stats.durationMs / 1000;
	const statuses = Object.entries(stats.statuses)
		.sort(([a], [b]) => a.localeCompare(b))
		.map(([status, count]) => `${status}: ${count}`)
		.join(", ");
	const classes = Object.entries(byClass(stats.failures))
		.sort(([, a], [, b]) => b - a)
		.map(([name, count]) => `    ${name}: ${count}`)
		.join("\n");
	return [
		`seed ${seed}: ${stats.sent} requests in ${seconds.toFixed(1)} s (${(stats.sent / Math.max(seconds, 0.001)).toFixed(0)} req/s), ${stats.skipped} skipped, ${stats.restarts} restarts`,
		`  statuses: ${statuses}`,
		`  by caller: ${Object.entries(stats.perCaller)
			.map(([caller, classes]) => `${caller} ${Object.entries(classes).sort().map(([name, count]) => `${name} ${count}`).join(" ")}`)
			.join("; ")}`,
		`  failures: ${stats.failures.length}${classes ? `\n${classes}` : ""}`,
		stats.quarantined.length ? `  families not sent again after ending the process: ${stats.quarantined.join(", ")}` : "",
	]
		.filter(Boolean)
		.join("\n");
}

/** Splits failures into those a known class covers and the others. */
export function partition(failures: Failure[], known: readonly FailureClass[]): { known: Map<FailureClass, Failure[]>; unknown: Failure[] } {
	const matched = new Map<FailureClass, Failure[]>();
	const unknown: Failure[] = [];
	for (const failure of failures) {
		const owner = known.find((candidate) => candidate.matches(failure));
		if (owner) matched.set(owner, [...(matched.get(owner) ?? []), failure]);
		else unknown.push(failure);
	}
	return { known: matched, unknown };
}
