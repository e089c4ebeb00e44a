/**
 * Passwords and opaque tokens. Hashing runs on libuv's thread pool (@node-rs/argon2), so a burst of logins
 * never blocks the event loop that serves everyone else.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import os from "node:os";
import { hash as argon2Hash, verify as argon2Verify } from "@node-rs/argon2";
import { ConcurrencyLimit } from "../../lib/concurrency";

// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * Hashing is off the event loop but not free: each one takes tens of milliseconds of a core. Left
 * unbounded, a burst of logins takes every core and the event loop starves anyway; with all but one core
 * for hashing, logins queue and every other request keeps being served.
 */
const hashing = new ConcurrencyLimit(Math.max(1, os.availableParallelism() - 1));

export function hashPassword(password: string): Promise<string> {
	return hashing.run(() => argon2Hash(password, ARGON2_OPTIONS));
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
	try {
		return await hashing.run(() => argon2Verify(hash, password));
	} catch {
		return false;
	}
}

/**
 * A hash to verify against when the account doesn't exist, so an unknown email costs the same time as a
 * wrong password and the two can't be told apart.
 */
let decoyHash: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
	decoyHash ??= hashPassword(randomBytes(16).toString("hex"));
	return decoyHash;
}

/** A random URL-safe token with enough entropy to be unguessable (256 bits). */
export function randomToken(bytes = 32): string {
	return randomBytes(bytes).toString("base64url");
}

/** Tokens are stored as SHA-256: they are random, so a slow hash adds nothing and lookups stay indexed. */
export function hashToken(token: string): string {
	return createHash("sha256").update(token).digest("hex");
}

export function safeEqual(a: string, b: string): boolean {
	const left = Buffer.from(a);
	const right = Buffer.from(b);
	return left.length === right.length && timingSafeEqual(left, right);
}

export interface PasswordPolicyViolation {
	field: string;
	message: string;
	type: string;
}

/** Length ≥ 10 and not the email (nor its local part); returns what is wrong, or nothing. */
export function checkPasswordPolicy(password: string, email?: string): PasswordPolicyViolation | undefined {
	if (password.length < 10) return { field: "password", message: "The password must be at least 10 characters long", type: "passwordTooShort" };
	if (password.length > 256) return { field: "password", message: "The password must be at most 256 characters long", type: "passwordTooLong" };
	if (email) {
		const lowered = password.toLowerCase();
		const address = email.toLowerCase();
		if (lowered === address || lowered === address.split("@")[0]) {
			return { field: "password", message: "The password must not be your email address", type: "passwordIsEmail" };
		}
	}
	return undefined;
}
