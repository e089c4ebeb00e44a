import fs from "node:fs";
import path from "node:path";
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Every domain folder under services/ (the same list lib/config.ts offers SERVICES). */
const DOMAINS = fs
	.readdirSync(path.join(import.meta.dirname, "services"), { withFileTypes: true })
	.filter((entry) => entry.isDirectory())
	.map((entry) => entry.name);

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A domain reaches another only through that domain's contracts.ts (its DTOs, event and channel names,
 * payload types), never its services, helpers or models; its own folder and lib/, mixins/, middlewares/
 * are open to it.
 */
const domainBoundary = (domain) => ({
	files: [`services/${domain}/**/*.ts`],
	rules: {
		"no-restricted-imports": [
			"error",
			{
				patterns: [
					{
						regex: `^\\.\\./(?!\\.\\./|${escape(domain)}/|[^/]+/contracts$)`,
						message: "Another domain is reached only through its contracts.ts (services/<domain>/contracts).",
					},
					{
						regex: `^\\.\\./\\.\\./services/(?!${escape(domain)}/|[^/]+/contracts$)`,
						message: "Another domain is reached only through its contracts.ts (services/<domain>/contracts).",
					},
					{
						regex: `^\\.\\./\\.\\./models/(?!${escape(domain)}/)`,
						message: "Another domain's models are its own: use its contracts.ts (services/<domain>/contracts).",
					},
				],
			},
		],
	},
});

export default tseslint.config(
	{ ignores: ["dist/", "node_modules/", "data/", "coverage/", ".ci/node/"] },
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		languageOptions: { parserOptions: { ecmaVersion: 2023, sourceType: "module" } },
		rules: {
			"@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
			"@typescript-eslint/no-explicit-any": "error",
			"@typescript-eslint/no-require-imports": "error",
			eqeqeq: ["error", "always", { null: "ignore" }],
			"no-console": ["error", { allow: ["error", "warn"] }],
		},
	},
	{
		// Module augmentation must restate Moleculer's generic parameters exactly, `any` defaults included.
		files: ["types/**/*.d.ts"],
		rules: {
			"@typescript-eslint/no-explicit-any": "off",
			"@typescript-eslint/no-unused-vars": "off",
			"@typescript-eslint/no-empty-object-type": "off",
		},
	},
	{
		// Platform code serves every domain and the node itself; it never depends on a domain.
		files: ["lib/**/*.ts"],
		rules: {
			"no-restricted-imports": [
				"error",
				{ patterns: [{ regex: "(^|/)services(/|$)", message: "lib/ is platform code: it never imports services/ (a domain)." }] },
			],
		},
	},
	{
		// Cross-cutting code is shared by every domain; at most it knows a domain's public contracts.
		files: ["mixins/**/*.ts", "middlewares/**/*.ts"],
		rules: {
			"no-restricted-imports": [
				"error",
				{ patterns: [{ regex: "(^|/)services/(?![^/]+/contracts$)", message: "mixins/ and middlewares/ import no domain (only, if unavoidable, a services/<domain>/contracts.ts)." }] },
			],
		},
	},
	...DOMAINS.map(domainBoundary),
	{
		files: ["test/**/*.ts", "bench/**/*.ts", "scripts/**/*.ts"],
		rules: { "no-console": "off" },
	},
);
