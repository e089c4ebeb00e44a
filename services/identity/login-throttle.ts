/**
 * Login throttling as Keycloak's brute-force detection and OWASP describe it: increasing waits rather than a
 * lock, so a stranger's wrong passwords can't keep an owner out.
 *
 * Three scopes, each a counter of recent failures with an exponential wait (capped) once its free failures
 * are spent:
 * - (account, address): guessing one account from one place. The tight one.
 * - account, from any address: guessing one account from many places. Skipped for an address this account
 *   signed in from before with its password (a known address), so an attacker elsewhere can't keep the
 *   owner out.
 * - address, for any account: spraying many accounts from one place. Its ceiling is much higher, since an
 *   office NAT (or a load balancer while TRUST_PROXY is off) puts many people behind one address; known
 *   addresses skip it too.
 *
 * An attempt is claimed before the password is checked: the counters are raised, under a row lock, only when
 * no scope is waiting, and a correct password gives the claim back. Concurrent guesses therefore can't slip
 * past the count, and attempts refused during a wait don't lengthen it. Everything lives in PostgreSQL, so it
 * holds across auth nodes and restarts (embedded mode included). Keys are HMACs under a key derived from
 * SECRETS_KEY: neither emails nor addresses are stored readable, and nothing depends on the account existing.
 */
import { createHmac } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { Op, type Sequelize } from "sequelize";
import type { ModelOf } from "../../mixins/db.mixin";
import type { KnownAddressModel, LoginThrottleModel, LoginThrottleRow, ThrottleScope } from "../../models/identity/auth/auth.models";

export interface ThrottlePolicy {
	/** Failures allowed before the first wait. */
	free: number;
	/** The first wait; each further failure doubles it. */
	baseMs: number;
	capMs: number;
	/** Failures are forgotten after this long without one. */
	resetMs: number;
}

export type { ThrottleScope } from "../../models/identity/auth/auth.models";

const HOUR_MS = 3_600_000;

export const THROTTLE_POLICIES: Record<ThrottleScope, ThrottlePolicy> = {
	pair: { free: 5, baseMs: 2_000, capMs: 15 * 60_000, resetMs: 12 * HOUR_MS },
	account: { free: 20, baseMs: 2_000, capMs: 15 * 60_000, resetMs: 12 * HOUR_MS },
	address: { free: 100, baseMs: 2_000, capMs: 15 * 60_000, resetMs: HOUR_MS },
};

/** An address an account signed in from stays known this long after its last sign-in there. */
export const KNOWN_ADDRESS_TTL_MS = 90 * 24 * HOUR_MS;

/** The wait after `failures` failures in a row. */
export function waitAfter(policy: ThrottlePolicy, failures: number): number {
	if (failures < policy.free) return 0;
	return Math.min(policy.baseMs * 2 ** Math.min(failures - policy.free, 30), policy.capMs);
}

/** No wait is no date: clocks of different nodes never make a free attempt look blocked. */
function blockedAfter(fromMs: number, waitMs: number): Date | null {
	return waitMs > 0 ? new Date(fromMs + waitMs) : null;
}

function ipv4Groups(value: string): string[] {
	const bytes = value.split(".").map(Number);
	return [((bytes[0] << 8) | bytes[1]).toString(16), ((bytes[2] << 8) | bytes[3]).toString(16)];
}

/**
 * What counts as one address: an IPv4 address (IPv4-mapped IPv6 included), or an IPv6 /64, the block one
 * subscriber usually gets, so rotating through it doesn't reset the counters.
 */
export function addressBucket(ip: string | undefined): string {
	const value = (ip ?? "").trim().toLowerCase().split("%")[0];
	if (!value) return "unknown";
	const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(value);
	if (mapped) return mapped[1];
	if (isIPv4(value)) return value;
	if (!isIPv6(value)) return value.slice(0, 64);
	const halves = value.split("::");
	const groups = (part: string | undefined) => (part ? part.split(":").flatMap((group) => (group.includes(".") ? ipv4Groups(group) : [group])) : []);
	const head = groups(halves[0]);
	const tail = groups(halves[1]);
	const full = [...head, ...Array<string>(halves.length > 1 ? 8 - head.length - tail.length : 0).fill("0"), ...tail];
	return `${full
		.slice(0, 4)
		.map((group) => parseInt(group, 16).toString(16))
		.join(":")}::/64`;
}

