/**
 * Plans, billable metrics and coupons: what the platform sells, in its own schema (`plans`).
 *
 * A plan is a code with versions. A super admin's change of what it costs (amount, currency, interval, trial,
 * limits, charges, tax) inserts version + 1 and moves `current` to it; subscriptions point at the version they
 * started on, so a price change never touches them. Name, description and features are edited in place.
 * Archived plans leave `GET /plans` (running subscriptions go on); a plan is deleted only when the billing
 * engine says no live subscription uses any of its versions (`billing.plansInUse`). The seeded `free` plan is
 * what a tenant without a subscription gets: it stays free, and is never archived or deleted.
 *
 * Public reads are cached; every write cleans this service's cache on every node (DbMixin's entityChanged)
 * and broadcasts PLANS_EVENTS (`plan.changed`, `metric.changed`, `coupon.changed`) for other services' caches.
 * Metrics live in plan-metrics.ts, coupons in coupons.ts (mixins of this service).
 */
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { Errors, type Context } from "moleculer";
import type { Order, Transaction } from "sequelize";
import { DbMixin, PAGE_PARAMS, plainRow, toPage, type DbMixinSettings, type DbServiceSchema, type Ownership } from "../../mixins/db.mixin";
import { CouponModel, MetricModel, PlanModel } from "../../models/billing/plans/plan.models";
import { systemCall, type CallerMeta } from "../../lib/caller";
import { ConflictError, EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";
import {
	FREE_PLAN_CODE,
	PLAN_CODE_PATTERN,
	PLANS_EVENTS,
	PublicPlanSchema,
	type PlanChange,
	type PlanChangedEvent,
	type PlanStatus,
	type PlansInUseParams,
	type PlansInUseResult,
	type PublicPlan,
} from "./contracts";
import { normalizeCharges, planFieldRules, pathCodeRule, planCodeRule, pricedFreeCharges, statusFilterRule, toPublicPlan, type ChargeInput, type PlanRow } from "./plan-rules";
import { PlanMetricsMixin, type PlanMetricsMethods } from "./plan-metrics";
import { CouponsMixin } from "./coupons";

const SCHEMA = "plans";
const CACHE_TTL_SECONDS = 300;
/** Plans on offer are the public's; archived ones are for super admins and platform work. */
const PLAN_OWNERSHIP: Ownership = { owner: "none", visible: { status: "active" satisfies PlanStatus } };
/** The public reads are cached by persona, which platform work lacks: only a super admin's answer shows archived plans. */
const CACHED_BY_PERSONA = { seesAll: "super_admin" } as const;
/** Changing any of these makes a new version; the rest of a plan's fields are edited in place. */
const VERSIONED_FIELDS = ["interval", "amount", "currency", "trialDays", "limits", "charges", "taxRateBasisPoints"] as const;
const IN_PLACE_FIELDS = ["name", "description", "features"] as const;

/** Feature flags are booleans (planFieldRules validates them so). */
type PlanInput = Partial<Omit<PublicPlan, "id" | "code" | "version" | "status" | "createdAt" | "charges" | "features">> & { charges?: ChargeInput[]; features?: Record<string, boolean> };
type PlansContext<P = Record<string, unknown>> = Context<P, CallerMeta>;

export interface PlansMethods extends PlanMetricsMethods {
	/** The current version of a plan (404 when there is none, or the code can't be one). */
	loadCurrent(code: string, transaction?: Transaction): Promise<PlanRow>;
	/** Charges in their stored form, their metrics checked (422 UNKNOWN_METRIC); the free plan's must cost nothing. */
	checkCharges(charges: ChargeInput[], transaction: Transaction): Promise<PublicPlan["charges"]>;
	/** The free plan stays free: no fee, no trial, no priced charge (422 FREE_PLAN_MUST_BE_FREE naming the field). */
	assertFreeStaysFree(plan: Pick<PublicPlan, "amount" | "trialDays" | "charges">): void;
	/** 409 FREE_PLAN_PROTECTED for the free plan. */
	refuseForFreePlan(code: string, what: string): void;
	/** Which of these version ids a live subscription uses; 409 PLAN_IN_USE_UNKNOWN when no billing engine can say. */
	versionsInUse(ids: string[]): Promise<string[]>;
	/** After a committed change: every node's cache cleaned, the cluster told. */
	planChanged(ctx: Context, code: string, change: PlanChange, row: PlanRow | null): Promise<PublicPlan | null>;
}

/** The plan versions of a write, under the lock that keeps one writer per plan code at a time. */
async function lockCode(transaction: Transaction, sequelize: { query(sql: string, options: object): Promise<unknown> }, code: string): Promise<void> {
	await sequelize.query("SELECT pg_advisory_xact_lock(hashtext('lattice:plans:' || :code))", { replacements: { code }, transaction });
}

const PlansService: DbServiceSchema<DbMixinSettings, PlansMethods, unknown, typeof PlanModel, typeof MetricModel | typeof CouponModel> = {
	name: "plans",
	mixins: [
		DbMixin({
			schema: SCHEMA,
			migrations: path.join(__dirname, "../../models/billing/plans/migrations"),
			model: PlanModel,
			extraModels: [MetricModel, CouponModel],
			owner: PLAN_OWNERSHIP,
			entityName: "Plan",
		}),
		PlanMetricsMixin,
		CouponsMixin,
	],
	// /plans, /billable-metrics and /coupons live in this service, so each action names its full path.
	settings: { rest: "/" },

	actions: {
		listPlans: {
			rest: "GET /plans",
			responses: { 200: { description: "A page of plans (their current versions), cheapest first", body: PageOf(PublicPlanSchema) } },
			auth: "public",
			summary: "The plans on offer: the current version of each active plan (super admins: of archived ones too)",
			cache: { keys: ["page", "pageSize", "status", "#persona"], ttl: CACHE_TTL_SECONDS },
			params: { ...PAGE_PARAMS, status: statusFilterRule, $$strict: "remove" },
			async handler(ctx: PlansContext<{ page: number; pageSize: number; status?: PlanStatus }>) {
				const { page, pageSize, status } = ctx.params;
				// The declared visibility replaces `status` for the public (active plans only).
				const where = { current: true, ...(status ? { status } : {}) };
				const order: Order = [
					["amount", "ASC"],
					["code", "ASC"],
				];
				return this.scoped(ctx, CACHED_BY_PERSONA).page({ page, pageSize, where, order }, toPublicPlan);
			},
		},

		getPlan: {
			rest: "GET /plans/:code",
			responses: { 200: { description: "The plan's current version", body: PublicPlanSchema } },
			auth: "public",
			summary: "One plan's current version; archived plans only for super admins",
			cache: { keys: ["code", "#persona"], ttl: CACHE_TTL_SECONDS },
			params: { code: pathCodeRule },
			async handler(ctx: PlansContext<{ code: string }>) {
				const { code } = ctx.params;
				// An archived plan is 404 to whoever may not see it, like a missing or malformed code.
				const row = PLAN_CODE_PATTERN.test(code) ? await this.scoped(ctx, CACHED_BY_PERSONA).findOne({ code, current: true }) : undefined;
				if (!row) throw new EntityNotFoundError("Plan", code);
				return toPublicPlan(row);
			},
		},

		listPlanVersions: {
			rest: "GET /plans/:code/versions",
			responses: { 200: { description: "A page of the plan's versions, newest first", body: PageOf(PublicPlanSchema) } },
			permissions: ["super_admin"],
			summary: "Every version of a plan, the ones subscriptions still run on included",
			params: { code: pathCodeRule, ...PAGE_PARAMS, $$strict: "remove" },
			async handler(ctx: PlansContext<{ code: string; page: number; pageSize: number }>) {
				const { code, page, pageSize } = ctx.params;
				await this.loadCurrent(code);
				const { rows, count } = await this.models.plan.findAndCountAll({ where: { code }, order: [["version", "DESC"]], limit: pageSize, offset: (page - 1) * pageSize });
				return toPage(rows.map((row) => toPublicPlan(row.get({ plain: true }))), count, page, pageSize);
			},
		},

		createPlan: {
			rest: "POST /plans",
			responses: { 201: { description: "The new plan (version 1)", body: PublicPlanSchema, headers: { Location: "The plan's URL" } } },
			errors: { 409: ["ALREADY_EXISTS"], 422: ["UNKNOWN_METRIC"] },
			permissions: ["super_admin"],
			summary: "Add a plan",
			description: "Charges name billable metrics (`POST /billable-metrics`); amounts are in the plan currency's minor unit.",
			params: { code: planCodeRule, ...planFieldRules(false), $$strict: "remove" },
			async handler(ctx: PlansContext<Required<PlanInput> & { code: string }>) {
				const { code, charges, ...fields } = ctx.params;
				const row = await this.adapter.db.transaction(async (transaction) => {
					await lockCode(transaction, this.adapter.db, code);
					if ((await this.models.plan.count({ where: { code }, transaction })) > 0) throw new ConflictError(`A plan with the code ${code} exists`, "ALREADY_EXISTS", { code });
					const stored = await this.checkCharges(charges, transaction);
					return (await this.models.plan.create({ ...fields, code, charges: stored, version: 1, current: true, status: "active" }, { transaction })).get({ plain: true });
				});
				const plan = await this.planChanged(ctx, code, "created", row);
				created(ctx, "plans", code);
				return plan;
			},
		},

		updatePlan: {
			rest: "PUT /plans/:code",
			responses: { 200: { description: "The plan's current version after the change (a new one when what it costs changed)", body: PublicPlanSchema } },
			errors: { 422: ["UNKNOWN_METRIC", "FREE_PLAN_MUST_BE_FREE"] },
			permissions: ["super_admin"],
			summary: "Change a plan: a change of what it costs makes a new version; name, description and features change in place",
			description:
				"Any change of `interval`, `amount`, `currency`, `trialDays`, `limits`, `charges` or `taxRateBasisPoints` inserts version + 1 and makes it current: running subscriptions keep the version they run on. `limits`, `features` and `charges` are replaced whole.",
			params: { code: pathCodeRule, ...planFieldRules(true), $$strict: "remove" },
			async handler(ctx: PlansContext<PlanInput & { code: string }>) {
				const { code, ...input } = ctx.params;
				const given = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as PlanInput;
				const outcome = await this.adapter.db.transaction(async (transaction) => {
					await lockCode(transaction, this.adapter.db, code);
					const before = await this.loadCurrent(code, transaction);
					const changes: Record<string, unknown> = { ...given };
					if (given.charges) changes.charges = await this.checkCharges(given.charges, transaction);
					const was = toPublicPlan(before) as unknown as Record<string, unknown>;
					const differs = (field: string) => field in changes && !isDeepStrictEqual(changes[field], was[field]);
					const after = { ...toPublicPlan(before), ...changes } as PublicPlan;
					if (code === FREE_PLAN_CODE) this.assertFreeStaysFree(after);
					if (VERSIONED_FIELDS.some(differs)) {
						await this.models.plan.update({ current: false }, { where: { id: before.id }, transaction });
						const { id: _id, createdAt: _created, updatedAt: _updated, ...copy } = before;
						const next = await this.models.plan.create({ ...copy, ...changes, version: before.version + 1, current: true }, { transaction });
						return { change: "versioned" as const, row: next.get({ plain: true }) };
					}
					const inPlace = IN_PLACE_FIELDS.filter(differs);
					if (inPlace.length === 0) return { change: undefined, row: before };
					await this.models.plan.update(Object.fromEntries(inPlace.map((field) => [field, changes[field]])), { where: { id: before.id }, transaction });
					return { change: "updated" as const, row: await this.loadCurrent(code, transaction) };
				});
				if (!outcome.change) return toPublicPlan(outcome.row);
				return this.planChanged(ctx, code, outcome.change, outcome.row);
			},
		},

		archivePlan: {
			rest: "POST /plans/:code/archive",
			responses: { 200: { description: "The plan, archived (also when it already was)", body: PublicPlanSchema } },
			errors: { 409: ["FREE_PLAN_PROTECTED"] },
			permissions: ["super_admin"],
			summary: "Archive a plan: nobody new subscribes to it; running subscriptions go on",
			params: { code: pathCodeRule },
			async handler(ctx: PlansContext<{ code: string }>) {
				const before = await this.loadCurrent(ctx.params.code);
				this.refuseForFreePlan(before.code, "archived");
				if (before.status === "archived") return toPublicPlan(before);
				await this.models.plan.update({ status: "archived" }, { where: { code: before.code } });
				return this.planChanged(ctx, before.code, "archived", await this.loadCurrent(before.code));
			},
		},

		deletePlan: {
			rest: "DELETE /plans/:code",
			responses: { 204: "Deleted, every version of it" },
			errors: { 409: ["FREE_PLAN_PROTECTED", "PLAN_IN_USE", "PLAN_IN_USE_UNKNOWN"] },
			permissions: ["super_admin"],
			summary: "Delete a plan no live subscription uses (any version); one in use can only be archived",
			params: { code: pathCodeRule },
			async handler(ctx: PlansContext<{ code: string }>) {
				const current = await this.loadCurrent(ctx.params.code);
				this.refuseForFreePlan(current.code, "deleted");
				const versions = (await this.models.plan.findAll({ where: { code: current.code }, attributes: ["id"] })).map((row) => row.get({ plain: true }).id);
				const inUse = await this.versionsInUse(versions);
				if (inUse.length > 0) throw new ConflictError(`The plan ${current.code} is in use: archive it instead`, "PLAN_IN_USE", { planIds: inUse });
				await this.models.plan.destroy({ where: { code: current.code } });
				await this.planChanged(ctx, current.code, "deleted", null);
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Internal: one version by id, whatever its status (a subscription's plan). */
		getVersion: {
			visibility: "public",
			cache: { keys: ["id"], ttl: CACHE_TTL_SECONDS },
			params: { id: "uuid" },
			async handler(ctx: PlansContext<{ id: string }>) {
				const row = plainRow(await this.models.plan.findByPk(ctx.params.id));
				if (!row) throw new EntityNotFoundError("Plan version", ctx.params.id);
				return toPublicPlan(row);
			},
		},

		/** Internal: a plan's current version, archived ones included (the caller decides: new subscriptions need `active`). */
		current: {
			visibility: "public",
			cache: { keys: ["code"], ttl: CACHE_TTL_SECONDS },
			params: { code: pathCodeRule },
			async handler(ctx: PlansContext<{ code: string }>) {
				return toPublicPlan(await this.loadCurrent(ctx.params.code));
			},
		},

		/** Internal: the free plan's current version (what a tenant without a live subscription gets). */
		freePlan: {
			visibility: "public",
			cache: { keys: [], ttl: CACHE_TTL_SECONDS },
			async handler() {
				return toPublicPlan(await this.loadCurrent(FREE_PLAN_CODE));
			},
		},
	},

	methods: {
		async loadCurrent(code: string, transaction?: Transaction) {
			const row = PLAN_CODE_PATTERN.test(code) ? plainRow(await this.models.plan.findOne({ where: { code, current: true }, transaction })) : undefined;
			if (!row) throw new EntityNotFoundError("Plan", code);
			return row;
		},

		async checkCharges(charges: ChargeInput[], transaction: Transaction) {
			const stored = normalizeCharges(charges);
			// Shared: plans naming metrics don't wait on each other, only on a metric's deletion or change of kind.
			await this.lockMetrics(transaction, "shared");
			await this.assertMetricsExist(stored.map((charge) => charge.metric), transaction);
			return stored;
		},

		assertFreeStaysFree(plan: Pick<PublicPlan, "amount" | "trialDays" | "charges">) {
			const problems = [
				...(plan.amount !== 0 ? [{ field: "amount", message: "amount: the free plan costs nothing", type: "freePlan" }] : []),
				...(plan.trialDays !== 0 ? [{ field: "trialDays", message: "trialDays: the free plan has no trial", type: "freePlan" }] : []),
				...pricedFreeCharges(plan.charges),
			];
			if (problems.length === 0) return;
			throw new UnprocessableEntityError(problems.map((problem) => problem.message).join("; "), "FREE_PLAN_MUST_BE_FREE", { fields: problems.map((problem) => problem.field) });
		},

		refuseForFreePlan(code: string, what: string) {
			if (code === FREE_PLAN_CODE) throw new ConflictError(`The free plan is what tenants without a subscription get: it can't be ${what}`, "FREE_PLAN_PROTECTED", { code });
		},

		async versionsInUse(ids: string[]) {
			try {
				const answer = await this.broker.call<PlansInUseResult, PlansInUseParams>("billing.plansInUse", { planIds: ids }, systemCall());
				return answer.inUse;
			} catch (err) {
				// No billing engine to ask: deleting a plan a subscription may run on is the one mistake not to risk.
				if (err instanceof Errors.ServiceNotFoundError || err instanceof Errors.ServiceNotAvailableError) {
					throw new ConflictError("Whether a subscription uses this plan can't be told now (no billing service answers): archive it, or retry later", "PLAN_IN_USE_UNKNOWN");
				}
				throw err;
			}
		},

		async planChanged(ctx: Context, code: string, change: PlanChange, row: PlanRow | null) {
			const plan = row ? toPublicPlan(row) : null;
			await this.entityChanged(change === "deleted" ? "removed" : change === "created" ? "created" : "updated", { code }, ctx);
			const event: PlanChangedEvent = { code, change, plan };
			ctx.broadcast(PLANS_EVENTS.planChanged, event);
			return plan;
		},
	},
};

export default PlansService;
