/**
 * The test clock does not exist in production: the billing service has no advance action there (so the
 * gateway has no such route: 404 like any unknown path, and the OpenAPI document doesn't list it).
 */
import { afterEach, describe, expect, it } from "vitest";
import { ServiceBroker } from "moleculer";
import { loadConfig } from "../../lib/config";
import BillingService from "../../services/billing/billing.service";

const brokers: ServiceBroker[] = [];

function billingActions(env: Record<string, string>): string[] {
	const broker = new ServiceBroker({ logger: false });
	brokers.push(broker);
	(broker as ServiceBroker & { platformConfig?: unknown }).platformConfig = loadConfig(env);
	const service = broker.createService(BillingService);
	return Object.keys(service.actions);
}

afterEach(async () => {
	await Promise.all(brokers.splice(0).map((broker) => broker.stop()));
});

describe("billing's test clock", () => {
	it("is an action outside production", () => {
		expect(billingActions({ NODE_ENV: "test" })).toContain("advanceTestClock");
		expect(billingActions({ NODE_ENV: "development" })).toContain("advanceTestClock");
	});

	it("is no action at all in production, where every other billing action stays", () => {
		const actions = billingActions({ NODE_ENV: "production", SECRETS_KEY: "5d".repeat(32) });
		expect(actions).not.toContain("advanceTestClock");
		expect(actions).toEqual(expect.arrayContaining(["createSubscription", "getAccount", "limits", "now"]));
	});
});
