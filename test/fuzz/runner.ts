/**
 * Sends fuzz cases and judges each answer: never a 5xx, every 4xx/5xx problem+json (type, title, status,
 * code), no reset connection, no misleading "no route" for a route that exists, and the node alive after.
 * A request after which the process is gone is found by replaying the requests that were in flight, one at
 * a time, and its variant family is not sent again (the node is restarted to go on).
 */
import http from "node:http";
import type { CallerKind, FuzzCase } from "./cases";
import type { FuzzTarget } from "./target";

export type FailureKind = "crash" | "5xx" | "not-problem-json" | "connection-reset" | "timeout" | "route-not-found" | "unhealthy";

export interface Failure {
	kind: FailureKind;
	index: number;
	operation: string;
	caller: CallerKind | "-";
	variant: string;
	family: string;
	status: number | null;
	code: string | null;
	/** What went wrong, with the start of the answer. */
	detail: string;
	request: string;
}

export interface RunStats {
	sent: number;
	skipped: number;
	statuses: Record<string, number>;
	/** Requests sent per operation. */
	perOperation: Record<string, number>;
	/** Answers per caller kind and status class (`2xx`, `4xx`, …): shows each caller's credentials worked. */
	perCaller: Record<string, Record<string, number>>;
	failures: Failure[];
	restarts: number;
	durationMs: number;
	/** Families not sent any more because one of their requests ended the process. */
	quarantined: string[];
}

export interface RunOptions {
	concurrency: number;
	/** Credentials per caller kind, read at send time (they change when callers are refreshed). */
	credentials: () => Record<CallerKind, Record<string, string>>;
	requestTimeoutMs?: number;
	/** Stop sending at this time (ms since epoch). */
	deadline?: number;
	maxRestarts?: number;
	/** How often (in requests) /healthz is asked on the side. */
	healthEvery?: number;
	/** A unique client address per request (the node runs with TRUST_PROXY), so throttles stay per request. */
	forwardedFor?: (fuzzCase: FuzzCase) => string;
}

interface Answer {
	status: number;
	headers: http.IncomingHttpHeaders;
	body: string;
}

type Outcome = { answer: Answer } | { error: "reset" | "timeout"; message: string };

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** Operations by method and path template, to tell a real route from an unknown one. */
function knownRoute(operations: ReadonlySet<string>, method: string, target: string): boolean {
	const pathOnly = target.split("?")[0];
	for (const key of operations) {
		const [opMethod, template] = key.split(" ");
		if (opMethod !== method) continue;
		const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+").replace(/[.]/g, "\\.")}$`);
		if (pattern.test(pathOnly)) return true;
	}
	return false;
}

