/**
 * The names a new domain's files are built from, derived from the domain and its entity (both kebab-case),
 * and the checks that keep a new domain from colliding with the platform or with a domain that exists.
 */
import fs from "node:fs";
import path from "node:path";

export const KEBAB = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
/** Schema, table and index names are built from these; PostgreSQL cuts identifiers at 63 bytes. */
const MAX_NAME_LENGTH = 30;

/**
 * Not a business domain's name: the platform's own domains and folders, the SERVICES keywords ("all"), the node
 * roles, and words a reader would take for something else.
 */
export const RESERVED_DOMAINS: readonly string[] = [
	"all",
	"api",
	"bench",
	"common",
	"contracts",
	"core",
	"docs",
	"gateway",
	"k8s",
	"lib",
	"middlewares",
	"mixins",
	"models",
	"node",
	"platform",
	"scripts",
	"services",
	"shared",
	"test",
	"tests",
	"types",
	"worker",
];

export interface DomainNames {
	/** kebab-case: the folder, SERVICES entry, test file ("review-intelligence"). */
	domain: string;
	/** kebab-case singular ("line-item"): the model file. */
	entity: string;
	/** kebab-case plural ("line-items"): the service name, REST path, models folder. */
	entities: string;
	/** Every spelling the templates use, by placeholder. */
	placeholders: Record<string, string>;
}

const words = (kebab: string) => kebab.split("-");
const capitalise = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
const camel = (kebab: string) => words(kebab).map((word, index) => (index === 0 ? word : capitalise(word))).join("");
const pascal = (kebab: string) => words(kebab).map(capitalise).join("");
const snake = (kebab: string) => words(kebab).join("_");

/** English plural of the last word, for the usual cases; `--plural` covers the rest. */
export function pluralOf(kebab: string): string {
	if (/(s|x|z|ch|sh)$/.test(kebab)) return `${kebab}es`;
	if (/[^aeiou]y$/.test(kebab)) return `${kebab.slice(0, -1)}ies`;
	return `${kebab}s`;
}

/** The entity a domain keeps when none is named: its name in the singular. */
export function singularOf(kebab: string): string {
	if (/ies$/.test(kebab)) return `${kebab.slice(0, -3)}y`;
	if (/[^s]s$/.test(kebab)) return kebab.slice(0, -1);
	return kebab;
}

export function namesOf(domain: string, entity: string, entities: string, what: string): DomainNames {
	const label = words(entity).join(" ");
	const pluralLabel = words(entities).join(" ");
	// "an invoice", "a user": by the first letter, which is right far more often than not.
	const article = /^[aeio]/.test(label) ? "an" : "a";
	return {
		domain,
		entity,
		entities,
		placeholders: {
			domain,
			entity,
			entities,
			entityCamel: camel(entity),
			Entity: pascal(entity),
			Entities: pascal(entities),
			ENTITY: snake(entity).toUpperCase(),
			entity_snake: snake(entity),
			entities_snake: snake(entities),
			// AggregateMixin keys event payloads and outbox rows by the entity name in lower case.
			entityKey: pascal(entity).toLowerCase(),
			// Each service owns the PostgreSQL schema named after it.
			schema: snake(entities),
			entityLabel: label,
			EntityLabel: capitalise(label),
			aEntityLabel: `${article} ${label}`,
			AEntityLabel: `${capitalise(article)} ${label}`,
			entitiesLabel: pluralLabel,
			EntitiesLabel: capitalise(pluralLabel),
			what,
		},
	};
}

/** Every service name and PostgreSQL schema in use, read from the services' sources. */
function namesInUse(root: string): { services: Set<string>; schemas: Set<string>; eventPrefixes: Set<string> } {
	const services = new Set<string>();
	const schemas = new Set<string>();
	const eventPrefixes = new Set<string>();
	const servicesDir = path.join(root, "services");
	for (const domain of fs.readdirSync(servicesDir, { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
		for (const file of fs.readdirSync(path.join(servicesDir, domain.name)).filter((name) => name.endsWith(".ts"))) {
			const text = fs.readFileSync(path.join(servicesDir, domain.name, file), "utf8");
			if (file.endsWith(".service.ts")) {
				const name = /^\tname: "([^"]+)"/m.exec(text)?.[1];
				if (name) services.add(name);
			}
			for (const match of text.matchAll(/\b(?:schema: |SCHEMA = )"([a-z_][a-z0-9_]*)"/g)) schemas.add(match[1]);
			// Event names: "<entity>.<what happened>", declared in contracts.ts (or, in older code, spelled where emitted).
			const events = file === "contracts.ts" ? text.matchAll(/"([a-z_]+)\.[a-z_]+"/g) : text.matchAll(/emit\(\s*"([a-z_]+)\.[a-z_]+"/g);
			for (const match of events) eventPrefixes.add(match[1]);
		}
	}
	const modelsDir = path.join(root, "models");
	for (const domain of fs.readdirSync(modelsDir, { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
		for (const service of fs.readdirSync(path.join(modelsDir, domain.name), { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
			schemas.add(service.name.replace(/-/g, "_"));
		}
	}
	return { services, schemas, eventPrefixes };
}

/** Why these names can't make a new domain here, or an empty list. */
export function problemsWith(root: string, names: DomainNames): string[] {
	const problems: string[] = [];
	const { domain, entity, entities, placeholders } = names;
	for (const [what, value] of [
		["The domain", domain],
		["The entity", entity],
		["The plural", entities],
	] as const) {
		if (!KEBAB.test(value)) problems.push(`${what} "${value}" must be kebab-case: lower-case letters and digits in words joined by single dashes, starting with a letter`);
		if (value.length > MAX_NAME_LENGTH) problems.push(`${what} "${value}" is longer than ${MAX_NAME_LENGTH} characters`);
	}
	if (entity === entities) problems.push(`The entity and its plural are both "${entity}": name the plural with --plural`);
	if (RESERVED_DOMAINS.includes(domain)) problems.push(`"${domain}" is reserved (${RESERVED_DOMAINS.join(", ")})`);
	if (problems.length > 0) return problems;

	for (const existing of [`services/${domain}`, `models/${domain}`, `test/integration/${domain}.test.ts`]) {
		if (fs.existsSync(path.join(root, existing))) problems.push(`${existing} already exists: "${domain}" is a domain already (or its leftovers; \`npm run new:domain -- --remove ${domain}\` removes a generated one)`);
	}
	const inUse = namesInUse(root);
	if (inUse.services.has(entities)) problems.push(`A service named "${entities}" exists already (service names are unique in the cluster): choose another --entity or --plural`);
	if (inUse.schemas.has(placeholders.schema)) problems.push(`The PostgreSQL schema "${placeholders.schema}" is taken by another service: choose another --entity or --plural`);
	if (inUse.eventPrefixes.has(placeholders.entity_snake)) problems.push(`Events named "${placeholders.entity_snake}.…" exist already: choose another --entity`);
	return problems;
}