function normalizeEmail(email: string): string {
	return email.trim().toLowerCase();
}

interface ClaimedKey {
	keyHash: string;
	scope: ThrottleScope;
}

export type LoginAttempt = { allowed: true; keys: ClaimedKey[]; knownKey: string } | { allowed: false; retryAfterSeconds: number };

export class LoginThrottle {
	private readonly secret: Buffer;

	constructor(
		private readonly db: Sequelize,
		private readonly throttles: ModelOf<typeof LoginThrottleModel>,
		private readonly knownAddresses: ModelOf<typeof KnownAddressModel>,
		secretsKey: Buffer | undefined,
		private readonly policies: Record<ThrottleScope, ThrottlePolicy> = THROTTLE_POLICIES,
	) {
		// Without SECRETS_KEY (development and tests only) the HMAC still separates scopes, but hides little.
		this.secret = createHmac("sha256", secretsKey ?? "lattice").update("lattice:login-throttle").digest();
	}

	private hash(...parts: string[]): string {
		return createHmac("sha256", this.secret).update(parts.join("\n")).digest("hex");
	}

	private knownKey(email: string, ip: string | undefined): string {
		return this.hash("known", normalizeEmail(email), addressBucket(ip));
	}

	private accountHash(email: string): string {
		return this.hash("account", normalizeEmail(email));
	}

	private addressHash(ip: string | undefined): string {
		return this.hash("address", addressBucket(ip));
	}

	/**
	 * Claims one attempt to sign in to `email` from `ip`: refused with the seconds to wait while any scope
	 * waits, else counted as a failure until `succeeded` or `release` gives it back.
	 */
	async claim(email: string, ip: string | undefined, at?: Date): Promise<LoginAttempt> {
		const account = this.accountHash(email);
		const address = this.addressHash(ip);
		const knownKey = this.knownKey(email, ip);
		const known = await this.knownAddresses.count({ where: { keyHash: knownKey, lastSeenAt: { [Op.gt]: new Date((at ?? new Date()).getTime() - KNOWN_ADDRESS_TTL_MS) } } });
		// Sorted by key: inserts and row locks are taken in one order, so concurrent claims never deadlock.
		const wanted: (ClaimedKey & { accountHash: string | null; addressHash: string | null })[] = [
			{ keyHash: this.hash("pair", normalizeEmail(email), addressBucket(ip)), scope: "pair" as const, accountHash: account, addressHash: address },
			...(known > 0
				? []
				: [
						{ keyHash: account, scope: "account" as const, accountHash: account, addressHash: null },
						{ keyHash: address, scope: "address" as const, accountHash: null, addressHash: address },
					]),
		].sort((a, b) => (a.keyHash < b.keyHash ? -1 : 1));
		const attempt = await this.db.transaction<LoginAttempt>(async (transaction) => {
			await this.throttles.bulkCreate(
				wanted.map((key) => ({ ...key, failures: 0 })),
				{ ignoreDuplicates: true, transaction },
			);
			// Locked in key order, so two claims sharing keys never wait for each other crosswise.
			const rows = (
				await this.throttles.findAll({ where: { keyHash: wanted.map((key) => key.keyHash) }, order: [["keyHash", "ASC"]], lock: transaction.LOCK.UPDATE, transaction })
			).map((row) => row.get({ plain: true }));
			// Read once the rows are ours: a claim that queued behind others decides at the time it decides.
			const now = at ?? new Date();
			let waitMs = 0;
			for (const row of rows) {
				if (row.blockedUntil && row.blockedUntil > now && !this.expired(row, now)) waitMs = Math.max(waitMs, row.blockedUntil.getTime() - now.getTime());
			}
			if (waitMs > 0) return { allowed: false, retryAfterSeconds: Math.ceil(waitMs / 1000) };
			for (const row of rows) {
				const failures = (this.expired(row, now) ? 0 : row.failures) + 1;
				const blockedUntil = blockedAfter(now.getTime(), waitAfter(this.policies[row.scope], failures));
				await this.throttles.update({ failures, lastFailureAt: now, blockedUntil }, { where: { keyHash: row.keyHash }, transaction });
			}
			return { allowed: true, keys: wanted.map(({ keyHash, scope }) => ({ keyHash, scope })), knownKey };
		});
		if (Math.random() < 0.01) void this.sweep().catch(() => undefined);
		return attempt;
	}