export function send(url: string, fuzzCase: FuzzCase, headers: Record<string, string>, timeoutMs: number): Promise<Outcome> {
	const target = new URL(url);
	return new Promise((resolve) => {
		let settled = false;
		const done = (outcome: Outcome) => {
			if (!settled) {
				settled = true;
				resolve(outcome);
			}
		};
		const request = http.request(
			{
				host: target.hostname,
				port: target.port,
				method: fuzzCase.method,
				path: fuzzCase.target,
				agent,
				headers: { ...headers, ...(fuzzCase.body ? { "Content-Length": String(fuzzCase.body.length) } : {}) },
				insecureHTTPParser: true,
			},
			(response) => {
				const chunks: Buffer[] = [];
				let size = 0;
				response.on("data", (chunk: Buffer) => {
					if (size < 65_536) chunks.push(chunk);
					size += chunk.length;
				});
				response.on("end", () => done({ answer: { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") } }));
				response.on("error", (err) => done({ error: "reset", message: err.message }));
			},
		);
		request.setTimeout(timeoutMs, () => {
			done({ error: "timeout", message: `no answer within ${timeoutMs} ms` });
			request.destroy();
		});
		request.on("error", (err: NodeJS.ErrnoException) => {
			// The server may answer (413, 431) and close before reading all of a large body: that is an answer, not a reset.
			done({ error: "reset", message: `${err.code ?? ""} ${err.message}`.trim() });
		});
		if (fuzzCase.body) request.end(fuzzCase.body);
		else request.end();
	});
}

/** What is wrong with an answer, or null when it is fine. */
export function judge(fuzzCase: FuzzCase, answer: Answer, operations: ReadonlySet<string>): Omit<Failure, "index" | "operation" | "caller" | "variant" | "family" | "request"> | null {
	const contentType = String(answer.headers["content-type"] ?? "");
	let problem: Record<string, unknown> | null = null;
	try {
		problem = JSON.parse(answer.body) as Record<string, unknown>;
	} catch {
		problem = null;
	}
	const code = problem && typeof problem.code === "string" ? problem.code : null;
	const excerpt = answer.body.slice(0, 300);
	if (answer.status >= 500) return { kind: "5xx", status: answer.status, code, detail: excerpt };
	// A HEAD answer has no body: its headers are all there is to judge.
	if (fuzzCase.method === "HEAD") {
		return answer.status >= 400 && !contentType.startsWith("application/problem+json") ? { kind: "not-problem-json", status: answer.status, code, detail: `HEAD: ${contentType || "no content type"}` } : null;
	}
	if (answer.status >= 400) {
		const wellFormed =
			contentType.startsWith("application/problem+json") &&
			problem !== null &&
			typeof problem.type === "string" &&
			typeof problem.title === "string" &&
			problem.status === answer.status &&
			typeof problem.code === "string";
		if (!wellFormed) return { kind: "not-problem-json", status: answer.status, code, detail: `${contentType || "no content type"}: ${excerpt}` };
		if (answer.status === 404 && code === "ROUTE_NOT_FOUND" && knownRoute(operations, fuzzCase.method, fuzzCase.target)) {
			return { kind: "route-not-found", status: 404, code, detail: excerpt };
		}
	}
	return null;
}

function describe(fuzzCase: FuzzCase): string {
	const body = fuzzCase.body ? ` body(${fuzzCase.body.length} B): ${JSON.stringify(fuzzCase.body.subarray(0, 160).toString("utf8"))}` : "";
	const headers = Object.entries(fuzzCase.headers)
		.map(([name, value]) => `${name}: ${value.length > 80 ? `${value.slice(0, 80)}…(${value.length})` : value}`)
		.join("; ");
	const target = fuzzCase.target.length > 200 ? `${fuzzCase.target.slice(0, 200)}…(${fuzzCase.target.length})` : fuzzCase.target;
	return `${fuzzCase.method} ${target} [${headers}]${body}`;
}

export async function runCases(target: FuzzTarget, cases: FuzzCase[], operationKeys: ReadonlySet<string>, options: RunOptions, stats?: RunStats): Promise<RunStats> {
	const started = Date.now();
	const result: RunStats = stats ?? { sent: 0, skipped: 0, statuses: {}, perOperation: {}, perCaller: {}, failures: [], restarts: 0, durationMs: 0, quarantined: [] };
	const quarantined = new Set(result.quarantined);
	const timeoutMs = options.requestTimeoutMs ?? 15_000;
	const healthEvery = options.healthEvery ?? 250;
	let next = 0;
	let pause: Promise<void> | null = null;
	const inFlight = new Set<FuzzCase>();
	const suspects: FuzzCase[] = [];

	const fail = (fuzzCase: FuzzCase, failure: Omit<Failure, "index" | "operation" | "caller" | "variant" | "family" | "request">) => {
		result.failures.push({ ...failure, index: fuzzCase.index, operation: fuzzCase.operation, caller: fuzzCase.caller, variant: fuzzCase.variant, family: fuzzCase.family, request: describe(fuzzCase) });
	};
	const headersFor = (fuzzCase: FuzzCase) => {
		const credentials = fuzzCase.bareAuth ? {} : options.credentials()[fuzzCase.caller];
		return { ...credentials, ...fuzzCase.headers, ...(options.forwardedFor ? { "X-Forwarded-For": fuzzCase.headers["X-Forwarded-For"] ?? options.forwardedFor(fuzzCase) } : {}) };
	};
	const record = (fuzzCase: FuzzCase, outcome: Outcome) => {
		if ("error" in outcome) {
			result.statuses[outcome.error] = (result.statuses[outcome.error] ?? 0) + 1;
			fail(fuzzCase, { kind: outcome.error === "timeout" ? "timeout" : "connection-reset", status: null, code: null, detail: outcome.message });
			return;
		}
		result.statuses[outcome.answer.status] = (result.statuses[outcome.answer.status] ?? 0) + 1;
		const byClass = (result.perCaller[fuzzCase.caller] ??= {});
		const statusClass = `${Math.floor(outcome.answer.status / 100)}xx`;
		byClass[statusClass] = (byClass[statusClass] ?? 0) + 1;
		const failure = judge(fuzzCase, outcome.answer, operationKeys);
		if (failure) fail(fuzzCase, failure);
	};
	const dead = async () => {
		// An unhandled rejection ends the process a moment after the socket closes.
		for (let i = 0; i < 10 && target.running(); i += 1) {
			if (i >= 3 && (await target.healthy())) return false;
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
		return !target.running() || !(await target.healthy());
	};
	const restart = async () => {
		result.restarts += 1;
		if (!target.restart || result.restarts > (options.maxRestarts ?? 8)) throw new Error(`The node under fuzz died and was not restarted (${result.restarts} restarts). Last output:\n${target.output().slice(-3000)}`);
		await target.restart();
	};

	/** Called once the connection errors stop: was it the process? Then find which request it was. */
	const investigate = async () => {
		while (inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
		const batch = suspects.splice(0);
		if (!(await dead())) {
			for (const fuzzCase of batch) record(fuzzCase, { error: "reset", message: "connection reset while the node stayed up" });
			return;
		}
		await restart();
		for (const fuzzCase of batch) {
			if (quarantined.has(fuzzCase.family)) {
				result.skipped += 1;
				continue;
			}
			const outcome = await send(target.url, fuzzCase, headersFor(fuzzCase), timeoutMs);
			if (await dead()) {
				fail(fuzzCase, { kind: "crash", status: null, code: null, detail: `the process exited: ${target.output().split("\n").filter(Boolean).slice(-6).join(" | ").slice(0, 600)}` });
				quarantined.add(fuzzCase.family);
				await restart();
			} else record(fuzzCase, outcome);
		}
	};

	const worker = async () => {
		while (next < cases.length) {
			if (pause) {
				await pause;
				continue;
			}
			if (options.deadline && Date.now() > options.deadline) return;
			const fuzzCase = cases[next];
			next += 1;
			if (quarantined.has(fuzzCase.family)) {
				result.skipped += 1;
				continue;
			}
			inFlight.add(fuzzCase);
			result.sent += 1;
			result.perOperation[fuzzCase.operation] = (result.perOperation[fuzzCase.operation] ?? 0) + 1;
			const outcome = await send(target.url, fuzzCase, headersFor(fuzzCase), timeoutMs);
			inFlight.delete(fuzzCase);
			if ("error" in outcome && outcome.error === "reset") {
				suspects.push(fuzzCase);
				pause ??= investigate().finally(() => {
					pause = null;
				});
				continue;
			}
			record(fuzzCase, outcome);
			if (result.sent % healthEvery === 0 && !(await target.healthy())) {
				fail(fuzzCase, { kind: "unhealthy", status: null, code: null, detail: `GET /healthz failed after request #${fuzzCase.index}` });
			}
		}
	};
	await Promise.all(Array.from({ length: options.concurrency }, worker));
	if (pause) await pause;
	if (!(await target.healthy())) {
		result.failures.push({ kind: "unhealthy", index: -1, operation: "GET /healthz", caller: "-", variant: "after-run", family: "after-run", status: null, code: null, detail: "the node did not answer /healthz after the run", request: "GET /healthz" });
	}
	result.quarantined = [...quarantined];
	result.durationMs += Date.now() - started;
	return result;
}
