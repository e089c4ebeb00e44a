/**
 * Secrets the platform must be able to read back (webhook signing secrets, JWT private keys) are sealed with
 * an application key that lives outside the database, so a dump or a backup of PostgreSQL alone leaks none.
 *
 * A sealed value describes itself: `sealed:v1:<key id>:<iv>:<ciphertext and GCM tag>` (base64url). The key
 * id is derived from the key, so after a rotation each value names the key that opens it. Every value is
 * bound to what it is (`context`, e.g. "webhook-endpoint:<id>:secret") as associated data: a sealed value
 * copied into another row, or another column, doesn't open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const PREFIX = "sealed:v1:";
const ALGORITHM = "aes-256-gcm";
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SECRET_KEY_BYTES = 32;

export class SecretBoxError extends Error {
	constructor(message: string) {
		super(message);
		this.name = "SecretBoxError";
	}
}

/** Eight hex characters of the key's SHA-256: enough to tell a handful of keys apart, nothing about the key. */
export function secretKeyId(key: Buffer): string {
	return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

export function isSealed(value: string): boolean {
	return value.startsWith(PREFIX);
}

export class SecretBox {
	private readonly current?: { id: string; key: Buffer };
	private readonly keys = new Map<string, Buffer>();

	/** No key: values are stored as they are (development and tests only; production config requires one). */
	constructor(key?: Buffer, previous: readonly Buffer[] = []) {
		for (const candidate of [key, ...previous]) {
			if (candidate === undefined) continue;
			if (candidate.length !== SECRET_KEY_BYTES) throw new SecretBoxError(`A secrets key is ${SECRET_KEY_BYTES} bytes`);
			this.keys.set(secretKeyId(candidate), candidate);
		}
		if (key) this.current = { id: secretKeyId(key), key };
	}

	get sealing(): boolean {
		return this.current !== undefined;
	}

	/** How every value sealed with the current key starts (for SQL that finds the others); undefined without a key. */
	get currentPrefix(): string | undefined {
		return this.current && `${PREFIX}${this.current.id}:`;
	}

	seal(plain: string, context: string): string {
		if (!this.current) return plain;
		const iv = randomBytes(IV_BYTES);
		const cipher = createCipheriv(ALGORITHM, this.current.key, iv);
		cipher.setAAD(associatedData(this.current.id, context));
		const sealed = Buffer.concat([cipher.update(plain, "utf8"), cipher.final(), cipher.getAuthTag()]);
		return `${PREFIX}${this.current.id}:${iv.toString("base64url")}:${sealed.toString("base64url")}`;
	}

	/** A value without the prefix was stored before sealing (or without a key) and is answered as it is. */
	open(stored: string, context: string): string {
		if (!isSealed(stored)) return stored;
		const [keyId, ivText, sealedText, ...rest] = stored.slice(PREFIX.length).split(":");
		if (!keyId || !ivText || !sealedText || rest.length > 0) throw new SecretBoxError(`A sealed value for ${context} is malformed`);
		const key = this.keys.get(keyId);
		if (!key) {
			throw new SecretBoxError(`A value for ${context} is sealed with secrets key ${keyId}, which is neither SECRETS_KEY nor in SECRETS_KEY_PREVIOUS`);
		}
		const iv = Buffer.from(ivText, "base64url");
		const sealed = Buffer.from(sealedText, "base64url");
		if (iv.length !== IV_BYTES || sealed.length < TAG_BYTES) throw new SecretBoxError(`A sealed value for ${context} is malformed`);
		try {
			const decipher = createDecipheriv(ALGORITHM, key, iv);
			decipher.setAAD(associatedData(keyId, context));
			decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
			return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]).toString("utf8");
		} catch {
			// GCM says only "not authentic": a changed byte, another row's value, or a key that merely shares an id.
			throw new SecretBoxError(`A sealed value for ${context} failed authentication (altered, or sealed for something else)`);
		}
	}

	/** Whether a stored value should be sealed again: still readable, or sealed with a key other than the current one. */
	needsReseal(stored: string): boolean {
		const prefix = this.currentPrefix;
		return prefix !== undefined && !stored.startsWith(prefix);
	}

	/** The value sealed with the current key (opened with whichever key sealed it). */
	reseal(stored: string, context: string): string {
		return this.seal(this.open(stored, context), context);
	}
}

function associatedData(keyId: string, context: string): Buffer {
	return Buffer.from(`${PREFIX}${keyId}:${context}`, "utf8");
}
