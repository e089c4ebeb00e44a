import { describe, expect, it, vi } from "vitest";
import type { ServiceBroker } from "moleculer";
import { LogThrottle, throttleUnavailableWarnings } from "../../lib/log-throttle";

describe("log throttling", () => {
	it("finding 9: a service without nodes is warned about once per action and window, not once per call", () => {
		const warn = vi.fn();
		const broker = { logger: { warn } } as unknown as ServiceBroker;
		let now = 0;
		const throttle = new LogThrottle(60_000);
		const admit = throttle.admit.bind(throttle);
		throttle.admit = (key: string) => admit(key, now);
		throttleUnavailableWarnings(broker, throttle);
		for (let call = 0; call < 50; call += 1) broker.logger.warn("Service 'status.ping' is not available.");
		broker.logger.warn("Service 'orders.create' is not registered.");
		broker.logger.warn("Something else", 1);
		broker.logger.warn("Something else", 2);
		expect(warn).toHaveBeenCalledTimes(4);
		now = 61_000;
		broker.logger.warn("Service 'status.ping' is not available.");
		expect(warn).toHaveBeenCalledTimes(5);
		expect(String(warn.mock.calls[4][0])).toContain("49 more since the last report");
	});
});
