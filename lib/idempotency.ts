/**
 * Idempotency keys: the canonical request hash and the PostgreSQL store behind mixins/idempotency.mixin.ts.
 * Rows live in the `idempotency.keys` table (models/platform/idempotency/migrations), so every node of a
 * cluster, and the single embedded process, see the same claims.
 */
import crypto from "node:crypto";
import type { Sequelize } from "sequelize";
import { acquireSequelize, releaseSequelize } from "./database";

export const IDEMPOTENCY_SCHEMA = "idempotency";
/** What a stored response is kept (and its key reserved) for. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * An `in_progress` claim older than this is taken to be abandoned (its node died mid-request) and may be
 * claimed again. Far longer than any request may run (REQUEST_TIMEOUT_MS).
 */
export const IDEMPOTENCY_IN_PROGRESS_LEASE_MS = 5 * 60 * 1000;
/** What the gateway accepts as an Idempotency-Key: 1..255 printable ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7E]{1,255}$/;

function canonicalValue(value: unknown): unknown {
	if (value === null || typeof value !== "object") return value;
	const withJson = value as { toJSON?: () => unknown };
	if (typeof withJson.toJSON === "function") return canonicalValue(withJson.toJSON());
	if (Array.isArray(value)) return value.map((item) => (item === undefined || typeof item === "function" ? null : canonicalValue(item)));
	const record = value as Record<string, unknown>;
	const sorted: Record<string, unknown> = {};
	for (const key of Object.keys(record).sort()) {
		const item = record[key];
		if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
		sorted[key] = canonicalValue(item);
	}
	return sorted;
}

/** JSON with object keys sorted at every level, so equal requests serialise equally whatever their key order. */
export function canonicalJson(value: unknown): string {
	return JSON.stringify(canonicalValue(value)) ?? "null";
}

/** sha256 (hex) of the canonical JSON of a request's parameters. */
export function requestHash(params: unknown): string {
	return crypto.createHash("sha256").update(canonicalJson(params)).digest("hex");
}

export interface IdempotencyRecord {
	requestHash: string;
	status: "in_progress" | "completed";
	responseStatus: number | null;
	responseLocation: string | null;
	responseBody: unknown;
}

export interface StoredResponse {
	status?: number;
	location?: string;
	body: unknown;
}

interface KeyRow {
	request_hash: string;
	status: "in_progress" | "completed";
	response_status: number | null;
	response_location: string | null;
	response_body: unknown;
}

const TABLE = `"${IDEMPOTENCY_SCHEMA}"."keys"`;

export class IdempotencyStore {
	readonly sequelize: Sequelize;
	private released = false;

	constructor(
		private readonly url: string,
		private readonly ttlMs = IDEMPOTENCY_TTL_MS,
		private readonly leaseMs = IDEMPOTENCY_IN_PROGRESS_LEASE_MS,
	) {
		this.sequelize = acquireSequelize(url);
	}

	/**
	 * Claims (scope, key) for a new request. True when this caller now owns it: no row existed, or the
	 * existing one had expired or was an abandoned in-progress claim (those are overwritten).
	 */
	async claim(scope: string, key: string, hash: string): Promise<boolean> {
		const [rows] = await this.sequelize.query(
			`INSERT INTO ${TABLE} AS k (scope, key, request_hash, status, created_at, expires_at)
			 VALUES ($1, $2, $3, 'in_progress', now(), now() + $4::double precision * interval '1 millisecond')
			 ON CONFLICT (scope, key) DO UPDATE
			   SET request_hash = EXCLUDED.request_hash, status = 'in_progress', response_status = NULL,
			       response_location = NULL, response_body = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
			   WHERE k.expires_at <= now() OR (k.status = 'in_progress' AND k.created_at <= now() - $5::double precision * interval '1 millisecond')
			 RETURNING 1 AS claimed`,
			{ bind: [scope, key, hash, this.ttlMs, this.leaseMs] },
		);
		return (rows as unknown[]).length > 0;
	}

	/** The live (unexpired) record of (scope, key), if any. */
	async find(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
		const [rows] = await this.sequelize.query(
			`SELECT request_hash, status, response_status, response_location, response_body FROM ${TABLE}
			 WHERE scope = $1 AND key = $2 AND expires_at > now()`,
			{ bind: [scope, key] },
		);
		const row = (rows as KeyRow[])[0];
		if (!row) return undefined;
		return {
			requestHash: row.request_hash,
			status: row.status,
			responseStatus: row.response_status,
			responseLocation: row.response_location,
			responseBody: row.response_body,
		};
	}

	/** Stores the first response; later requests with the same key replay it. */
	async complete(scope: string, key: string, response: StoredResponse): Promise<void> {
		const body = response.body === undefined ? null : JSON.stringify(response.body);
		await this.sequelize.query(
			`UPDATE ${TABLE} SET status = 'completed', response_status = $3, response_location = $4, response_body = $5::jsonb
			 WHERE scope = $1 AND key = $2 AND status = 'in_progress'`,
			{ bind: [scope, key, response.status ?? null, response.location ?? null, body] },
		);
	}

	/** Gives up a claim (the request failed), so the client may retry with the same key. */
	async release(scope: string, key: string): Promise<void> {
		await this.sequelize.query(`DELETE FROM ${TABLE} WHERE scope = $1 AND key = $2 AND status = 'in_progress'`, { bind: [scope, key] });
	}

	/** Deletes expired rows; returns how many. */
	async sweep(): Promise<number> {
		const [, result] = await this.sequelize.query(`DELETE FROM ${TABLE} WHERE expires_at <= now()`);
		return (result as { rowCount?: number } | undefined)?.rowCount ?? 0;
	}

	async close(): Promise<void> {
		if (this.released) return;
		this.released = true;
		await releaseSequelize(this.url);
	}
}
