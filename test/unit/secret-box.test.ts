/** Sealing secrets for storage: AES-256-GCM with the key id and what the value is bound into every value. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SecretBox, secretKeyId } from "../../lib/secret-box";

const CONTEXT = "webhook-endpoint:00000000-0000-4000-8000-000000000001:secret";

describe("SecretBox", () => {
	const key = randomBytes(32);
	const box = new SecretBox(key);

	it("seals into a self-describing value that opens to the original", () => {
		const sealed = box.seal("whsec_ünïcödé", CONTEXT);
		expect(sealed).toMatch(new RegExp(`^sealed:v1:${secretKeyId(key)}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$`));
		expect(sealed).not.toContain("whsec_");
		expect(box.open(sealed, CONTEXT)).toBe("whsec_ünïcödé");
		// A fresh IV each time: the same secret never seals to the same text.
		expect(box.seal("whsec_ünïcödé", CONTEXT)).not.toBe(sealed);
	});

	it("answers a value stored before sealing as it is, with or without a key", () => {
		expect(box.open("whsec_plain", CONTEXT)).toBe("whsec_plain");
		expect(new SecretBox().open("whsec_plain", CONTEXT)).toBe("whsec_plain");
	});

	it("stores readable without a key, and says so", () => {
		const none = new SecretBox();
		expect(none.sealing).toBe(false);
		expect(none.seal("whsec_plain", CONTEXT)).toBe("whsec_plain");
		expect(none.needsReseal("whsec_plain")).toBe(false);
	});

	it("refuses a value sealed with a key it doesn't have, naming the key id", () => {
		const sealed = box.seal("whsec_x", CONTEXT);
		expect(() => new SecretBox(randomBytes(32)).open(sealed, CONTEXT)).toThrow(new RegExp(`secrets key ${secretKeyId(key)}.*SECRETS_KEY_PREVIOUS`));
		expect(() => new SecretBox().open(sealed, CONTEXT)).toThrow(secretKeyId(key));
	});

	it("refuses a tampered value", () => {
		const sealed = box.seal("whsec_x", CONTEXT);
		const parts = sealed.split(":");
		const body = Buffer.from(parts[4]!, "base64url");
		body[0] ^= 1;
		const tampered = [...parts.slice(0, 4), body.toString("base64url")].join(":");
		expect(() => box.open(tampered, CONTEXT)).toThrow(/failed authentication/);
		const tag = Buffer.from(parts[4]!, "base64url");
		tag[tag.length - 1] ^= 1;
		expect(() => box.open([...parts.slice(0, 4), tag.toString("base64url")].join(":"), CONTEXT)).toThrow(/failed authentication/);
		expect(() => box.open(`${parts.slice(0, 4).join(":")}`, CONTEXT)).toThrow(/malformed/);
	});

	it("refuses a value moved to another row or column (associated data)", () => {
		const sealed = box.seal("whsec_x", CONTEXT);
		expect(() => box.open(sealed, CONTEXT.replace(":secret", ":previous_secret"))).toThrow(/failed authentication/);
		expect(() => box.open(sealed, "webhook-endpoint:00000000-0000-4000-8000-000000000002:secret")).toThrow(/failed authentication/);
	});

	it("rotates: a previous key opens, only the current one seals, and old values are due for resealing", () => {
		const next = randomBytes(32);
		const rotated = new SecretBox(next, [key]);
		const old = box.seal("whsec_x", CONTEXT);
		expect(rotated.open(old, CONTEXT)).toBe("whsec_x");
		expect(rotated.needsReseal(old)).toBe(true);
		expect(rotated.needsReseal("whsec_plain")).toBe(true);
		const resealed = rotated.reseal(old, CONTEXT);
		expect(resealed.split(":")[2]).toBe(secretKeyId(next));
		expect(rotated.needsReseal(resealed)).toBe(false);
		expect(rotated.open(resealed, CONTEXT)).toBe("whsec_x");
		expect(rotated.reseal("whsec_plain", CONTEXT)).toMatch(/^sealed:v1:/);
		// Once the old key is dropped, what it sealed no longer opens, and what the new one sealed still does.
		expect(() => new SecretBox(next).open(old, CONTEXT)).toThrow(secretKeyId(key));
		expect(new SecretBox(next).open(resealed, CONTEXT)).toBe("whsec_x");
	});

	it("takes 32-byte keys only", () => {
		expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
	});
});
