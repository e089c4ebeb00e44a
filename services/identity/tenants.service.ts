/**
 * Organizations (tenants): members and their roles, invitations, feature flags, and the limits of their
 * billing plan (tenant-limits.ts, a mixin: `GET /tenants/:id/limits`, `tenants.checkLimit`).
 * Access to /tenants/:id is decided by membership of that tenant; a tenant the caller doesn't belong to
 * answers 404, never 403, so ids reveal nothing.
 */
import path from "node:path";
import type { Context } from "moleculer";
import { Op, type Transaction } from "sequelize";
import { DbMixin, plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AuditMixin, type AuditMixinMethods } from "../../mixins/audit.mixin";
import { TenantModel, MembershipModel, InvitationModel, type MembershipRow, type TenantRow } from "../../models/identity/tenants/tenant.models";
import { roleRank, systemCall, TENANT_ROLES, type CallerMeta, type TenantRole } from "../../lib/caller";
import { ConflictError, EntityNotFoundError, ForbiddenError, NotFoundError } from "../../lib/errors";
import { hashToken, randomToken } from "./secrets";
import { platformConfigOf } from "../../lib/node";
import { TENANT_SCOPE, TenantLimitsMixin } from "./tenant-limits";
import { broadcastAuthStateChange } from "./auth-state";
import { USER_EVENTS, type UserDeletedEvent } from "./contracts";
import type { MailSendResult, MailSendTemplateParams } from "../notifications/contracts";
import { apiPath, created } from "../../lib/api-path";
import { tenantRoleOf } from "../../middlewares/access-control.middleware";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { Type } from "../../lib/schema";
import { FeaturesSchema, InvitationSchema, MemberRoleSchema, MemberSchema, PublicTenantSchema } from "./api-schemas";

const INVITATION_TTL_DAYS = 7;

interface TenantsMethods {
	membership(tenantId: string, userId: string): Promise<MembershipRow | undefined>;
	membershipChanged(ctx: Context, tenantId: string | undefined, userId: string, reason: string): Promise<void>;
	revokeMemberKeys(ctx: TenantContext, userId: string, tenantId: string | undefined, reason: string): Promise<void>;
	isLeaving(ctx: Context<{ userId?: string }, CallerMeta>): boolean;
	loadTenant(id: string): Promise<TenantRow>;
	changeMember(tenantId: string, target: MembershipRow, change: { role: TenantRole } | "remove", beforeWrite: () => Promise<void>): Promise<void>;
	createTenant(ctx: Context, name: string, ownerId: string): Promise<TenantRow>;
	toPublic(tenant: TenantRow, role?: TenantRole): Record<string, unknown>;
}

type TenantContext<P = Record<string, unknown>> = Context<P, CallerMeta>;


