/**
 * Lays out a new domain in the platform's pattern (docs/adding-a-domain.md): a tenant-owned entity's service,
 * its contracts, model and first migration, the domain's README and an integration test that passes as
 * generated, and registers it where the platform lists domains (node roles, README, access-control matrix).
 *
 *   npm run new:domain -- <domain> [--entity <singular>] [--plural <plural>] [--role worker|core]
 *                                  [--what "<what the entities are>"] [--no-register] [--dry-run]
 *   npm run new:domain -- --remove <domain> [--force] [--dry-run]
 *
 * What it wrote is recorded in .new-domain/<domain>.json (git-ignored), so `--remove` deletes exactly those
 * files (refusing, without --force, when one was edited since) and puts the registration lines back.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { namesOf, pluralOf, problemsWith, singularOf, type DomainNames } from "./new-domain/names";
import { applyEdit, planRegistration, revertEdit, ROLES, type Edit, type Role } from "./new-domain/registration";

const ROOT = path.resolve(__dirname, "..");
const TEMPLATES = path.join(__dirname, "templates", "domain");
const MANIFESTS = path.join(ROOT, ".new-domain");

interface Manifest {
	domain: string;
	entity: string;
	entities: string;
	createdAt: string;
	files: Array<{ path: string; sha256: string }>;
	edits: Edit[];
}

const USAGE = `Usage:
  npm run new:domain -- <domain> [--entity <singular>] [--plural <plural>] [--role ${ROLES.join("|")}]
                                 [--what "<what the entities are>"] [--no-register] [--dry-run]
  npm run new:domain -- --remove <domain> [--force] [--dry-run]

  <domain>       kebab-case folder name under services/ (e.g. billing, review-intelligence)
  --entity       the entity the first service keeps, singular kebab-case (default: the domain, singular)
  --plural       its plural when English rules guess wrong (default: <entity>s, -es, -ies)
  --role         the node role that runs the domain in docker-compose.yml and k8s/ (default: worker)
  --what         one line for the service's header and README (default: a TODO)
  --no-register  write the domain's files only; print the registration steps instead of editing files
  --dry-run      print what would be written or removed, change nothing
  --remove       delete a generated domain: the files it wrote and its registration lines
  --force        with --remove: delete files even if they were edited since they were generated`;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function fail(message: string): never {
	console.error(message);
	process.exit(1);
}

/** Each template, and where it lands for this domain. */
function plannedFiles(names: DomainNames): Array<{ template: string; target: string }> {
	const { domain, entity, entities } = names;
	return [
		{ template: "contracts.ts.tmpl", target: `services/${domain}/contracts.ts` },
		{ template: "service.ts.tmpl", target: `services/${domain}/${entities}.service.ts` },
		{ template: "README.md.tmpl", target: `services/${domain}/README.md` },
		{ template: "model.ts.tmpl", target: `models/${domain}/${entities}/${entity}.model.ts` },
		{ template: "migration.ts.tmpl", target: `models/${domain}/${entities}/migrations/0001-create-${entities}.ts` },
		{ template: "integration.test.ts.tmpl", target: `test/integration/${domain}.test.ts` },
	];
}

/** `{{name}}` → its spelling; a placeholder without a value is a bug in the template, not left in the output. */
export function render(template: string, placeholders: Record<string, string>): string {
	return template.replace(/\{\{(\w+)\}\}/g, (_match, key: string) => {
		const value = placeholders[key];
		if (value === undefined) throw new Error(`Template placeholder {{${key}}} has no value`);
		return value;
	});
}

function manifestPath(domain: string): string {
	return path.join(MANIFESTS, `${domain}.json`);
}

