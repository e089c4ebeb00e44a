/**
 * Failure classes the fuzz suite tolerates while their fix is under way elsewhere. Empty: every failure fails
 * the short form (test/integration/fuzz.test.ts), and `npm run fuzz` would count a listed class apart. Add a
 * class here only with the issue that owns its fix, and remove it when that lands.
 */
import type { FailureClass } from "./report";

export const KNOWN_FAILURE_CLASSES: readonly FailureClass[] = [
	{
		owner: "issue 14 (branches plans and paygen)",
		description:
			"/subscriptions and /invoices call plans (plans.current, plans.getVersion to show a subscription's plan) and payments (payInvoice, defaultPaymentMethod), which the branch engine doesn't have yet: 503 SERVICE_UNAVAILABLE until the plans service and the generalised payments are merged (then remove this class)",
		matches: (failure) =>
			failure.kind === "5xx" && failure.status === 503 && failure.code === "SERVICE_UNAVAILABLE" && /^[A-Z]+ \/api\/v1\/(subscriptions|invoices)(\/|$)/.test(failure.operation),
	},
];
