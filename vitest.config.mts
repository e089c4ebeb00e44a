import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		include: ["test/**/*.test.ts"],
		globalSetup: ["test/helpers/global-setup.ts"],
		// The contract test: answers received through test/helpers/api.ts that the OpenAPI document doesn't describe fail their test.
		setupFiles: ["test/helpers/contract-setup.ts"],
		// Tests start brokers, HTTP servers and child processes against shared PostgreSQL, Redis and NATS:
		// one file at a time keeps a 2-core machine honest and the logs readable.
		fileParallelism: false,
		testTimeout: 30_000,
		hookTimeout: 60_000,
		reporters: ["default"],
	},
});
