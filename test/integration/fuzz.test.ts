/**
 * The fuzz suite's short form: at least 3,000 requests generated from the node's own /api/openapi.json,
 * over every operation, as four kinds of caller (anonymous, a signed-in user with a tenant, a tenant
 * owner's API key with scopes ["*"], the bootstrap super admin). Every answer must be below 500, every
 * error problem+json, no connection reset, and the node alive throughout and after.
 *
 * The node is server.ts as its own OS process (test/fuzz/target.ts), not in the test's process: a request
 * that ends the process is then seen as exactly that, attributed to the request that did it (the runner
 * replays the requests in flight one at a time), and the node is restarted so the run goes on. In process,
 * the same crash would take the test runner down with it. `npm run fuzz` is the long form.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseEnv, freePort } from "../helpers/nodes";
import { KNOWN_FAILURE_CLASSES } from "../fuzz/known-failures";
import { formatFigures, formatGroups, groupFailures, partition } from "../fuzz/report";
import type { Failure } from "../fuzz/runner";
import { runFuzz, type FuzzRun } from "../fuzz/session";
import { spawnTarget, type FuzzTarget } from "../fuzz/target";

const ADMIN = { email: "fuzz-root@lattice.test", password: "fuzz-bootstrap-secret-1" };
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const REQUESTS = 3_600;

let target: FuzzTarget;
let run: FuzzRun;

beforeAll(async () => {
	const port = await freePort();
	target = await spawnTarget(
		baseEnv({
			PORT: String(port),
			OPS_PORT: "off",
			LOG_LEVEL: "fatal",
			TRUST_PROXY: "true",
			// 429s would hide everything else: the limit is out of reach here (rate-limit.test.ts tests it).
			RATE_LIMIT_MAX: "1000000",
			BODY_LIMIT: "1mb",
			OUTBOUND_ALLOW_HOSTS: "127.0.0.1:9",
			WEBHOOK_RETRY_SCHEDULE: "1h",
			BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
			BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
		}),
	);
}, 120_000);

afterAll(async () => {
	await target?.stop();
});

describe("fuzz suite (short form)", () => {
	it("sends at least 3,000 generated requests over every operation and every kind of caller", async () => {
		run = await runFuzz(target, { seed: SEED, requests: REQUESTS, concurrency: 8, bodyLimit: 1024 * 1024, admin: ADMIN, timeBudgetMs: 80_000 });
		console.log(formatFigures(run.stats, SEED));
		expect(run.stats.sent).toBeGreaterThanOrEqual(3_000);
		const missing = run.operations.map((operation) => operation.key).filter((key) => !run.stats.perOperation[key]);
		expect(missing).toEqual([]);
		// Each signed-in caller's credentials held: their baselines and harmless mutations succeeded.
		for (const caller of ["user", "apiKey", "superAdmin"]) expect(run.stats.perCaller[caller]?.["2xx"] ?? 0, caller).toBeGreaterThan(25);
	}, 150_000);

	it("never answers 5xx or an error that isn't problem+json, never resets a connection, and the node stays up", () => {
		expect(run, "the run above must have finished").toBeDefined();
		const { known, unknown } = partition(run.stats.failures, KNOWN_FAILURE_CLASSES);
		if (known.size > 0) {
			console.log(
				`Known failures (issue 11, fixed on other branches; KNOWN_FAILURE_CLASSES):\n${[...known.entries()]
					.map(([failureClass, failures]) => `  ${failureClass.owner}: ${failureClass.description}: ${failures.length}`)
					.join("\n")}`,
			);
		}
		const summary = unknown.length ? `\n${unknown.length} failures (seed ${SEED}; FUZZ_SEED=${SEED} reproduces):\n${formatGroups(groupFailures(unknown))}` : "";
		expect(summary).toBe("");
		expect(target.running()).toBe(true);
	});

	it("finding 3: a page no list has (page=99999999999999999999) answers 400 VALIDATION_ERROR on every list in the OpenAPI document, never 500", async () => {
		expect(run, "the run above must have finished").toBeDefined();
		const lists = run.operations.filter((operation) => operation.method === "GET" && operation.parameters.some((parameter) => parameter.in === "query" && parameter.name === "page"));
		expect(lists.length).toBeGreaterThanOrEqual(10);
		const answers: string[] = [];
		for (const operation of lists) {
			// Lists whose fix is on another branch (findings 2-3) join in once KNOWN_FAILURE_CLASSES no longer names them.
			const probe: Failure = { kind: "5xx", index: -1, operation: operation.key, caller: "user", variant: "query-extra:page-huge", family: "query-extra", status: 500, code: "INTERNAL_ERROR", detail: "", request: "" };
			if (KNOWN_FAILURE_CLASSES.some((failureClass) => failureClass.matches(probe))) continue;
			const statuses: string[] = [];
			for (const caller of ["user", "apiKey", "superAdmin"] as const) {
				const owned = run.callers.owned[caller] ?? {};
				const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => owned[name === "id" ? operation.path.split("/")[3] : name] ?? "00000000-0000-4000-8000-000000000000");
				for (const page of ["99999999999999999999", "1000001", "1e21"]) {
					const response = await fetch(`${target.url}${path}?page=${page}&pageSize=100`, { headers: { ...run.callers.headers[caller], "X-Forwarded-For": "198.18.255.1" } });
					const body = (await response.json()) as { code?: string };
					statuses.push(`${response.status} ${body.code ?? ""}`.trim());
				}
			}
			answers.push(`${operation.key}: ${statuses.includes("400 VALIDATION_ERROR") && statuses.every((status) => !status.startsWith("5")) ? "ok" : statuses.join(", ")}`);
		}
		expect(answers).toEqual(answers.map((answer) => `${answer.split(": ")[0]}: ok`));
	});
});
