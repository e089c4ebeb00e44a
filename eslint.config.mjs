import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
		files: ["test/**/*.ts", "bench/**/*.ts", "scripts/**/*.ts"],
		rules: { "no-console": "off" },
	},
);
