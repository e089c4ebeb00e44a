/**
 * Coupons (a mixin of plans.service.ts), as Stripe's: a percentage (basis points) or a fixed amount in one
 * currency off each invoice, for `once` (the first invoice), `repeating` (N billing periods) or `forever`;
 * optionally at most `maxRedemptions` times and until `expiresAt`. Super admins create and archive them
 * (`DELETE` archives: subscriptions keep the discount they redeemed). Codes are matched without regard to case.
 *
 * `plans.redeemCoupon` is the one way a redemption is counted: a single `UPDATE … WHERE <still redeemable>
 * RETURNING`, so two subscriptions racing for the last redemption can't both get it.
 */
import type { Context, ServiceSchema } from "moleculer";
import { col, literal, Op, type WhereOptions } from "sequelize";
import { newestFirstPage, PAGE_PARAMS, plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { created } from "../../lib/api-path";
import { currencyRule } from "../../lib/currency";
import { PageOf } from "../../lib/schema";
import type { CallerMeta } from "../../lib/caller";
import { COUPON_CODE_PATTERN, PLANS_EVENTS, PublicCouponSchema, type CouponChangedEvent, type CouponInvalidReason, type PlanStatus, type PublicCoupon, type RedeemCouponParams } from "./contracts";
import type { CouponModel, MetricModel, PlanModel } from "../../models/billing/plans/plan.models";
import { couponFieldRules, couponProblems, invalidFields, pathCodeRule, statusFilterRule, toPublicCoupon, type CouponInput, type CouponRow } from "./plan-rules";

export interface CouponsMethods {
	loadCoupon(code: string): Promise<CouponRow>;
	/** Why a coupon can't be redeemed now (after the guarded update found it couldn't). */
	whyNotRedeemable(code: string, currency: string, at: Date): Promise<CouponInvalidReason>;
	couponChanged(ctx: Context, change: CouponChangedEvent["change"], row: CouponRow): Promise<PublicCoupon>;
}

type CouponsContext<P = Record<string, unknown>> = Context<P, CallerMeta>;

const CouponsSchema: Partial<DbServiceSchema<DbMixinSettings, CouponsMethods, unknown, typeof PlanModel, typeof MetricModel | typeof CouponModel>> = {
	actions: {
		listCoupons: {
			rest: "GET /coupons",
			responses: { 200: { description: "A page of coupons, newest first", body: PageOf(PublicCouponSchema) } },
			permissions: ["super_admin"],
			summary: "Coupons (every status, unless filtered)",
			params: { ...PAGE_PARAMS, status: { ...statusFilterRule, description: "active or archived; every coupon when left out" }, $$strict: "remove" },
			async handler(ctx: CouponsContext<{ page: number; pageSize: number; status?: PlanStatus }>) {
				const { page, pageSize, status } = ctx.params;
				return newestFirstPage(this.models.coupon, status ? { status } : {}, page, pageSize, toPublicCoupon);
			},
		},

		getCoupon: {
			rest: "GET /coupons/:code",
			responses: { 200: { description: "The coupon, with how many times it was redeemed", body: PublicCouponSchema } },
			permissions: ["super_admin"],
			summary: "One coupon",
			params: { code: pathCodeRule },
			async handler(ctx: CouponsContext<{ code: string }>) {
				return toPublicCoupon(await this.loadCoupon(ctx.params.code));
			},
		},

		createCoupon: {
			rest: "POST /coupons",
			responses: { 201: { description: "The new coupon", body: PublicCouponSchema, headers: { Location: "The coupon's URL" } } },
			errors: { 409: ["ALREADY_EXISTS"] },
			permissions: ["super_admin"],
			summary: "Add a coupon",
			description:
				"Either `percentOffBasisPoints` (25 % = 2500) or `amountOff` with its `currency`. `duration`: `once`, `repeating` (with `durationPeriods`) or `forever`. The code is stored upper case and matched without regard to case.",
			params: { ...couponFieldRules, $$strict: "remove" },
			async handler(ctx: CouponsContext<CouponInput & { code: string; name: string; maxRedemptions?: number | null }>) {
				const problems = couponProblems(ctx.params, new Date());
				if (problems.length > 0) throw invalidFields(problems);
				const params = ctx.params;
				// The unique index answers a duplicate (409 ALREADY_EXISTS), also when two create the same code at once.
				const row = (
					await this.models.coupon.create({
						code: params.code,
						name: params.name,
						percentOffBasisPoints: params.percentOffBasisPoints ?? null,
						amountOff: params.amountOff ?? null,
						currency: params.currency ?? null,
						duration: params.duration,
						durationPeriods: params.durationPeriods ?? null,
						maxRedemptions: params.maxRedemptions ?? null,
						expiresAt: params.expiresAt ?? null,
						status: "active",
					})
				).get({ plain: true });
				const coupon = await this.couponChanged(ctx, "created", row);
				created(ctx, "coupons", row.code);
				return coupon;
			},
		},

		archiveCoupon: {
			rest: "DELETE /coupons/:code",
			responses: { 204: "Archived (also when it already was): no new redemptions; subscriptions keep theirs" },
			permissions: ["super_admin"],
			summary: "Archive a coupon",
			params: { code: pathCodeRule },
			async handler(ctx: CouponsContext<{ code: string }>) {
				const before = await this.loadCoupon(ctx.params.code);
				if (before.status !== "archived") {
					const [, rows] = await this.models.coupon.update({ status: "archived" }, { where: { id: before.id }, returning: true });
					await this.couponChanged(ctx, "archived", rows[0].get({ plain: true }));
				}
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Internal: counts one redemption if the coupon may still be redeemed (see RedeemCouponParams); else 422 COUPON_INVALID. */
		redeemCoupon: {
			visibility: "public",
			permissions: ["super_admin"],
			params: { code: pathCodeRule, currency: currencyRule, at: { type: "date", convert: true, optional: true } },
			async handler(ctx: CouponsContext<Omit<RedeemCouponParams, "at"> & { at?: Date }>) {
				const code = ctx.params.code.trim().toUpperCase();
				const at = ctx.params.at ?? new Date();
				const redeemable: WhereOptions = {
					code,
					status: "active",
					[Op.and]: [
						{ [Op.or]: [{ expiresAt: null }, { expiresAt: { [Op.gt]: at } }] },
						{ [Op.or]: [{ maxRedemptions: null }, { timesRedeemed: { [Op.lt]: col("max_redemptions") } }] },
						{ [Op.or]: [{ currency: null }, { currency: ctx.params.currency }] },
					],
				};
				const [count, rows] = COUPON_CODE_PATTERN.test(code)
					? await this.models.coupon.update({ timesRedeemed: literal("times_redeemed + 1") }, { where: redeemable, returning: true })
					: [0, []];
				if (count === 1) return toPublicCoupon(rows[0].get({ plain: true }));
				const reason = await this.whyNotRedeemable(code, ctx.params.currency, at);
				throw new UnprocessableEntityError(`The coupon ${code} can't be redeemed (${reason.replace("_", " ")})`, "COUPON_INVALID", { code, reason });
			},
		},
	},

	methods: {
		async loadCoupon(code: string) {
			const normalized = code.trim().toUpperCase();
			const row = COUPON_CODE_PATTERN.test(normalized) ? plainRow(await this.models.coupon.findOne({ where: { code: normalized } })) : undefined;
			if (!row) throw new EntityNotFoundError("Coupon", code);
			return row;
		},

		async whyNotRedeemable(code: string, currency: string, at: Date): Promise<CouponInvalidReason> {
			const row = COUPON_CODE_PATTERN.test(code) ? plainRow(await this.models.coupon.findOne({ where: { code } })) : undefined;
			if (!row) return "unknown";
			if (row.status !== "active") return "archived";
			if (row.expiresAt && new Date(row.expiresAt).getTime() <= at.getTime()) return "expired";
			if (row.currency && row.currency !== currency) return "currency_mismatch";
			// What is left: the last redemption went to someone else.
			return "exhausted";
		},

		async couponChanged(ctx: Context, change: CouponChangedEvent["change"], row: CouponRow) {
			const coupon = toPublicCoupon(row);
			const event: CouponChangedEvent = { code: row.code, change, coupon };
			ctx.broadcast(PLANS_EVENTS.couponChanged, event);
			return coupon;
		},
	},
};

/** Typed against the plans service it joins (`this` is the whole service); a mixin slot takes a plain schema. */
export const CouponsMixin = CouponsSchema as Partial<ServiceSchema>;