const TenantsService: DbServiceSchema<DbMixinSettings, TenantsMethods & AuditMixinMethods, unknown, typeof TenantModel, typeof MembershipModel | typeof InvitationModel> = {
	name: "tenants",
	mixins: [
		DbMixin({
			schema: "tenants",
			migrations: path.join(__dirname, "../../models/identity/tenants/migrations"),
			model: TenantModel,
			extraModels: [MembershipModel, InvitationModel],
			entityName: "Tenant",
		}),
		AuditMixin,
		TenantLimitsMixin,
	],

	actions: {
		create: {
			rest: "POST /",
			summary: "Create an organization; the caller becomes its owner",
			responses: { 201: { description: "The new organization; the caller is its owner", body: PublicTenantSchema, headers: { Location: "The organization's URL" } } },
			params: { name: "string|trim|min:1|max:200" },
			async handler(ctx: TenantContext<{ name: string }>) {
				if (!ctx.meta.user) throw new ForbiddenError("Only users can create organizations", "USER_REQUIRED");
				const tenant = await this.createTenant(ctx, ctx.params.name, ctx.meta.user.id);
				await this.audit(ctx, { action: "tenant.created", tenantId: tenant.id, targetType: "tenant", targetId: tenant.id });
				created(ctx, "tenants", tenant.id);
				return this.toPublic(tenant, "owner");
			},
		},

		/** Internal: sign-up and bootstrap create the first organization of a user. */
		createForOwner: {
			visibility: "public",
			params: { name: "string|trim|min:1|max:200", ownerId: "uuid" },
			async handler(ctx: TenantContext<{ name: string; ownerId: string }>) {
				return this.toPublic(await this.createTenant(ctx, ctx.params.name, ctx.params.ownerId), "owner");
			},
		},

		mine: {
			rest: "GET /",
			responses: { 200: { description: "The caller's organizations, with its role in each", body: Type.Array(PublicTenantSchema) } },
			summary: "Organizations the caller belongs to",
			params: {},
			async handler(ctx: TenantContext) {
				if (!ctx.meta.user) return [];
				return ctx.call("tenants.membershipsOf", { userId: ctx.meta.user.id });
			},
		},

		membershipsOf: {
			visibility: "public",
			// Answers /auth/me and sign-ins; every change of a tenant or a membership cleans it (membershipChanged, entityChanged).
			cache: { keys: ["userId"], ttl: 60 },
			params: { userId: "uuid" },
			async handler(ctx: TenantContext<{ userId: string }>) {
				const memberships = (await this.models.membership.findAll({ where: { userId: ctx.params.userId }, order: [["createdAt", "ASC"]] })).map((row) => row.get({ plain: true }));
				if (memberships.length === 0) return [];
				const tenants = (await this.models.tenant.findAll({ where: { id: memberships.map((item) => item.tenantId) } })).map((row) => row.get({ plain: true }));
				const byId = new Map(tenants.map((tenant) => [tenant.id, tenant]));
				return memberships.filter((item) => byId.has(item.tenantId)).map((item) => ({ ...this.toPublic(byId.get(item.tenantId)!, item.role), role: item.role }));
			},
		},

		membershipOf: {
			visibility: "public",
			params: { tenantId: "uuid", userId: "uuid" },
			async handler(ctx: TenantContext<{ tenantId: string; userId: string }>) {
				const membership = await this.membership(ctx.params.tenantId, ctx.params.userId);
				return membership ? { tenantId: membership.tenantId, userId: membership.userId, role: membership.role } : null;
			},
		},

		details: {
			rest: "GET /:id",
			summary: "One organization",
			responses: { 200: { description: "The organization", body: PublicTenantSchema } },
			params: { id: "uuid" },
			permissions: ["tenant:viewer@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string }>) {
				return this.toPublic(entityOf<TenantRow>(ctx), tenantRoleOf(ctx));
			},
		},

		rename: {
			rest: "PUT /:id",
			summary: "Rename the organization",
			responses: { 200: { description: "The organization as changed", body: PublicTenantSchema } },
			params: { id: "uuid", name: "string|trim|min:1|max:200" },
			permissions: ["tenant:admin@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string; name: string }>) {
				const role = tenantRoleOf(ctx);
				await this.models.tenant.update({ name: ctx.params.name }, { where: { id: ctx.params.id } });
				await this.entityChanged("updated", { id: ctx.params.id }, ctx);
				await this.audit(ctx, { action: "tenant.updated", tenantId: ctx.params.id, targetType: "tenant", targetId: ctx.params.id });
				return this.toPublic(await this.loadTenant(ctx.params.id), role);
			},
		},

		members: {
			rest: "GET /:id/members",
			summary: "The organization's members",
			responses: { 200: { description: "The members", body: Type.Array(MemberSchema) } },
			params: { id: "uuid" },
			permissions: ["tenant:viewer@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string }>) {
				const rows = (await this.models.membership.findAll({ where: { tenantId: ctx.params.id }, order: [["createdAt", "ASC"]] })).map((row) => row.get({ plain: true }));
				const users = await ctx.call<Array<{ id: string; email: string; fullName: string }>, { ids: string[] }>("users.summaries", { ids: rows.map((row) => row.userId) });
				const byId = new Map(users.map((user) => [user.id, user]));
				return rows.map((row) => ({ userId: row.userId, role: row.role, email: byId.get(row.userId)?.email ?? null, fullName: byId.get(row.userId)?.fullName ?? null, joinedAt: row.createdAt }));
			},
		},

		setMemberRole: {
			rest: "PUT /:id/members/:userId",
			summary: "Change a member's role",
			responses: { 200: { description: "The member's new role", body: MemberRoleSchema } },
			errors: { 409: ["LAST_OWNER"] },
			params: { id: "uuid", userId: "uuid", role: { type: "enum", values: TENANT_ROLES } },
			permissions: ["tenant:admin@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string; userId: string; role: TenantRole }>) {
				const callerRole = tenantRoleOf(ctx);
				const target = await this.membership(ctx.params.id, ctx.params.userId);
				if (!target) throw new EntityNotFoundError("Member", ctx.params.userId);
				// Owners are made and unmade by owners only.
				if ((ctx.params.role === "owner" || target.role === "owner") && callerRole !== "owner") {
					throw new ForbiddenError("Only an owner can grant or remove the owner role", "OWNER_REQUIRED");
				}
				await this.changeMember(ctx.params.id, target, { role: ctx.params.role }, async () => {
					// Keys are made by admins: a member who can no longer make them loses the ones they made.
					if (roleRank(ctx.params.role) > roleRank("admin") && roleRank(target.role) <= roleRank("admin")) {
						await this.revokeMemberKeys(ctx, ctx.params.userId, ctx.params.id, "member_demoted");
					}
				});
				await this.membershipChanged(ctx, ctx.params.id, ctx.params.userId, "member_role_changed");
				await this.audit(ctx, { action: "tenant.member_role_changed", tenantId: ctx.params.id, targetType: "user", targetId: ctx.params.userId, data: { from: target.role, to: ctx.params.role } });
				return { userId: ctx.params.userId, role: ctx.params.role };
			},
		},

		removeMember: {
			rest: "DELETE /:id/members/:userId",
			summary: "Remove a member from the organization",
			responses: { 204: "The member is removed" },
			errors: { 409: ["LAST_OWNER"] },
			params: { id: "uuid", userId: "uuid" },
			permissions: ["tenant:admin@id", "$isLeaving"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string; userId: string }>) {
				const leaving = this.isLeaving(ctx);
				const callerRole = tenantRoleOf(ctx);
				const target = await this.membership(ctx.params.id, ctx.params.userId);
				if (!target) throw new EntityNotFoundError("Member", ctx.params.userId);
				if (target.role === "owner" && !leaving && callerRole !== "owner") {
					throw new ForbiddenError("Only an owner can remove an owner", "OWNER_REQUIRED");
				}
				await this.changeMember(ctx.params.id, target, "remove", () =>
					this.revokeMemberKeys(ctx, ctx.params.userId, ctx.params.id, leaving ? "member_left" : "member_removed"),
				);
				await this.membershipChanged(ctx, ctx.params.id, ctx.params.userId, leaving ? "member_left" : "member_removed");
				await this.audit(ctx, { action: leaving ? "tenant.member_left" : "tenant.member_removed", tenantId: ctx.params.id, targetType: "user", targetId: ctx.params.userId });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		invite: {
			rest: "POST /:id/invitations",
			summary: "Invite someone by email to join the organization",
			responses: { 201: { description: "The invitation (mailed)", body: InvitationSchema, headers: { Location: "The invitation's URL" } } },
			errors: { 503: ["MAIL_UNAVAILABLE"] },
			params: { id: "uuid", email: "email|normalize", role: { type: "enum", values: TENANT_ROLES } },
			permissions: ["tenant:admin@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string; email: string; role: TenantRole }>) {
				if (ctx.params.role === "owner" && tenantRoleOf(ctx) !== "owner") throw new ForbiddenError("Only an owner can invite an owner", "OWNER_REQUIRED");
				const tenant = entityOf<TenantRow>(ctx);
				const token = randomToken();
				const expiresAt = new Date(Date.now() + INVITATION_TTL_DAYS * 86_400_000);
				const invitation = (
					await this.models.invitation.create({ tenantId: tenant.id, email: ctx.params.email.toLowerCase(), role: ctx.params.role, tokenHash: hashToken(token), invitedBy: ctx.meta.user?.id ?? null, expiresAt })
				).get({ plain: true });
				const link = `${platformConfigOf(this.broker).appUrl}/invitations/accept?token=${encodeURIComponent(token)}`;
				try {
					await this.broker.call<MailSendResult, MailSendTemplateParams<"invitation">>(
						"mail.sendTemplate",
						{ to: ctx.params.email, template: "invitation", data: { tenantName: tenant.name, inviterName: ctx.meta.user?.email ?? "A team member", role: ctx.params.role, link, expiresInDays: INVITATION_TTL_DAYS } },
						systemCall(),
					);
				} catch (err) {
					// An invitation nobody was told about is no invitation: the caller's retry makes the one that counts.
					await this.models.invitation.destroy({ where: { id: invitation.id } });
					throw err;
				}
				await this.audit(ctx, { action: "tenant.invitation_sent", tenantId: tenant.id, targetType: "invitation", targetId: invitation.id, data: { email: ctx.params.email, role: ctx.params.role } });
				created(ctx, `tenants/${tenant.id}/invitations`);
				return { id: invitation.id, tenantId: tenant.id, email: ctx.params.email.toLowerCase(), role: ctx.params.role, expiresAt: expiresAt.toISOString() };
			},
		},

		invitations: {
			rest: "GET /:id/invitations",
			responses: { 200: { description: "The pending invitations", body: Type.Array(InvitationSchema) } },
			summary: "Pending invitations of an organization",
			params: { id: "uuid" },
			permissions: ["tenant:admin@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string }>) {
				const rows = await this.models.invitation.findAll({ where: { tenantId: ctx.params.id, acceptedAt: null, revokedAt: null, expiresAt: { [Op.gt]: new Date() } }, order: [["createdAt", "DESC"]] });
				return rows.map((row) => {
					const invitation = row.get({ plain: true });
					return { id: invitation.id, email: invitation.email, role: invitation.role, invitedBy: invitation.invitedBy, expiresAt: invitation.expiresAt, createdAt: invitation.createdAt };
				});
			},
		},

		acceptInvitation: {
			rest: { method: "POST", fullPath: apiPath("invitations/accept") },
			responses: { 200: { description: "The organization joined, with the caller's role", body: PublicTenantSchema } },
			errors: { 404: ["INVITATION_INVALID"] },
			summary: "Join an organization with an invitation token",
			params: { token: "string|min:10|max:200" },
			async handler(ctx: TenantContext<{ token: string }>) {
				const user = ctx.meta.user;
				if (!user) throw new ForbiddenError("Sign in to accept an invitation", "USER_REQUIRED");
				const invitation = plainRow(await this.models.invitation.findOne({ where: { tokenHash: hashToken(ctx.params.token) } }));
				// One answer for unknown, used, expired or someone else's: the token reveals nothing.
				if (!invitation || invitation.acceptedAt || invitation.revokedAt || new Date(invitation.expiresAt) < new Date() || invitation.email !== (user.email ?? "").toLowerCase()) {
					throw new NotFoundError("This invitation is invalid or has expired", "INVITATION_INVALID");
				}
				const [claimed] = await this.models.invitation.update({ acceptedAt: new Date(), acceptedBy: user.id }, { where: { id: invitation.id, acceptedAt: null } });
				if (claimed === 0) throw new NotFoundError("This invitation is invalid or has expired", "INVITATION_INVALID");
				const existing = await this.membership(invitation.tenantId, user.id);
				if (!existing) await this.models.membership.create({ tenantId: invitation.tenantId, userId: user.id, role: invitation.role });
				await this.membershipChanged(ctx, invitation.tenantId, user.id, "member_joined");
				await this.audit(ctx, { action: "tenant.invitation_accepted", tenantId: invitation.tenantId, targetType: "invitation", targetId: invitation.id });
				return this.toPublic(await this.loadTenant(invitation.tenantId), existing?.role ?? invitation.role);
			},
		},

		features: {
			rest: "GET /:id/features",
			summary: "The organization's feature flags",
			responses: { 200: { description: "The feature flags", body: FeaturesSchema } },
			params: { id: "uuid" },
			permissions: ["tenant:viewer@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string }>) {
				return entityOf<TenantRow>(ctx).features;
			},
		},

		setFeatures: {
			rest: "PUT /:id/features",
			summary: "Change the organization's feature flags (owners)",
			responses: { 200: { description: "The feature flags as changed", body: FeaturesSchema } },
			params: { id: "uuid", features: { type: "record", key: { type: "string", pattern: /^[a-z][a-z0-9_.-]{0,63}$/ }, value: { type: "boolean" } } },
			permissions: ["tenant:owner@id"],
			scope: TENANT_SCOPE,
			async handler(ctx: TenantContext<{ id: string; features: Record<string, boolean> }>) {
				const tenant = entityOf<TenantRow>(ctx);
				const features = { ...tenant.features, ...ctx.params.features };
				await this.models.tenant.update({ features }, { where: { id: tenant.id } });
				await this.entityChanged("updated", { id: tenant.id }, ctx);
				await this.audit(ctx, { action: "tenant.features_changed", tenantId: tenant.id, targetType: "tenant", targetId: tenant.id, data: { features: ctx.params.features } });
				return features;
			},
		},
	},

	events: {
		[USER_EVENTS.deleted]: {
			params: { userId: "uuid" },
			async handler(ctx: Context<UserDeletedEvent>) {
				try {
					await this.revokeMemberKeys(ctx as TenantContext<{ userId: string }>, ctx.params.userId, undefined, "account_deleted");
					await this.models.membership.destroy({ where: { userId: ctx.params.userId } });
					await this.membershipChanged(ctx, undefined, ctx.params.userId, "account_deleted");
				} catch (err) {
					this.logger.error("Could not remove the memberships of a deleted user", err);
				}
			},
		},
	},

	methods: {
		async membership(tenantId: string, userId: string) {
			return plainRow(await this.models.membership.findOne({ where: { tenantId, userId } }));
		},

		/**
		 * After a membership changed: cached membership lists are cleaned on every node, and every gateway node
		 * forgets the member's resolved credentials, so the role they act with is the new one from the next request.
		 */
		async membershipChanged(ctx: Context, tenantId: string | undefined, userId: string, reason: string) {
			await this.entityChanged("updated", { tenantId, userId }, ctx);
			// All of the member's callers, not only those acting in this tenant: one whose token names the tenant
			// but who had left it (and now rejoined) is cached as acting in no tenant.
			broadcastAuthStateChange(this.broker, { userId, reason });
		},

		/**
		 * API keys a member made stop with their right to make them (leaving, removal, demotion below admin,
		 * account deletion), in one tenant or all. Done before the membership changes, so a failure leaves both as they were.
		 */
		async revokeMemberKeys(ctx: TenantContext, userId: string, tenantId: string | undefined, reason: string) {
			await this.broker.call(
				"api-keys.revokeCreatedBy",
				{ userId, tenantId, reason, actorId: ctx.meta.user?.id, actorEmail: ctx.meta.user?.email },
				{ ...systemCall(), requestID: ctx.requestID ?? undefined },
			);
		},

		/** `removeMember`'s other way in: any member may leave (the permission's check has found them a member). */
		isLeaving(ctx: Context<{ userId?: string }, CallerMeta>): boolean {
			return Boolean(ctx.meta.user?.id) && ctx.meta.user?.id === ctx.params.userId;
		},

		async loadTenant(id: string): Promise<TenantRow> {
			const tenant = plainRow(await this.models.tenant.findByPk(id));
			if (!tenant) throw new EntityNotFoundError("Tenant", id);
			return tenant;
		},

		/**
		 * Changes or removes a membership. When that takes an owner away, the tenant's owners are counted and
		 * changed under one advisory lock per tenant, so two owners demoting or removing each other at once are
		 * serialised and the second is refused (409 LAST_OWNER) instead of leaving the tenant with none.
		 * `beforeWrite` (revoking the member's keys) runs once the change is known to be allowed, before it is written.
		 */
		async changeMember(tenantId: string, target: MembershipRow, change: { role: TenantRole } | "remove", beforeWrite: () => Promise<void>) {
			const write = (transaction?: Transaction) =>
				change === "remove"
					? this.models.membership.destroy({ where: { id: target.id }, transaction })
					: this.models.membership.update({ role: change.role }, { where: { id: target.id }, transaction });
			const endsOwner = target.role === "owner" && (change === "remove" || change.role !== "owner");
			if (!endsOwner) {
				await beforeWrite();
				await write();
				return;
			}
			await this.adapter.db.transaction(async (transaction) => {
				await this.adapter.db.query("SELECT pg_advisory_xact_lock(hashtext('lattice:tenant-owners:' || $1))", { bind: [tenantId], transaction });
				const others = await this.models.membership.count({ where: { tenantId, role: "owner", id: { [Op.ne]: target.id } }, transaction });
				if (others === 0) {
					throw new ConflictError(
						change === "remove" ? "The last owner can't leave; make another member owner first" : "The last owner can't be demoted; make another member owner first",
						"LAST_OWNER",
					);
				}
				await beforeWrite();
				await write(transaction);
			});
		},

		async createTenant(ctx: Context, name: string, ownerId: string): Promise<TenantRow> {
			const sequelize = this.adapter.db;
			const created = await sequelize.transaction(async (transaction) => {
				const tenant = (await this.models.tenant.create({ name, plan: "free", features: {}, limits: {}, createdBy: ownerId }, { transaction })).get({ plain: true });
				await this.models.membership.create({ tenantId: tenant.id, userId: ownerId, role: "owner" }, { transaction });
				return tenant;
			});
			await this.entityChanged("created", created, ctx);
			return created;
		},

		toPublic(tenant: TenantRow, role?: TenantRole) {
			return { id: tenant.id, name: tenant.name, plan: tenant.plan, features: tenant.features, createdAt: tenant.createdAt, ...(role ? { role } : {}) };
		},
	},
};

export default TenantsService;