function create(domain: string, options: { entity?: string; plural?: string; role: Role; what?: string; register: boolean; dryRun: boolean }): void {
	const entity = options.entity ?? singularOf(domain);
	const names = namesOf(domain, entity, options.plural ?? pluralOf(entity), options.what ?? "TODO: say what they are and what they are for");
	const problems = problemsWith(ROOT, names);
	if (problems.length > 0) fail(`Can't create the domain "${domain}":\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);

	const files = plannedFiles(names).map(({ template, target }) => ({ target, text: render(fs.readFileSync(path.join(TEMPLATES, template), "utf8"), names.placeholders) }));
	const { edits, manual } = options.register ? planRegistration(ROOT, names, options.role) : { edits: [], manual: manualRegistration(names, options.role) };

	const verb = options.dryRun ? "Would write" : "Wrote";
	if (!options.dryRun) {
		// The record comes first and grows with each edit, so --remove can undo a run that stopped halfway.
		const manifest: Manifest = { domain, entity, entities: names.entities, createdAt: new Date().toISOString(), files: files.map((file) => ({ path: file.target, sha256: sha256(file.text) })), edits: [] };
		const record = () => fs.writeFileSync(manifestPath(domain), `${JSON.stringify(manifest, null, "\t")}\n`);
		fs.mkdirSync(MANIFESTS, { recursive: true });
		record();
		for (const file of files) {
			fs.mkdirSync(path.dirname(path.join(ROOT, file.target)), { recursive: true });
			fs.writeFileSync(path.join(ROOT, file.target), file.text, { flag: "wx" });
		}
		for (const edit of edits) {
			applyEdit(ROOT, edit);
			manifest.edits.push(edit);
			record();
		}
	}

	const { Entity, schema, entity_snake } = names.placeholders;
	console.log(`${verb} the ${domain} domain (entity ${entity}, service "${names.entities}", schema "${schema}", REST /api/v1/${names.entities}, events ${entity_snake}.*):`);
	for (const file of files) console.log(`  ${file.target}`);
	if (edits.length > 0) {
		console.log(`${options.dryRun ? "Would register" : "Registered"} it:`);
		for (const edit of edits) console.log(`  ${edit.file}: ${edit.why}`);
	}
	if (manual.length > 0) {
		console.log("Register it by hand:");
		for (const step of manual) console.log(`  - ${step.replace(/\n/g, "\n      ")}`);
	}
	console.log(`
Next steps:
  1. npx vitest run test/integration/${domain}.test.ts test/unit/access-control.test.ts test/unit/deploy-manifests.test.ts
  2. Make ${Entity} yours: its fields in models/${domain}/${names.entities}/ (model, migration), Public${Entity}Schema in
     services/${domain}/contracts.ts, the params and present() in services/${domain}/${names.entities}.service.ts, the test.
  3. Fill in the TODOs of services/${domain}/README.md and of its row in the root README's domains table.
  4. npx tsc --noEmit && npx eslint services/${domain} models/${domain} test/integration/${domain}.test.ts
     then the OpenAPI gates and the fuzz test, which cover the new routes by themselves:
     npx vitest run test/integration/openapi-gates.test.ts test/integration/fuzz.test.ts
  5. The recipe, for channels, jobs, configuration and more: docs/adding-a-domain.md
Undo all of it: npm run new:domain -- --remove ${domain}${options.dryRun ? "\n(dry run: nothing was written)" : ""}`);
}

/** The registration steps as text, for --no-register. */
function manualRegistration(names: DomainNames, role: Role): string[] {
	return [
		`docker-compose.yml and k8s/${role}-deployment.yaml: append ",${names.domain}" to the \`${role}\` role's SERVICES`,
		`README.md (### Domains): a row for ${names.domain} linking services/${names.domain}/README.md`,
		`test/unit/access-control.test.ts: policy rows in REGISTRY_POLICIES for ${names.entities}.* (see docs/adding-a-domain.md)`,
	];
}

