/**
 * Plan tiers and their named limits. The billing domain will own plans; until then these defaults apply,
 * and a tenant may carry overrides. -1 means unlimited.
 */
export const LIMIT_NAMES = ["members", "apiKeys", "storageBytes", "projects", "screenshotsPerMonth", "webhookEndpoints"] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

export const PLAN_LIMITS: Record<string, Record<LimitName, number>> = {
	free: { members: 5, apiKeys: 5, storageBytes: 1024 ** 3, projects: 3, screenshotsPerMonth: 100, webhookEndpoints: 3 },
	pro: { members: 25, apiKeys: 50, storageBytes: 50 * 1024 ** 3, projects: 50, screenshotsPerMonth: 5_000, webhookEndpoints: 20 },
	enterprise: { members: -1, apiKeys: -1, storageBytes: -1, projects: -1, screenshotsPerMonth: -1, webhookEndpoints: -1 },
};
