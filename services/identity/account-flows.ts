/**
 * The auth service's account flows (a mixin of auth.service.ts, which keeps sessions and tokens): sign-up,
 * the caller's own view (`me`), persona and tenant switches, forgotten, reset and changed passwords, and
 * email verification, with the single-use tokens their links carry. Actions keep their `auth.*` names and
 * REST paths; they reach sessions only through the service's methods (startSession, issueTokens,
 * revokeSessions, pickTenant).
 */
import { Op } from "sequelize";
import { Errors, type ServiceSchema } from "moleculer";
import type { OneTimePurpose } from "../../models/identity/auth/auth.models";
import { PERSONAS, systemCall, type Persona, type TenantRole } from "../../lib/caller";
import { BadRequestError, ForbiddenError, UnauthorizedError } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import { created } from "../../lib/api-path";
import { checkPasswordPolicy, hashToken, randomToken } from "./secrets";
import type { PublicUser } from "./contracts";
import type { MailSendResult, MailSendTemplateParams, SendParams, SendResult } from "../notifications/contracts";
import type { AuthContext, AuthServiceSchema, Membership } from "./auth.types";
import { plainRow } from "../../mixins/db.mixin";
import { Type } from "../../lib/schema";
import { AcceptedSchema, MeSchema, PersonaChangedSchema, PublicTenantSchema, PublicUserSchema, TenantTokensSchema, TokenSetSchema } from "./api-schemas";

const ONE_TIME_TTL_MS: Record<OneTimePurpose, number> = { password_reset: 3_600_000, email_verification: 2 * 86_400_000 };

