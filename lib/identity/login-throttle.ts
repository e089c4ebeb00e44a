/**
 * Login throttling: after 5 failures in 15 minutes for an account, or from an address, further attempts
 * are refused with Retry-After until the oldest failure leaves the window. Kept in PostgreSQL so it holds
 * across auth nodes and restarts, embedded mode included.
 */
import { Op, type Model, type ModelStatic } from "sequelize";

export const MAX_FAILURES = 5;
export const FAILURE_WINDOW_MS = 15 * 60 * 1000;

export function accountKey(email: string): string {
	return `email:${email.trim().toLowerCase()}`;
}

export function addressKey(ip: string): string {
	return `ip:${ip}`;
}

export class LoginThrottle {
	constructor(private readonly failures: ModelStatic<Model>) {}

	/** Seconds until an attempt is allowed again, or 0 when it is allowed now. */
	async retryAfterSeconds(keys: string[], now = Date.now()): Promise<number> {
		const since = new Date(now - FAILURE_WINDOW_MS);
		let wait = 0;
		for (const key of keys) {
			const recent = await this.failures.findAll({
				where: { throttleKey: key, failedAt: { [Op.gt]: since } },
				order: [["failedAt", "DESC"]],
				limit: MAX_FAILURES,
				attributes: ["failedAt"],
			});
			if (recent.length >= MAX_FAILURES) {
				// The window frees up when the oldest of the last five failures is 15 minutes old.
				const oldest = new Date(recent[recent.length - 1].get("failedAt") as Date).getTime();
				wait = Math.max(wait, Math.ceil((oldest + FAILURE_WINDOW_MS - now) / 1000));
			}
		}
		return wait;
	}

	async recordFailure(keys: string[]): Promise<void> {
		const now = new Date();
		await this.failures.bulkCreate(keys.map((throttleKey) => ({ throttleKey, failedAt: now })));
		await this.failures.destroy({ where: { throttleKey: keys, failedAt: { [Op.lt]: new Date(now.getTime() - FAILURE_WINDOW_MS) } } });
	}

	async clear(keys: string[]): Promise<number> {
		return this.failures.destroy({ where: { throttleKey: keys } });
	}
}
