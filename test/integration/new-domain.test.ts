/**
 * Issue 13: `npm run new:domain` lays out a domain whose generated files type-check and pass lint, and whose
 * generated integration test passes as generated, with the registration it did (the node roles in
 * docker-compose.yml and k8s/, the access-control matrix) keeping their tests green; `--remove` then leaves
 * nothing behind: every file it wrote is gone and every file it edited is byte for byte as before.
 *
 * It runs the real CLI on the working tree, under a throw-away name, and removes the domain whatever happens.
 * The generated test runs in a child `vitest run` (its own database, like any run).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../lib/config";

const run = promisify(execFile);
const suffix = randomBytes(3).toString("hex").replace(/^\d/, "x");
const DOMAIN = `trial-${suffix}`;
const ENTITY = `trial-${suffix}-note`;
const SCHEMA = `trial_${suffix}_notes`;
/** Tracked files the generator edits to register a domain. */
const REGISTRATION_FILES = ["README.md", "docker-compose.yml", "k8s/worker-deployment.yaml", "test/unit/access-control.test.ts"];
const before = new Map(REGISTRATION_FILES.map((file) => [file, fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8")]));
const GENERATED = [
	`services/${DOMAIN}/contracts.ts`,
	`services/${DOMAIN}/${ENTITY}s.service.ts`,
	`services/${DOMAIN}/README.md`,
	`models/${DOMAIN}/${ENTITY}s/${ENTITY}.model.ts`,
	`models/${DOMAIN}/${ENTITY}s/migrations/0001-create-${ENTITY}s.ts`,
	`test/integration/${DOMAIN}.test.ts`,
];

/** Children run as a developer would run them, not as workers of this vitest run. */
function childEnv(): NodeJS.ProcessEnv {
	return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && key !== "NODE_OPTIONS"));
}

async function node(args: string[], timeout = 60_000): Promise<{ code: number; output: string }> {
	try {
		const { stdout, stderr } = await run(process.execPath, args, { cwd: PROJECT_ROOT, env: childEnv(), timeout, maxBuffer: 32 * 1024 * 1024 });
		return { code: 0, output: stdout + stderr };
	} catch (err) {
		const failed = err as { code?: number; stdout?: string; stderr?: string; message: string };
		return { code: typeof failed.code === "number" ? failed.code : 1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}${failed.message}` };
	}
}

const newDomain = (...args: string[]) => node(["--import", "tsx", "scripts/new-domain.ts", ...args]);
const bin = (module: string) => path.join(PROJECT_ROOT, "node_modules", module);
const exists = (file: string) => fs.existsSync(path.join(PROJECT_ROOT, file));

afterAll(async () => {
	// Whatever happened above: remove the trial, and never leave a registration file changed.
	if (exists(`.new-domain/${DOMAIN}.json`)) await newDomain("--remove", DOMAIN, "--force");
	for (const folder of [`services/${DOMAIN}`, `models/${DOMAIN}`]) fs.rmSync(path.join(PROJECT_ROOT, folder), { recursive: true, force: true });
	fs.rmSync(path.join(PROJECT_ROOT, `test/integration/${DOMAIN}.test.ts`), { force: true });
	for (const [file, text] of before) {
		if (fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8") !== text) fs.writeFileSync(path.join(PROJECT_ROOT, file), text);
	}
}, 60_000);

describe("issue 13: npm run new:domain", () => {
	it("refuses names that are not a new domain's, and writes nothing on a dry run", async () => {
		for (const [args, reason] of [
			[["identity"], /services\/identity already exists/],
			[["gateway"], /reserved/],
			[["Bad_Name"], /kebab-case/],
			[["all"], /reserved/],
			[[DOMAIN, "--entity", "file"], /Events named "file\.…" exist already/],
			[[DOMAIN, "--entity", "product", "--plural", "catalog"], /service named "catalog" exists already/],
			[[DOMAIN, "--role", "gateway"], /--role must be one of/],
		] as const) {
			const refused = await newDomain(...args);
			expect(refused.code, refused.output).not.toBe(0);
			expect(refused.output).toMatch(reason);
		}
		const dry = await newDomain(DOMAIN, "--entity", ENTITY, "--dry-run");
		expect(dry.code, dry.output).toBe(0);
		for (const file of GENERATED) expect(dry.output).toContain(file);
		expect(GENERATED.filter(exists)).toEqual([]);
		expect(exists(`.new-domain/${DOMAIN}.json`)).toBe(false);
		for (const [file, text] of before) expect(fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8"), file).toBe(text);
	});

	it("generates a domain that type-checks, passes lint and its own integration test, with its registration green, and removes it without a trace", async () => {
		const generated = await newDomain(DOMAIN, "--entity", ENTITY, "--what", "notes kept by a trial of the generator");
		expect(generated.code, generated.output).toBe(0);
		expect(GENERATED.filter((file) => !exists(file))).toEqual([]);
		expect(fs.readFileSync(path.join(PROJECT_ROOT, "docker-compose.yml"), "utf8")).toContain(`,${DOMAIN}\n`);
		expect(fs.readFileSync(path.join(PROJECT_ROOT, "test/unit/access-control.test.ts"), "utf8")).toContain(`"${ENTITY}s.create${"Trial"}`);

		// The whole project, as `npx tsc --noEmit` checks it: the generated files need its global augmentations anyway.
		const typecheck = await node([bin("typescript/bin/tsc"), "--noEmit", "-p", "tsconfig.json"], 120_000);
		expect(typecheck.code, typecheck.output).toBe(0);

		const lint = await node([bin("eslint/bin/eslint.js"), "--max-warnings", "0", ...GENERATED.filter((file) => file.endsWith(".ts")), "test/unit/access-control.test.ts"]);
		expect(lint.code, lint.output).toBe(0);

		const tests = await node([bin("vitest/vitest.mjs"), "run", `test/integration/${DOMAIN}.test.ts`, "test/unit/access-control.test.ts", "test/unit/deploy-manifests.test.ts"], 120_000);
		expect(tests.code, tests.output.slice(-6000)).toBe(0);
		// eslint-disable-next-line no-control-regex
		expect(tests.output.replace(/\u001b\[[0-9;]*m/g, "")).toMatch(/Test Files\s+3 passed \(3\)/);

		// Edited since generation: --remove refuses without --force and removes nothing.
		const service = path.join(PROJECT_ROOT, GENERATED[1]);
		fs.appendFileSync(service, "// edited\n");
		const refused = await newDomain("--remove", DOMAIN);
		expect(refused.code, refused.output).not.toBe(0);
		expect(refused.output).toContain(GENERATED[1]);
		expect(GENERATED.filter((file) => !exists(file))).toEqual([]);

		const removed = await newDomain("--remove", DOMAIN, "--force");
		expect(removed.code, removed.output).toBe(0);
		expect(removed.output).toContain(`DROP SCHEMA "${SCHEMA}"`);
		expect(GENERATED.filter(exists)).toEqual([]);
		for (const folder of [`services/${DOMAIN}`, `models/${DOMAIN}`, `.new-domain/${DOMAIN}.json`]) expect(exists(folder), folder).toBe(false);
		for (const [file, text] of before) expect(fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8"), file).toBe(text);
	}, 150_000);
});
