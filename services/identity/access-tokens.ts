/**
 * Short-lived access tokens: ES256 JWTs whose header names the signing key (`kid`), so keys can rotate
 * while tokens signed by the previous key stay valid until they expire.
 */
import { randomUUID } from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK, type JWTPayload, type CryptoKey } from "jose";
import type { Persona, TenantRole } from "../../lib/caller";
import type { SecretBox } from "../../lib/secret-box";

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const TOKEN_ISSUER = "lattice";
export const TOKEN_AUDIENCE = "lattice-api";
const ALGORITHM = "ES256";

export interface AccessClaims {
	sub: string;
	sid: string;
	tid: string | null;
	role: TenantRole | null;
	persona: Persona;
	email: string;
}

export interface StoredSigningKey {
	kid: string;
	algorithm: string;
	privateJwk: JWK;
	publicJwk: JWK;
	status: "active" | "retired";
}

/**
 * The private key as the `private_jwk` column holds it: sealed with SECRETS_KEY into a JSON string, bound to
 * its kid; as a JWK object when no key is configured (development), as before sealing existed.
 */
export function sealPrivateJwk(box: SecretBox, kid: string, jwk: JWK): JWK | string {
	return box.sealing ? box.seal(JSON.stringify(jwk), privateJwkContext(kid)) : jwk;
}

export function openPrivateJwk(box: SecretBox, kid: string, stored: JWK | string): JWK {
	return typeof stored === "string" ? (JSON.parse(box.open(stored, privateJwkContext(kid))) as JWK) : stored;
}

function privateJwkContext(kid: string): string {
	return `signing-key:${kid}:private-jwk`;
}

export async function generateSigningKey(): Promise<StoredSigningKey> {
	const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { extractable: true });
	const kid = `k_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
	const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALGORITHM, use: "sig" };
	const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALGORITHM, use: "sig" };
	return { kid, algorithm: ALGORITHM, privateJwk, publicJwk, status: "active" };
}

/** Signing and verification keys by kid, imported once. */
export class KeyRing {
	private readonly verifiers = new Map<string, CryptoKey | Uint8Array>();
	private signer?: { kid: string; key: CryptoKey | Uint8Array };

	async load(keys: StoredSigningKey[]): Promise<void> {
		this.verifiers.clear();
		this.signer = undefined;
		for (const key of keys) {
			this.verifiers.set(key.kid, await importJWK(key.publicJwk, ALGORITHM));
			if (key.status === "active") this.signer = { kid: key.kid, key: await importJWK(key.privateJwk, ALGORITHM) };
		}
	}

	has(kid: string): boolean {
		return this.verifiers.has(kid);
	}

	async sign(claims: AccessClaims): Promise<string> {
		if (!this.signer) throw new Error("No active signing key");
		const { sub, ...rest } = claims;
		return new SignJWT({ ...rest } as JWTPayload)
			.setProtectedHeader({ alg: ALGORITHM, kid: this.signer.kid, typ: "JWT" })
			.setSubject(sub)
			.setIssuer(TOKEN_ISSUER)
			.setAudience(TOKEN_AUDIENCE)
			.setIssuedAt()
			.setJti(randomUUID())
			.setExpirationTime(`${ACCESS_TOKEN_TTL_SECONDS}s`)
			.sign(this.signer.key);
	}

	/** Throws for a bad signature, an unknown kid, a wrong issuer or audience, or an expired token. */
	async verify(token: string): Promise<AccessClaims> {
		const { payload } = await jwtVerify(
			token,
			async (header) => {
				const key = header.kid ? this.verifiers.get(header.kid) : undefined;
				if (!key) throw new Error("unknown signing key");
				return key;
			},
			{ issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, algorithms: [ALGORITHM] },
		);
		return payload as unknown as AccessClaims;
	}
}

/** The kid a token claims, without trusting anything else in it (to know whether to reload keys). */
export function peekKid(token: string): string | undefined {
	try {
		const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8")) as { kid?: unknown };
		return typeof header.kid === "string" ? header.kid : undefined;
	} catch {
		return undefined;
	}
}
