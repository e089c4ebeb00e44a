/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, what Svix sends): a secret `whsec_` +
 * base64 of random bytes; each request carries `webhook-id`, `webhook-timestamp` (unix seconds) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body" keyed with the secret's bytes>`,
 * several space-separated while a rotated secret is still honoured.
 */
import { createHmac, randomBytes } from "node:crypto";

export const SECRET_PREFIX = "whsec_";
/** Standard Webhooks asks for 24 to 64 bytes. */
const SECRET_BYTES = 32;

export function newWebhookSecret(): string {
	return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString("base64")}`;
}

function secretBytes(secret: string): Buffer {
	if (!secret.startsWith(SECRET_PREFIX)) throw new Error("A webhook secret starts with whsec_");
	return Buffer.from(secret.slice(SECRET_PREFIX.length), "base64");
}

/** `v1,<signature>` for each secret, space-separated (the current secret first). */
export function signWebhook(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
	const content = `${id}.${timestampSeconds}.${body}`;
	return secrets.map((secret) => `v1,${createHmac("sha256", secretBytes(secret)).update(content).digest("base64")}`).join(" ");
}

export interface WebhookHeaders {
	"webhook-id": string;
	"webhook-timestamp": string;
	"webhook-signature": string;
}

export function webhookHeaders(secrets: readonly string[], id: string, body: string, now = new Date()): WebhookHeaders {
	const timestamp = Math.floor(now.getTime() / 1000);
	return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signWebhook(secrets, id, timestamp, body) };
}
