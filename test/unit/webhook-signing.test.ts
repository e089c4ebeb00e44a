/** Our Standard Webhooks signatures against the reference library, and the retry schedule's arithmetic. */
import { describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { newWebhookSecret, signWebhook, webhookHeaders } from "../../services/notifications/webhook-signature";
import { retryDelay } from "../../services/notifications/webhook-attempt";

describe("webhook signatures", () => {
	it("makes secrets of 32 random bytes behind whsec_", () => {
		const secret = newWebhookSecret();
		expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
		expect(Buffer.from(secret.slice(6), "base64")).toHaveLength(32);
		expect(newWebhookSecret()).not.toBe(secret);
	});

	it("signs exactly as the reference implementation", () => {
		const secret = newWebhookSecret();
		const body = JSON.stringify({ type: "order.paid", timestamp: "2026-01-02T03:04:05.678Z", data: { id: "ord_1", note: "ünïcödé" } });
		const at = new Date("2026-01-02T03:04:05.999Z");
		expect(signWebhook([secret], "msg_1", 1767323045, body)).toBe(new Webhook(secret).sign("msg_1", at, body));
		const headers = webhookHeaders([secret], "msg_1", body, new Date());
		expect(new Webhook(secret).verify(body, { ...headers })).toMatchObject({ type: "order.paid" });
	});

	it("signs with every secret during a rotation, and each verifies", () => {
		const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
		const headers = webhookHeaders([current, previous], "msg_2", "{}");
		expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
		expect(new Webhook(current).verify("{}", { ...headers })).toEqual({});
		expect(new Webhook(previous).verify("{}", { ...headers })).toEqual({});
		expect(() => new Webhook(newWebhookSecret()).verify("{}", { ...headers })).toThrow();
	});
});

describe("retry schedule", () => {
	const schedule = [5_000, 300_000, 1_800_000];
	it("waits the schedule's entry for each failed attempt, until none is left", () => {
		expect(retryDelay(schedule, 1, 4)).toBe(5_000);
		expect(retryDelay(schedule, 2, 4)).toBe(300_000);
		expect(retryDelay(schedule, 3, 4)).toBe(1_800_000);
		expect(retryDelay(schedule, 4, 4)).toBeUndefined();
		// A lease lost in a crash can count one attempt beyond the schedule; a manual retry allows one more.
		expect(retryDelay(schedule, 5, 6)).toBe(1_800_000);
	});
});