function remove(domain: string, options: { force: boolean; dryRun: boolean }): void {
	const file = manifestPath(domain);
	if (!fs.existsSync(file)) {
		fail(`No record of generating "${domain}" here (${path.relative(ROOT, file)}): --remove deletes only what the generator wrote. Remove a domain by hand: services/${domain}/, models/${domain}/, test/integration/${domain}.test.ts and its registration (docs/adding-a-domain.md).`);
	}
	const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as Manifest;
	const present = manifest.files.filter((item) => fs.existsSync(path.join(ROOT, item.path)));
	const edited = present.filter((item) => sha256(fs.readFileSync(path.join(ROOT, item.path), "utf8")) !== item.sha256);
	if (edited.length > 0 && !options.force) {
		fail(`These files were edited since they were generated; nothing was removed (--force removes them anyway):\n${edited.map((item) => `  ${item.path}`).join("\n")}`);
	}
	const verb = options.dryRun ? "Would remove" : "Removed";
	console.log(`${verb} the generated ${domain} domain:`);
	for (const item of present) {
		if (!options.dryRun) fs.rmSync(path.join(ROOT, item.path));
		console.log(`  ${item.path}`);
	}
	if (!options.dryRun) removeEmptyFolders(manifest.files.map((item) => path.dirname(item.path)));
	const problems: string[] = [];
	for (const edit of manifest.edits) {
		const problem = options.dryRun ? undefined : revertEdit(ROOT, edit);
		if (problem) problems.push(problem);
		else console.log(`  ${edit.file}: ${options.dryRun ? "would put back" : "put back"} (${edit.why})`);
	}
	if (!options.dryRun) {
		fs.rmSync(file);
		if (fs.readdirSync(MANIFESTS).length === 0) fs.rmdirSync(MANIFESTS);
	}
	// Files the generator did not write are never touched: say so, so they are not forgotten.
	const left = [`services/${domain}`, `models/${domain}`].filter((folder) => fs.existsSync(path.join(ROOT, folder)));
	if (left.length > 0) console.log(`Left in place (files the generator did not write): ${left.join(", ")}`);
	if (problems.length > 0) fail(`Put these back by hand:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
	console.log(`A database a node ran the domain against keeps its schema: DROP SCHEMA "${manifest.entities.replace(/-/g, "_")}" CASCADE drops it.`);
}

/** The generated folders, deepest first, as far up as they are empty (never services/, models/ or test/ themselves). */
function removeEmptyFolders(folders: string[]): void {
	const keep = new Set(["services", "models", "test", "test/integration", "."]);
	const candidates = new Set<string>();
	for (const folder of folders) {
		for (let current = folder; !keep.has(current); current = path.dirname(current)) candidates.add(current);
	}
	for (const folder of [...candidates].sort((a, b) => b.split("/").length - a.split("/").length)) {
		const full = path.join(ROOT, folder);
		if (fs.existsSync(full) && fs.readdirSync(full).length === 0) fs.rmdirSync(full);
	}
}

function main(): void {
	const { values, positionals } = parseArgs({
		allowPositionals: true,
		options: {
			entity: { type: "string" },
			plural: { type: "string" },
			role: { type: "string", default: "worker" },
			what: { type: "string" },
			"no-register": { type: "boolean", default: false },
			"dry-run": { type: "boolean", default: false },
			remove: { type: "boolean", default: false },
			force: { type: "boolean", default: false },
			help: { type: "boolean", short: "h", default: false },
		},
	});
	if (values.help) {
		console.log(USAGE);
		return;
	}
	if (positionals.length !== 1) fail(USAGE);
	const [domain] = positionals;
	if (values.remove) {
		remove(domain, { force: values.force, dryRun: values["dry-run"] });
		return;
	}
	if (!(ROLES as readonly string[]).includes(values.role)) fail(`--role must be one of ${ROLES.join(", ")}`);
	// It lands in a comment block and a Markdown table cell.
	if (values.what !== undefined && /[\n`|]|\*\//.test(values.what)) fail("--what is one line, without `, | or */");
	create(domain, { entity: values.entity, plural: values.plural, role: values.role as Role, what: values.what, register: !values["no-register"], dryRun: values["dry-run"] });
}

if (require.main === module) {
	try {
		main();
	} catch (err) {
		fail((err as Error).message);
	}
}
