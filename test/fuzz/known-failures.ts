/**
 * Failure classes the fuzz suite tolerates while their fix is under way elsewhere. Empty: every failure fails
 * the short form (test/integration/fuzz.test.ts), and `npm run fuzz` would count a listed class apart. Add a
 * class here only with the issue that owns its fix, and remove it when that lands.
 */
import type { FailureClass } from "./report";

export const KNOWN_FAILURE_CLASSES: readonly FailureClass[] = [
	{
		// Remove once the billing engine (services/billing/billing.service.ts, answering billing.currentPlan) is merged.
		owner: "issue 14, branch usage",
		description: "GET /usage answers 503 while this checkout has no billing service to answer billing.currentPlan",
		matches: (failure) => failure.operation === "GET /api/v1/usage" && failure.status === 503 && failure.code === "SERVICE_UNAVAILABLE",
	},
];