const AccountFlowsSchema: Partial<AuthServiceSchema> = {
	actions: {
		register: {
			rest: "POST /register",
			responses: { 201: { description: "The account, its organization and a session", body: Type.Composite([TokenSetSchema, Type.Object({ user: PublicUserSchema, tenant: PublicTenantSchema })]), headers: { Location: "The user's URL" } } },
			errors: { 409: ["EMAIL_TAKEN"] },
			auth: "public",
			summary: "Create an account and its organization",
			params: {
				email: "email|normalize|max:320",
				password: "string|max:256",
				fullName: "string|trim|min:1|max:200",
				organization: { type: "string", trim: true, min: 1, max: 200, optional: true },
			},
			async handler(ctx: AuthContext<{ email: string; password: string; fullName: string; organization?: string }>) {
				const violation = checkPasswordPolicy(ctx.params.password, ctx.params.email);
				if (violation) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [violation]);
				const user = await this.broker.call<PublicUser, object>("users.createAccount", { email: ctx.params.email, password: ctx.params.password, fullName: ctx.params.fullName }, systemCall());
				const tenant = await this.broker.call<Membership, object>("tenants.createForOwner", { name: ctx.params.organization ?? `${ctx.params.fullName}'s organization`, ownerId: user.id }, systemCall());
				const { tokens } = await this.startSession(ctx, user, tenant.id);
				await this.throttle.remember(user.email, ctx.meta.ip, user.id);
				await this.sendVerificationEmail(user);
				await this.audit(ctx, { action: "auth.signup", actorId: user.id, actorEmail: user.email, tenantId: tenant.id, targetType: "user", targetId: user.id });
				created(ctx, "users", user.id);
				return { user, tenant: { ...tenant, role: "owner" }, ...tokens };
			},
		},
		me: {
			rest: "GET /me",
			summary: "The caller, its active organization and its memberships",
			responses: { 200: { description: "The caller, its active organization and memberships", body: MeSchema } },
			params: {},
			async handler(ctx: AuthContext) {
				if (!ctx.meta.user) throw new UnauthorizedError("Sign in first", "UNAUTHORIZED");
				const [user, memberships] = await Promise.all([
					this.currentUser(ctx),
					this.broker.call<Membership[], object>("tenants.membershipsOf", { userId: ctx.meta.user.id }, systemCall()),
				]);
				// Both parts come from the cacher; on a node whose cacher hands out the objects it keeps (Memory), the
				// same profile and memberships objects mean nothing changed, and the previous answer is handed out
				// again, frozen, so the gateway serialises it once (lib/gateway/fast-path.ts) instead of per request.
				// A change cleans either cache, which yields new objects and so a new answer.
				const tenantId = ctx.meta.tenantId ?? null;
				const known = this.meAnswers.get(user);
				if (known && known.memberships === memberships && known.tenantId === tenantId) return known.answer;
				const active = memberships.find((item) => item.id === tenantId) ?? null;
				const answer = Object.freeze({ user, tenant: active, role: active?.role ?? null, persona: user.persona, memberships });
				if (typeof user === "object" && user !== null) this.meAnswers.set(user, { memberships, tenantId, answer });
				return answer;
			},
		},
		updatePersona: {
			rest: "PUT /update-persona",
			responses: { 200: { description: "The user; new tokens when the caller changed its own persona", body: PersonaChangedSchema } },
			errors: { 409: ["LAST_SUPER_ADMIN"] },
			summary: "Change a persona; super_admin is granted by super admins only",
			description: "Without `userId`, the caller's own persona (`null` is refused). The last active super admin can't lose the persona: 409 `LAST_SUPER_ADMIN`.",
			params: { persona: { type: "enum", values: PERSONAS }, userId: { type: "uuid", optional: true } },
			// The broker's validator refuses `null` (lib/validator.ts): it is not a way to say "myself".
			async handler(ctx: AuthContext<{ persona: Persona; userId?: string }>) {
				const caller = await this.currentUser(ctx);
				const targetId = ctx.params.userId ?? caller.id;
				const callerIsSuperAdmin = caller.persona === "super_admin";
				if ((ctx.params.persona === "super_admin" || targetId !== caller.id) && !callerIsSuperAdmin) {
					throw new ForbiddenError("Only a super admin can grant this persona or change another user's", "SUPER_ADMIN_REQUIRED");
				}
				const user = await this.broker.call<PublicUser, object>("users.setPersona", { id: targetId, persona: ctx.params.persona }, systemCall());
				await this.audit(ctx, { action: "user.persona_changed", targetType: "user", targetId, data: { persona: ctx.params.persona } });
				if (targetId !== caller.id) return { user };
				// The caller's own tokens carry the persona: hand out fresh ones.
				const session = plainRow(await this.models.session.findByPk(ctx.meta.sessionId as string));
				if (!session) return { user };
				return { user, ...(await this.issueTokens(session, user, ctx.meta.role ?? null)) };
			},
		},
		switchTenant: {
			rest: "POST /switch-tenant",
			summary: "Make another of the caller's organizations the active one",
			responses: { 200: { description: "Tokens for the organization", body: TenantTokensSchema } },
			errors: { 401: ["SESSION_ENDED"] },
			params: { tenantId: "uuid" },
			async handler(ctx: AuthContext<{ tenantId: string }>) {
				const user = await this.currentUser(ctx);
				const membership = await this.broker.call<{ role: TenantRole } | null, object>("tenants.membershipOf", { tenantId: ctx.params.tenantId, userId: user.id }, systemCall());
				if (!membership) throw new ForbiddenError("You are not a member of this organization", "NOT_A_MEMBER");
				const session = plainRow(await this.models.session.findByPk(ctx.meta.sessionId as string));
				if (!session) throw new UnauthorizedError("This session has ended", "SESSION_ENDED");
				await this.models.session.update({ tenantId: ctx.params.tenantId }, { where: { id: session.id } });
				const tenant = await this.pickTenant(ctx, user.id, ctx.params.tenantId);
				return { tenant, ...(await this.issueTokens({ ...session, tenantId: ctx.params.tenantId }, user, membership.role)) };
			},
		},
		forgotPassword: {
			rest: "POST /password/forgot",
			summary: "Mail a password reset link, if the account exists",
			responses: { 202: { description: "Accepted: a link is mailed if the account exists", body: AcceptedSchema } },
			auth: "public",
			params: { email: "string|trim|min:3|max:320" },
			async handler(ctx: AuthContext<{ email: string }>) {
				const user = await this.broker.call<PublicUser | null, object>("users.findByEmail", { email: ctx.params.email }, systemCall());
				if (user && user.status === "active") {
					const token = await this.createOneTimeToken(user.id, "password_reset");
					const link = `${platformConfigOf(this.broker).appUrl}/reset-password?token=${encodeURIComponent(token)}`;
					await this.broker.call<MailSendResult, MailSendTemplateParams<"password-reset">>("mail.sendTemplate", { to: user.email, template: "password-reset", data: { fullName: user.fullName, link, expiresInMinutes: 60 } }, systemCall());
					await this.audit(ctx, { action: "auth.password_reset_requested", actorId: user.id, actorEmail: user.email });
				}
				// Always the same answer: whether an account exists is not disclosed.
				ctx.meta.$statusCode = 202;
				return { accepted: true };
			},
		},
		resetPassword: {
			rest: "POST /password/reset",
			summary: "Set a new password with a reset link's token",
			responses: { 200: { description: "The password is reset; every session has ended", body: Type.Object({ reset: Type.Literal(true) }) } },
			auth: "public",
			params: { token: "string|min:20|max:200", password: "string|max:256" },
			async handler(ctx: AuthContext<{ token: string; password: string }>) {
				const userId = await this.consumeOneTimeToken(ctx.params.token, "password_reset");
				const user = await this.broker.call<PublicUser, object>("users.profile", { id: userId }, systemCall());
				const violation = checkPasswordPolicy(ctx.params.password, user.email);
				if (violation) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [violation]);
				await this.broker.call("users.setPassword", { id: userId, password: ctx.params.password }, systemCall());
				await this.revokeSessions({ userId }, "password_reset");
				await this.throttle.clear({ email: user.email });
				await this.broker.call<SendResult, SendParams>("notifications.send", { userId, type: "security.password_changed", data: {} }, systemCall()).catch((err: Error) => {
					this.logger.warn(`Password-changed notice to user ${userId} was not sent:`, err.message);
				});
				await this.audit(ctx, { action: "auth.password_reset", actorId: userId, actorEmail: user.email });
				return { reset: true };
			},
		},
		changePassword: {
			rest: "POST /password/change",
			summary: "Change the password (the other sessions end)",
			responses: { 200: { description: "The password is changed: a new session (the others have ended)", body: TenantTokensSchema } },
			params: { currentPassword: "string|min:1|max:1024", newPassword: "string|max:256" },
			async handler(ctx: AuthContext<{ currentPassword: string; newPassword: string }>) {
				const user = await this.currentUser(ctx);
				const check = await this.broker.call<{ valid: boolean }, object>("users.verifyCredentials", { email: user.email, password: ctx.params.currentPassword }, systemCall());
				if (!check.valid) throw new ForbiddenError("The current password is incorrect", "INVALID_CURRENT_PASSWORD");
				const violation = checkPasswordPolicy(ctx.params.newPassword, user.email);
				if (violation) throw new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [{ ...violation, field: "newPassword" }]);
				await this.broker.call("users.setPassword", { id: user.id, password: ctx.params.newPassword }, systemCall());
				await this.revokeSessions({ userId: user.id }, "password_changed");
				await this.audit(ctx, { action: "auth.password_changed", targetType: "user", targetId: user.id });
				// Every session ended, this one too; the client carries on with a fresh one.
				const { tokens, tenant } = await this.startSession(ctx, user, ctx.meta.tenantId);
				return { tenant, ...tokens };
			},
		},
		verifyEmail: {
			rest: "POST /verify-email",
			summary: "Verify the email address with a link's token",
			responses: { 200: { description: "The email is verified", body: Type.Object({ verified: Type.Literal(true), user: PublicUserSchema }) } },
			auth: "public",
			params: { token: "string|min:20|max:200" },
			async handler(ctx: AuthContext<{ token: string }>) {
				const userId = await this.consumeOneTimeToken(ctx.params.token, "email_verification");
				const user = await this.broker.call<PublicUser, object>("users.markEmailVerified", { id: userId }, systemCall());
				await this.audit(ctx, { action: "auth.email_verified", actorId: userId, actorEmail: user.email });
				return { verified: true, user };
			},
		},
		resendVerification: {
			rest: "POST /verify-email/resend",
			summary: "Mail the verification link again",
			responses: { 202: { description: "Accepted: a link is mailed if the email isn't verified yet", body: AcceptedSchema } },
			params: {},
			async handler(ctx: AuthContext) {
				const user = await this.currentUser(ctx);
				if (!user.emailVerified) await this.sendVerificationEmail(user);
				ctx.meta.$statusCode = 202;
				return { accepted: true };
			},
		},
	},

	methods: {
		async createOneTimeToken(userId: string, purpose: OneTimePurpose) {
			const token = randomToken();
			await this.models.oneTimeToken.create({ userId, purpose, tokenHash: hashToken(token), expiresAt: new Date(Date.now() + ONE_TIME_TTL_MS[purpose]) });
			return token;
		},

		/** Single use: the token is claimed atomically, so two concurrent uses can't both succeed. */
		async consumeOneTimeToken(token: string, purpose: OneTimePurpose) {
			const [count, rows] = await this.models.oneTimeToken.update(
				{ usedAt: new Date() },
				{ where: { tokenHash: hashToken(token), purpose, usedAt: null, expiresAt: { [Op.gt]: new Date() } }, returning: true },
			);
			if (count === 0) throw new BadRequestError("This link is invalid or has expired", "INVALID_TOKEN");
			return rows[0].get({ plain: true }).userId;
		},

		async sendVerificationEmail(user: PublicUser) {
			const token = await this.createOneTimeToken(user.id, "email_verification");
			const link = `${platformConfigOf(this.broker).appUrl}/verify-email?token=${encodeURIComponent(token)}`;
			try {
				// Through notifications, so the user's language applies; it goes by email only, and can't be turned off.
				await this.broker.call<SendResult, SendParams>("notifications.send", { userId: user.id, type: "account.verify_email", data: { link } }, systemCall());
			} catch (err) {
				// The account exists either way; the user can ask for the email again.
				this.logger.warn(`Verification email to ${user.email} was not sent:`, (err as Error).message);
			}
		},
	},
};

/** Typed against the auth service it joins (`this` is the whole service); a mixin slot takes a plain schema. */
export const AccountFlows = AccountFlowsSchema as Partial<ServiceSchema>;
