/**
 * Declared answers travel to every gateway intact. An action's `responses` reuse the domain's schemas
 * (PublicUserSchema in a page, in a sign-in answer, …), and Moleculer makes a node's service list "safe" for
 * the registry by replacing every object it has already seen with "[Circular]", shared ones included: a
 * remote gateway would document the second use of a schema as a string. Each action's `responses` (and `openapi`)
 * become plain JSON of their own when the service is created, so no object is shared.
 */
import type { Middleware, ServiceSchema } from "moleculer";

export const DeclaredAnswersMiddleware: Middleware = {
	name: "DeclaredAnswers",
	serviceCreating(_service: unknown, schema: ServiceSchema) {
		for (const action of Object.values(schema.actions ?? {})) {
			if (typeof action !== "object" || action === null) continue;
			if (action.responses !== undefined) action.responses = JSON.parse(JSON.stringify(action.responses)) as typeof action.responses;
			if (action.openapi !== undefined) action.openapi = JSON.parse(JSON.stringify(action.openapi)) as typeof action.openapi;
		}
	},
} as Middleware;
