/**
 * The places outside its folders where the platform lists its domains, edited by exact lines so that
 * `--remove` can put each back: the node role that runs the domain (docker-compose.yml and k8s/, both
 * checked by test/unit/deploy-manifests.test.ts), the root README's domains table, and the access-control
 * matrix test, which requires a policy row for every REST action.
 *
 * Loading needs no registration: SERVICES, lint's boundaries and the test runner read services/ itself.
 */
import fs from "node:fs";
import path from "node:path";
import type { DomainNames } from "./names";

export const ROLES = ["core", "worker"] as const;
export type Role = (typeof ROLES)[number];

/** One edit of a tracked file: a line replaced, or lines inserted before an anchor line. */
export type Edit =
	| { file: string; kind: "replace-line"; before: string; after: string; why: string }
	| { file: string; kind: "insert-lines"; lines: string[]; why: string };

export interface PlannedEdits {
	edits: Edit[];
	/** What could not be found to edit, as the step a person must do instead. */
	manual: string[];
}

/** The REST actions the service template declares, with the access-control matrix's policy for each. */
export function actionPolicies(names: DomainNames): Array<[string, string]> {
	const { Entity, Entities } = names.placeholders;
	return [
		[`list${Entities}`, "tenant:viewer"],
		[`get${Entity}`, "tenant:viewer"],
		[`create${Entity}`, "tenant:member"],
		[`update${Entity}`, "tenant:member"],
		[`delete${Entity}`, "tenant:admin"],
	];
}

function readLines(root: string, file: string): string[] | undefined {
	const full = path.join(root, file);
	return fs.existsSync(full) ? fs.readFileSync(full, "utf8").split("\n") : undefined;
}

/** The SERVICES line of a role in docker-compose.yml (the first one inside the role's block). */
function composeEdit(root: string, names: DomainNames, role: Role): Edit | string {
	const file = "docker-compose.yml";
	const lines = readLines(root, file) ?? [];
	const start = lines.findIndex((line) => line === `  ${role}:`);
	for (let index = start + 1; start >= 0 && index < lines.length && !/^ {2}\S/.test(lines[index]); index += 1) {
		const match = /^(\s+SERVICES:\s*)(\S+)$/.exec(lines[index]);
		if (match) return { file, kind: "replace-line", before: lines[index], after: `${lines[index]},${names.domain}`, why: `the ${role} role runs the domain` };
	}
	return `${file}: append ",${names.domain}" to SERVICES of the \`${role}\` service`;
}

/** The SERVICES value of the role's Deployment in k8s/. */
function k8sEdit(root: string, names: DomainNames, role: Role): Edit | string {
	const file = `k8s/${role}-deployment.yaml`;
	const lines = readLines(root, file) ?? [];
	const at = lines.findIndex((line) => /^\s+- name: SERVICES$/.test(line));
	const value = at >= 0 ? lines[at + 1] : undefined;
	if (value && /^\s+value: \S+$/.test(value)) return { file, kind: "replace-line", before: value, after: `${value},${names.domain}`, why: `the ${role} Deployment runs the domain` };
	return `${file}: append ",${names.domain}" to the SERVICES value`;
}

/** A row of the root README's domains table, before the platform's own domains (gateway, platform). */
function readmeEdit(root: string, names: DomainNames): Edit | string {
	const file = "README.md";
	const { domain, placeholders } = names;
	const row = `| ${domain} | [services/${domain}/README.md](services/${domain}/README.md) | ${placeholders.entitiesLabel} of a tenant (TODO: say what the domain does) |`;
	const lines = readLines(root, file) ?? [];
	const anchor = lines.findIndex((line) => line.startsWith("| gateway | [services/gateway/README.md]"));
	if (anchor < 0) return `${file}: add to the table under "### Domains": ${row}`;
	return { file, kind: "insert-lines", lines: [row], why: "the domains table links the domain's README" };
}

/** The access-control matrix's rows for the new REST actions, before the table's closing brace. */
function accessMatrixEdit(root: string, names: DomainNames): Edit | string {
	const file = "test/unit/access-control.test.ts";
	const rows = actionPolicies(names).map(([action, policy]) => `\t"${names.entities}.${action}": "${policy}",`);
	const lines = readLines(root, file) ?? [];
	const start = lines.findIndex((line) => line.startsWith("const REGISTRY_POLICIES"));
	const end = start >= 0 ? lines.findIndex((line, index) => index > start && line === "};") : -1;
	if (end < 0) return `${file}: add to REGISTRY_POLICIES:\n${rows.join("\n")}`;
	return { file, kind: "insert-lines", lines: rows, why: "the access-control matrix covers every REST action" };
}

export function planRegistration(root: string, names: DomainNames, role: Role): PlannedEdits {
	const edits: Edit[] = [];
	const manual: string[] = [];
	for (const planned of [composeEdit(root, names, role), k8sEdit(root, names, role), readmeEdit(root, names), accessMatrixEdit(root, names)]) {
		if (typeof planned === "string") manual.push(planned);
		else edits.push(planned);
	}
	return { edits, manual };
}

/** Where an insert goes: the line it is inserted before. */
function insertionPoint(file: string, lines: string[]): number {
	if (file === "README.md") return lines.findIndex((line) => line.startsWith("| gateway | [services/gateway/README.md]"));
	const start = lines.findIndex((line) => line.startsWith("const REGISTRY_POLICIES"));
	return lines.findIndex((line, index) => index > start && line === "};");
}

export function applyEdit(root: string, edit: Edit): void {
	const full = path.join(root, edit.file);
	const lines = fs.readFileSync(full, "utf8").split("\n");
	if (edit.kind === "replace-line") {
		const at = lines.indexOf(edit.before);
		if (at < 0) throw new Error(`${edit.file}: the line to change is gone: ${edit.before.trim()}`);
		lines[at] = edit.after;
	} else {
		const at = insertionPoint(edit.file, lines);
		if (at < 0) throw new Error(`${edit.file}: the place to insert at is gone`);
		lines.splice(at, 0, ...edit.lines);
	}
	fs.writeFileSync(full, lines.join("\n"));
}

/** Puts one edit back; answers what could not be found (edited by hand since), for the report. */
export function revertEdit(root: string, edit: Edit): string | undefined {
	const full = path.join(root, edit.file);
	if (!fs.existsSync(full)) return `${edit.file} is gone`;
	const lines = fs.readFileSync(full, "utf8").split("\n");
	if (edit.kind === "replace-line") {
		const at = lines.indexOf(edit.after);
		if (at < 0) return `${edit.file}: "${edit.after.trim()}" was changed since; put "${edit.before.trim()}" back by hand`;
		lines[at] = edit.before;
	} else {
		const missing: string[] = [];
		for (const line of edit.lines) {
			const at = lines.indexOf(line);
			if (at < 0) missing.push(line);
			else lines.splice(at, 1);
		}
		fs.writeFileSync(full, lines.join("\n"));
		return missing.length > 0 ? `${edit.file}: lines no longer there (removed by hand?): ${missing.join(" ")}` : undefined;
	}
	fs.writeFileSync(full, lines.join("\n"));
	return undefined;
}
