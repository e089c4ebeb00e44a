import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		include: ["test/**/*.test.ts"],
		globalSetup: ["test/helpers/global-setup.ts"],
		// Tests start brokers, HTTP servers and child processes against shared PostgreSQL, Redis and NATS:
		// one file at a time keeps a 2-core machine honest and the logs readable.
		fileParallelism: false,
		testTimeout: 30_000,
		hookTimeout: 60_000,
		reporters: ["default"],
	},
});
