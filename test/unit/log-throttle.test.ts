import { describe, expect, it, vi } from "vitest";
import type { ServiceBroker } from "moleculer";
import { LogThrottle, throttleUnavailableWarnings } from "../../lib/log-throttle";

describe("log throttling", () => {
	it("finding 9: Moleculer's per-call warnings about an action no node answers (not available, timed out, retried) are logged once per action and window", () => {
		const warn = vi.fn();
		const broker = { logger: { warn } } as unknown as ServiceBroker;
		let now = 0;
		const throttle = new LogThrottle(60_000);
		const admit = throttle.admit.bind(throttle);
		throttle.admit = (key: string) => admit(key, now);
		throttleUnavailableWarnings(broker, throttle);
		for (let call = 0; call < 50; call += 1) broker.logger.warn("Service 'status.ping' is not available.");
		broker.logger.warn("Service 'orders.create' is not registered.");
		for (let call = 0; call < 5; call += 1) {
			broker.logger.warn("Request 'orders.create' is timed out.", { requestID: String(call) });
			broker.logger.warn(`Retry to call 'orders.create' action after ${100 * 2 ** call} ms...`, { attempts: call });
		}
		broker.logger.warn("Something else", 1);
		broker.logger.warn("Something else", 2);
		expect(warn).toHaveBeenCalledTimes(6);
		expect(warn.mock.calls[2]).toEqual([expect.stringMatching(/^Request 'orders.create' is timed out\./), { requestID: "0" }]);
		now = 61_000;
		broker.logger.warn("Service 'status.ping' is not available.");
		expect(warn).toHaveBeenCalledTimes(7);
		expect(String(warn.mock.calls[6][0])).toContain("49 more since the last report");
	});
});
