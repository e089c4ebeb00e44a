/**
 * Billing's one door to the plans service (services/billing/plans.service.ts, built beside this one): every
 * call billing makes to it is here, as platform work, so wiring or replacing it touches this file only.
 *
 *   plans.current {code}              → PublicPlan (the code's current version; 404 when unknown)
 *   plans.getVersion {id}             → PublicPlan (any version, archived ones included; 404 when unknown)
 *   plans.freePlan {}                 → PublicPlan (the seeded `free` plan)
 *   plans.redeemCoupon {code, currency, at} → PublicCoupon (atomic +1 redemption at billing time `at`; 422 COUPON_INVALID otherwise)
 *   plans.metrics {}                  → PublicMetric[]
 *
 * Plan versions never change what they cost once made (a price change makes a new version), so they are
 * remembered here for a short while: a renewal or a page of subscriptions asks once per version.
 */
import type { ServiceBroker } from "moleculer";
import { systemCall } from "../../lib/caller";
import { UnprocessableEntityError } from "../../lib/errors";
import { ExpiringMap } from "../../lib/expiring-map";
import type { PublicCoupon, PublicMetric, PublicPlan } from "./contracts";

const VERSION_TTL_MS = 30_000;

/** A 404 the plans service answered itself (not a missing service, which Moleculer also numbers 404 but marks retryable). */
export function isNotFound(err: unknown): boolean {
	const error = err as { code?: unknown; retryable?: boolean };
	return error.code === 404 && !error.retryable;
}

/** The called action refused its params (Moleculer's validation error, or the platform validator's 400). */
function isInvalidParams(err: unknown): boolean {
	const error = err as { name?: string; type?: string; retryable?: boolean };
	return !error.retryable && (error.name === "ValidationError" || error.type === "VALIDATION_ERROR");
}

export class PlansAdapter {
	private readonly versions = new ExpiringMap<PublicPlan>(2000);

	constructor(private readonly broker: ServiceBroker) {}

	/** The current version of a plan code, or undefined when no plan has (or could have) that code. */
	async current(code: string): Promise<PublicPlan | undefined> {
		try {
			return this.remember(await this.broker.call<PublicPlan, { code: string }>("plans.current", { code }, systemCall()));
		} catch (err) {
			// plans refuses a code that can't be one (its pattern) as invalid params: no plan has it either.
			if (isNotFound(err) || isInvalidParams(err)) return undefined;
			throw err;
		}
	}

	async getVersion(id: string): Promise<PublicPlan> {
		const known = this.versions.get(id);
		if (known) return known;
		return this.remember(await this.broker.call<PublicPlan, { id: string }>("plans.getVersion", { id }, systemCall()));
	}

	async freePlan(): Promise<PublicPlan> {
		return this.remember(await this.broker.call<PublicPlan, object>("plans.freePlan", {}, systemCall()));
	}

	/**
	 * Redeems the coupon for a subscription in `currency`, judged at `at` (the tenant's billing time); plans refuses
	 * with 422 COUPON_INVALID, which passes through (a code that can't be one too).
	 */
	async redeemCoupon(code: string, currency: string, at: Date): Promise<PublicCoupon> {
		try {
			return await this.broker.call<PublicCoupon, { code: string; currency: string; at: string }>("plans.redeemCoupon", { code, currency, at: at.toISOString() }, systemCall());
		} catch (err) {
			if (isInvalidParams(err)) throw new UnprocessableEntityError(`Coupon ${code} can't be redeemed`, "COUPON_INVALID", { reason: "unknown" });
			throw err;
		}
	}

	metrics(): Promise<PublicMetric[]> {
		return this.broker.call<PublicMetric[], object>("plans.metrics", {}, systemCall());
	}

	private remember(plan: PublicPlan): PublicPlan {
		this.versions.set(plan.id, plan, Date.now() + VERSION_TTL_MS);
		return plan;
	}
}