	/** A correct password: the attempt and the typos before it from this address weren't attacks, and the address is known from now on. */
	async succeeded(attempt: LoginAttempt, userId: string, now = new Date()): Promise<void> {
		if (!attempt.allowed) return;
		await this.release(attempt, true);
		await this.knownAddresses.upsert({ keyHash: attempt.knownKey, userId, lastSeenAt: now });
	}

	/** The account was just created, or signed in another way (OpenID Connect), from this address: it is known from now on. */
	async remember(email: string, ip: string | undefined, userId: string, now = new Date()): Promise<void> {
		await this.knownAddresses.upsert({ keyHash: this.knownKey(email, ip), userId, lastSeenAt: now });
	}

	/**
	 * Gives a claimed attempt back: with no verdict on the password, its failure leaves every scope. With a
	 * correct password (`vouched`), the failures of its (account, address) before it are taken as the owner's
	 * typos: that counter starts afresh and the account and address counters lose them too. Failures on other
	 * accounts stay, so signing in to one's own account doesn't wipe a spray from the same address.
	 */
	async release(attempt: LoginAttempt, vouched = false): Promise<void> {
		if (!attempt.allowed) return;
		await this.db.transaction(async (transaction) => {
			const rows = (
				await this.throttles.findAll({ where: { keyHash: attempt.keys.map((key) => key.keyHash) }, order: [["keyHash", "ASC"]], lock: transaction.LOCK.UPDATE, transaction })
			).map((row) => row.get({ plain: true }));
			// The pair's count includes this attempt's own claim.
			const givenBack = vouched ? Math.max(rows.find((row) => row.scope === "pair")?.failures ?? 1, 1) : 1;
			for (const row of rows) {
				if (row.scope === "pair" && vouched) {
					await this.throttles.destroy({ where: { keyHash: row.keyHash }, transaction });
					continue;
				}
				const failures = Math.max(row.failures - givenBack, 0);
				const from = row.lastFailureAt?.getTime() ?? Date.now();
				await this.throttles.update({ failures, blockedUntil: blockedAfter(from, waitAfter(this.policies[row.scope], failures)) }, { where: { keyHash: row.keyHash }, transaction });
			}
		});
	}

	/** Lifts every throttle of an account (from every address) and/or of an address (for every account). */
	async clear(target: { email?: string; ip?: string }): Promise<number> {
		const or: Record<string, string>[] = [];
		if (target.email) or.push({ keyHash: this.accountHash(target.email) }, { accountHash: this.accountHash(target.email) });
		if (target.ip) or.push({ keyHash: this.addressHash(target.ip) }, { addressHash: this.addressHash(target.ip) });
		if (or.length === 0) return 0;
		return this.throttles.destroy({ where: { [Op.or]: or } });
	}

	/** A deleted account's known addresses go with it (its email may be taken again by someone else). */
	async forgetUser(userId: string): Promise<void> {
		await this.knownAddresses.destroy({ where: { userId } });
	}

	private expired(row: LoginThrottleRow, now: Date): boolean {
		return !row.lastFailureAt || now.getTime() - row.lastFailureAt.getTime() > this.policies[row.scope].resetMs;
	}

	/** Counters nobody has failed for since the longest reset, and addresses not seen for their lifetime. */
	async sweep(now = new Date()): Promise<void> {
		const longest = Math.max(...Object.values(this.policies).map((policy) => policy.resetMs));
		await this.throttles.destroy({
			where: { [Op.or]: [{ lastFailureAt: null }, { lastFailureAt: { [Op.lt]: new Date(now.getTime() - longest) } }], [Op.and]: [{ [Op.or]: [{ blockedUntil: null }, { blockedUntil: { [Op.lt]: now } }] }] },
		});
		await this.knownAddresses.destroy({ where: { lastSeenAt: { [Op.lt]: new Date(now.getTime() - KNOWN_ADDRESS_TTL_MS) } } });
	}
}
