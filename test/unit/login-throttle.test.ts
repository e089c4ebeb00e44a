/** The pure parts of login throttling: what counts as one address, and how waits grow (issue 11, finding 7). */
import { describe, expect, it } from "vitest";
import { THROTTLE_POLICIES, addressBucket, waitAfter } from "../../services/identity/login-throttle";

describe("login throttling", () => {
	it("finding 7: one IPv4 address, however it is written, and one IPv6 /64 count as one address", () => {
		expect(addressBucket("198.51.100.7")).toBe("198.51.100.7");
		expect(addressBucket("::ffff:198.51.100.7")).toBe("198.51.100.7");
		expect(addressBucket(" 198.51.100.7 ")).toBe("198.51.100.7");
		const bucket = addressBucket("2001:db8:7:9::1");
		expect(bucket).toBe("2001:db8:7:9::/64");
		for (const variant of ["2001:DB8:7:9:ffff::42", "2001:0db8:0007:0009:1:2:3:4", "2001:db8:7:9::1%eth0", "2001:db8:7:9:0:0:198.51.100.7"]) {
			expect(addressBucket(variant)).toBe(bucket);
		}
		expect(addressBucket("2001:db8:7:a::1")).not.toBe(bucket);
		expect(addressBucket("::1")).toBe("0:0:0:0::/64");
		expect(addressBucket(undefined)).toBe("unknown");
	});

	it("finding 7: waits start after the free failures, double with each further one, and stop at the cap", () => {
		const pair = THROTTLE_POLICIES.pair;
		expect(waitAfter(pair, pair.free - 1)).toBe(0);
		expect(waitAfter(pair, pair.free)).toBe(pair.baseMs);
		expect(waitAfter(pair, pair.free + 1)).toBe(2 * pair.baseMs);
		expect(waitAfter(pair, pair.free + 3)).toBe(8 * pair.baseMs);
		expect(waitAfter(pair, 10_000)).toBe(pair.capMs);
		expect(THROTTLE_POLICIES.address.free).toBeGreaterThanOrEqual(10 * pair.free);
		expect(THROTTLE_POLICIES.account.free).toBeGreaterThan(pair.free);
	});
});
