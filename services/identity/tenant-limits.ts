/**
 * A tenant's limits (a mixin of tenants.service.ts). Billing owns plans: `billing.limits {tenantId}` answers
 * the limits of the tenant's live subscription (the free plan's without one, or while it is `unpaid`). Tenants
 * keeps a small per-node cache of those answers, dropped for one tenant when billing broadcasts
 * BILLING_EVENTS.limitsChanged and for all when a plan changes (PLANS_EVENTS.planChanged: the free plan's new
 * limits reach every tenant without a subscription). With no billing service in the cluster, every tenant
 * gets FREE_PLAN_LIMITS. A tenant's own overrides (set by the platform) go on top either way.
 *
 * `tenants.checkLimit` is the one question every service asks before growing a tenant's usage.
 */
import { Errors, type Context, type ServiceSchema } from "moleculer";
import { systemCall, type CallerMeta } from "../../lib/caller";
import { UnprocessableEntityError } from "../../lib/errors";
import { ExpiringMap } from "../../lib/expiring-map";
import { type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { BILLING_EVENTS, FREE_PLAN_CODE, FREE_PLAN_LIMITS, LIMIT_NAMES, PLANS_EVENTS, type LimitsChangedEvent, type Limits, type TenantLimits } from "../billing/contracts";
import { LimitsSchema } from "./api-schemas";

/** The tenant a /tenants/:id/… path names, loaded for the handler (404 when it is missing, also for platform callers). */
export const TENANT_SCOPE = { entity: "tenant", owner: "none", name: "Tenant" } as const;

/** A safety net under the events: an answer is trusted this long at most. */
const LIMITS_TTL_MS = 60_000;
const LIMITS_CACHE_ENTRIES = 10_000;
/** Billing's action answering a tenant's plan limits. */
const BILLING_LIMITS_ACTION = "billing.limits";

interface TenantLimitsRow {
	id: string;
	limits: Record<string, number>;
}

export interface EffectiveLimits {
	plan: string;
	subscriptionStatus: string | null;
	limits: Limits;
}

export interface TenantLimitsMethods {
	/** tenants.service's: the tenant row, or 404. */
	loadTenant(id: string): Promise<TenantLimitsRow>;
	/** Billing's answer for the tenant (cached), or the free plan's when no billing service is deployed. */
	planLimits(tenantId: string): Promise<TenantLimits>;
	/** The plan's limits with the tenant's overrides on top. */
	effectiveLimits(tenant: TenantLimitsRow): Promise<EffectiveLimits>;
	forgetLimits(tenantId?: string): void;
}

interface TenantLimitsLocals {
	limitsCache: ExpiringMap<TenantLimits>;
	/** Bumped at every forget: an answer asked for before it isn't cached (it may be the one forgotten). */
	limitsGeneration: number;
}

type LimitsContext<P = Record<string, unknown>> = Context<P, CallerMeta>;

function isMissingService(err: unknown): boolean {
	return err instanceof Errors.ServiceNotFoundError || err instanceof Errors.ServiceNotAvailableError;
}

const TenantLimitsSchema: Partial<DbServiceSchema<DbMixinSettings, TenantLimitsMethods, TenantLimitsLocals>> = {
	actions: {
		limits: {
			rest: "GET /:id/limits",
			summary: "The organization's plan and its effective limits",
			responses: { 200: { description: "The plan and its effective limits", body: LimitsSchema } },
			params: { id: "uuid" },
			permissions: ["tenant:viewer@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: LimitsContext<{ id: string }>) {
				return this.effectiveLimits(entityOf<TenantLimitsRow>(ctx));
			},
		},

		/**
		 * Internal, platform only: the tenant's own limits, on top of its plan's (replacing earlier overrides; `{}`
		 * removes them). Answers the effective limits.
		 */
		setLimitOverrides: {
			visibility: "public",
			permissions: ["super_admin"],
			params: {
				tenantId: "uuid",
				limits: { type: "record", key: { type: "enum", values: LIMIT_NAMES }, value: { type: "number", integer: true, min: -1 } },
				$$strict: "remove",
			},
			async handler(ctx: LimitsContext<{ tenantId: string; limits: Record<string, number> }>) {
				const tenant = await this.loadTenant(ctx.params.tenantId);
				await this.models.tenant.update({ limits: ctx.params.limits }, { where: { id: tenant.id } });
				await this.entityChanged("updated", { id: tenant.id }, ctx);
				return this.effectiveLimits({ id: tenant.id, limits: ctx.params.limits });
			},
		},

		/**
		 * May `current + increment` reach the tenant's named limit? -1 means unlimited. The caller knows its own
		 * current usage; an unknown limit name is 422 UNKNOWN_LIMIT.
		 */
		checkLimit: {
			visibility: "public",
			params: { tenantId: "uuid", limit: "string|max:64", current: "number|min:0", increment: { type: "number", min: 0, optional: true, default: 1 } },
			async handler(ctx: LimitsContext<{ tenantId: string; limit: string; current: number; increment: number }>) {
				const { limits } = await this.effectiveLimits(await this.loadTenant(ctx.params.tenantId));
				if (!Object.hasOwn(limits, ctx.params.limit)) throw new UnprocessableEntityError(`Unknown limit "${ctx.params.limit}"`, "UNKNOWN_LIMIT");
				const maximum = limits[ctx.params.limit];
				const wanted = ctx.params.current + ctx.params.increment;
				const allowed = maximum < 0 || wanted <= maximum;
				return { allowed, limit: ctx.params.limit, maximum, current: ctx.params.current, remaining: maximum < 0 ? null : Math.max(0, maximum - ctx.params.current) };
			},
		},
	},

	events: {
		[BILLING_EVENTS.limitsChanged]: {
			handler(ctx: Context<LimitsChangedEvent>) {
				this.forgetLimits(typeof ctx.params?.tenantId === "string" ? ctx.params.tenantId : undefined);
			},
		},
		// A plan's limits or features changed (the free plan's reach every tenant without a subscription).
		[PLANS_EVENTS.planChanged]: {
			handler() {
				this.forgetLimits();
			},
		},
	},

	methods: {
		async planLimits(tenantId: string): Promise<TenantLimits> {
			const cached = this.limitsCache.get(tenantId);
			if (cached) return cached;
			const freePlan: TenantLimits = { tenantId, planCode: FREE_PLAN_CODE, subscriptionStatus: null, limits: { ...FREE_PLAN_LIMITS }, features: {} };
			// Asked of the registry first: no billing node is an answer (the free plan), not a warning per call.
			if (!this.broker.registry.getActionEndpoints(BILLING_LIMITS_ACTION)?.hasAvailable()) return freePlan;
			const generation = this.limitsGeneration;
			try {
				// No retries: a billing node that just left is the same answer, not a wait.
				const answer = await this.broker.call<TenantLimits, { tenantId: string }>(BILLING_LIMITS_ACTION, { tenantId }, { ...systemCall(), retries: 0 });
				if (generation === this.limitsGeneration) this.limitsCache.set(tenantId, answer, Date.now() + LIMITS_TTL_MS);
				return answer;
			} catch (err) {
				if (!isMissingService(err)) throw err;
				return freePlan;
			}
		},

		async effectiveLimits(tenant: TenantLimitsRow): Promise<EffectiveLimits> {
			const plan = await this.planLimits(tenant.id);
			return { plan: plan.planCode, subscriptionStatus: plan.subscriptionStatus, limits: { ...FREE_PLAN_LIMITS, ...plan.limits, ...tenant.limits } };
		},

		forgetLimits(tenantId?: string) {
			this.limitsGeneration += 1;
			if (tenantId) this.limitsCache.delete(tenantId);
			else this.limitsCache.clear();
		},
	},

	created() {
		this.limitsCache = new ExpiringMap(LIMITS_CACHE_ENTRIES);
		this.limitsGeneration = 0;
	},
};

/** Typed against the tenants service it joins (`this` is the whole service); a mixin slot takes a plain schema. */
export const TenantLimitsMixin = TenantLimitsSchema as Partial<ServiceSchema>;
