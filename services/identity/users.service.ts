/**
 * User accounts: profile (full name, phone, address), persona, status. The password hash never leaves
 * this service: other services ask it to check a password instead.
 *
 * Every account is created by `createAccount` (registration, OIDC sign-up, the bootstrap admin), and is
 * announced durably: the row and an outbox row commit in ONE transaction (mixins/outbox.mixin.ts), and the
 * relay publishes `{ userId, user }` to the channel `identity.user.created`, so the welcome doesn't depend
 * on a notifications node being up at that moment. The plain `user.created` event stays for
 * fire-and-forget listeners.
 */
import path from "node:path";
import { Op, type WhereOptions } from "sequelize";
import type { Context } from "moleculer";
import { DbMixin, PAGE_PARAMS, newestFirstPage, plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AuditMixin, type AuditMixinMethods } from "../../mixins/audit.mixin";
import { OutboxMixin, outboxModel, type OutboxMethods } from "../../mixins/outbox.mixin";
import { UserModel, USER_STATUSES, type UserRow, type UserStatus } from "../../models/identity/users/user.model";
import { PERSONAS, type CallerMeta, type Persona } from "../../lib/caller";
import { ConflictError, EntityNotFoundError } from "../../lib/errors";
import { decoyPasswordHash, hashPassword, verifyPassword } from "./secrets";
import { broadcastAuthStateChange } from "./auth-state";
import { USER_CHANNELS, USER_EVENTS, type PublicUser, type UserCreatedEvent, type UserCreatedMessage, type UserDeletedEvent, type UserStatusChangedEvent } from "./contracts";
import { PublicUserSchema, UserStatsSchema } from "./api-schemas";
import { PageOf } from "../../lib/schema";

interface UsersMethods {
	loadUser(id: string): Promise<UserRow>;
	toPublic(row: UserRow): PublicUser;
	isSelf(ctx: Context<{ id: string }, CallerMeta>): boolean;
	changeUser(ctx: Context, id: string, changes: Partial<UserRow>): Promise<PublicUser>;
}

const ADDRESS_RULE = {
	type: "object",
	optional: true,
	nullable: true,
	strict: "remove",
	props: {
		line1: { type: "string", max: 200, optional: true },
		line2: { type: "string", max: 200, optional: true },
		city: { type: "string", max: 100, optional: true },
		region: { type: "string", max: 100, optional: true },
		postalCode: { type: "string", max: 20, optional: true },
		country: { type: "string", length: 2, uppercase: true, optional: true },
	},
} as const;

const UsersService: DbServiceSchema<DbMixinSettings, UsersMethods & AuditMixinMethods & OutboxMethods, unknown, typeof UserModel> = {
	name: "users",
	mixins: [
		DbMixin({
			schema: "users",
			migrations: path.join(__dirname, "../../models/identity/users/migrations"),
			model: UserModel,
			extraModels: [outboxModel()],
			entityName: "User",
		}),
		OutboxMixin({ name: "Users outbox" }),
		AuditMixin,
	],

	actions: {
		/** Internal: sign-up, OIDC first login and bootstrap create accounts through here. */
		createAccount: {
			visibility: "public",
			params: {
				email: "email|normalize",
				password: { type: "string", optional: true },
				fullName: "string|trim|min:1|max:200",
				persona: { type: "enum", values: PERSONAS, optional: true },
				emailVerified: { type: "boolean", optional: true },
			},
			async handler(ctx: Context<{ email: string; password?: string; fullName: string; persona?: Persona; emailVerified?: boolean }>) {
				const email = ctx.params.email.toLowerCase();
				const existing = await this.model.findOne({ where: { email } });
				if (existing) throw new ConflictError("An account with this email already exists", "EMAIL_TAKEN");
				// Hashed first: argon2 takes a while, and the transaction below holds a pooled connection.
				const passwordHash = ctx.params.password ? await hashPassword(ctx.params.password) : null;
				// The account and its announcement commit together: no account without its welcome, no welcome without its account.
				let user: PublicUser;
				try {
					user = await this.adapter.db.transaction(async (transaction) => {
						const row = await this.model.create(
							{
								email,
								passwordHash,
								fullName: ctx.params.fullName,
								persona: ctx.params.persona ?? "end_user",
								status: "active",
								emailVerifiedAt: ctx.params.emailVerified ? new Date() : null,
							},
							{ transaction },
						);
						const created = this.toPublic(row.get({ plain: true }));
						await this.writeOutbox(transaction, USER_CHANNELS.created, { userId: created.id, user: created } satisfies UserCreatedMessage);
						return created;
					});
				} catch (err) {
					// Two sign-ups with one email can both pass the check above; the unique index stops the second.
					if ((err as Error).name === "SequelizeUniqueConstraintError") throw new ConflictError("An account with this email already exists", "EMAIL_TAKEN");
					throw err;
				}
				ctx.emit<UserCreatedEvent>(USER_EVENTS.created, { user });
				return user;
			},
		},

		/** Internal: the one place a password is compared. Unknown emails cost the same time as wrong passwords. */
		verifyCredentials: {
			visibility: "public",
			params: { email: "string|max:320", password: "string|max:1024" },
			async handler(ctx: Context<{ email: string; password: string }>) {
				const row = plainRow(await this.model.findOne({ where: { email: ctx.params.email.trim().toLowerCase() } }));
				const hash = row?.passwordHash ?? (await decoyPasswordHash());
				const matches = await verifyPassword(hash, ctx.params.password);
				if (!row || !row.passwordHash || !matches || row.status === "deleted") return { valid: false, user: null };
				return { valid: true, user: this.toPublic(row) };
			},
		},

		findByEmail: {
			visibility: "public",
			params: { email: "string|max:320" },
			async handler(ctx: Context<{ email: string }>) {
				const row = plainRow(await this.model.findOne({ where: { email: ctx.params.email.trim().toLowerCase() } }));
				return row ? this.toPublic(row) : null;
			},
		},

		/** Internal: names and emails for lists that show people (members of a tenant). */
		summaries: {
			visibility: "public",
			params: { ids: { type: "array", items: "uuid", max: 1000 } },
			async handler(ctx: Context<{ ids: string[] }>) {
				if (ctx.params.ids.length === 0) return [];
				const rows = await this.model.findAll({ where: { id: ctx.params.ids } });
				return rows.map((row) => {
					const user = row.get({ plain: true });
					return { id: user.id, email: user.email, fullName: user.fullName };
				});
			},
		},

		/**
		 * Internal: active users in id order, a page after `afterId`, for work that reaches everyone
		 * (broadcast notifications). Keyset paging: users signing up meanwhile don't shift the pages.
		 */
		activeRecipients: {
			visibility: "public",
			params: { afterId: { type: "uuid", optional: true }, limit: { type: "number", integer: true, min: 1, max: 1000, default: 200 } },
			async handler(ctx: Context<{ afterId?: string; limit: number }>) {
				const where: WhereOptions = { status: "active", ...(ctx.params.afterId ? { id: { [Op.gt]: ctx.params.afterId } } : {}) };
				const rows = await this.model.findAll({ where, order: [["id", "ASC"]], limit: ctx.params.limit, attributes: ["id", "email", "fullName"] });
				return rows.map((row) => {
					const { id, email, fullName } = row.get({ plain: true });
					return { id, email, fullName };
				});
			},
		},

		/** Internal: what token validation needs on every request; cached, and cleaned on every change. */
		authState: {
			visibility: "public",
			cache: { keys: ["id"], ttl: 60 },
			params: { id: "uuid" },
			async handler(ctx: Context<{ id: string }>) {
				const row = plainRow(await this.model.findByPk(ctx.params.id));
				return row ? { id: row.id, email: row.email, status: row.status, persona: row.persona } : null;
			},
		},

		setPassword: {
			visibility: "public",
			params: { id: "uuid", password: "string|min:10|max:256" },
			async handler(ctx: Context<{ id: string; password: string }>) {
				return this.changeUser(ctx, ctx.params.id, { passwordHash: await hashPassword(ctx.params.password), passwordChangedAt: new Date() });
			},
		},

		clearPassword: {
			visibility: "public",
			params: { id: "uuid" },
			handler(ctx: Context<{ id: string }>) {
				return this.changeUser(ctx, ctx.params.id, { passwordHash: null, passwordChangedAt: new Date() });
			},
		},

		setPersona: {
			visibility: "public",
			params: { id: "uuid", persona: { type: "enum", values: PERSONAS } },
			handler(ctx: Context<{ id: string; persona: Persona }>) {
				return this.changeUser(ctx, ctx.params.id, { persona: ctx.params.persona });
			},
		},

		markEmailVerified: {
			visibility: "public",
			params: { id: "uuid" },
			handler(ctx: Context<{ id: string }>) {
				return this.changeUser(ctx, ctx.params.id, { emailVerifiedAt: new Date() });
			},
		},

		recordLogin: {
			visibility: "public",
			params: { id: "uuid" },
			async handler(ctx: Context<{ id: string }>) {
				await this.model.update({ lastLoginAt: new Date() }, { where: { id: ctx.params.id } });
				// The profile is cached (it answers /auth/me); it shows lastLoginAt.
				await this.entityChanged("updated", { id: ctx.params.id }, ctx);
				return true;
			},
		},

		search: {
			rest: "GET /",
			responses: { 200: { description: "A page of users, newest first", body: PageOf(PublicUserSchema) } },
			permissions: ["super_admin"],
			summary: "Search users (super admins)",
			params: {
				search: { type: "string", optional: true, max: 200 },
				status: { type: "enum", values: USER_STATUSES, optional: true },
				persona: { type: "enum", values: PERSONAS, optional: true },
				...PAGE_PARAMS,
			},
			async handler(ctx: Context<{ search?: string; status?: UserStatus; persona?: Persona; page: number; pageSize: number }>) {
				const { search, status, persona, page, pageSize } = ctx.params;
				const pattern = search ? `%${search.replace(/[\\%_]/g, (char) => `\\${char}`)}%` : undefined;
				const where: WhereOptions = {
					...(status ? { status } : { status: { [Op.ne]: "deleted" } }),
					...(persona ? { persona } : {}),
					...(pattern ? { [Op.or]: [{ email: { [Op.iLike]: pattern } }, { fullName: { [Op.iLike]: pattern } }] } : {}),
				};
				return newestFirstPage(this.model, where, page, pageSize, (row) => this.toPublic(row));
			},
		},

		profile: {
			rest: "GET /:id",
			summary: "A user's profile (the user itself, or super admins)",
			responses: { 200: { description: "The user", body: PublicUserSchema } },
			permissions: ["$isSelf"],
			// Cleaned on every change (changeUser, recordLogin); access control runs before the cacher.
			cache: { keys: ["id"], ttl: 60 },
			params: { id: "uuid" },
			async handler(ctx: Context<{ id: string }>) {
				return this.toPublic(await this.loadUser(ctx.params.id));
			},
		},

		updateProfile: {
			rest: "PUT /:id",
			summary: "Change the profile: name, phone, address",
			responses: { 200: { description: "The user as changed", body: PublicUserSchema } },
			permissions: ["$isSelf"],
			params: {
				id: "uuid",
				fullName: { type: "string", trim: true, min: 1, max: 200, optional: true },
				phone: { type: "string", trim: true, pattern: /^\+?[0-9 ()./-]{4,40}$/, optional: true, nullable: true },
				address: ADDRESS_RULE,
				$$strict: "remove",
			},
			async handler(ctx: Context<{ id: string; fullName?: string; phone?: string | null; address?: Record<string, unknown> | null }>) {
				const { id, ...changes } = ctx.params;
				const user = await this.changeUser(ctx, id, changes);
				await this.audit(ctx, { action: "user.profile_updated", targetType: "user", targetId: id, data: { fields: Object.keys(changes) } });
				return user;
			},
		},

		deleteAccount: {
			rest: "DELETE /:id",
			summary: "Delete the account (its row stays for the audit trail)",
			responses: { 204: "The account is deleted" },
			errors: { 409: ["LAST_SUPER_ADMIN"] },
			permissions: ["$isSelf"],
			params: { id: "uuid" },
			async handler(ctx: Context<{ id: string }, CallerMeta>) {
				const row = await this.loadUser(ctx.params.id);
				// Keep the row for the audit trail; free the email for a new sign-up.
				await this.changeUser(ctx, row.id, { status: "deleted", email: `deleted+${row.id}@invalid`, passwordHash: null, deletedAt: new Date() });
				ctx.broadcast<UserDeletedEvent>(USER_EVENTS.deleted, { userId: row.id });
				await this.audit(ctx, { action: "user.deleted", targetType: "user", targetId: row.id });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		setStatus: {
			rest: "PUT /:id/status",
			summary: "Suspend or reactivate a user (super admins)",
			responses: { 200: { description: "The user in its new status", body: PublicUserSchema } },
			errors: { 409: ["LAST_SUPER_ADMIN"] },
			permissions: ["super_admin"],
			params: { id: "uuid", status: { type: "enum", values: ["active", "suspended"] } },
			async handler(ctx: Context<{ id: string; status: "active" | "suspended" }>) {
				const user = await this.changeUser(ctx, ctx.params.id, { status: ctx.params.status });
				ctx.broadcast<UserStatusChangedEvent>(USER_EVENTS.statusChanged, { userId: user.id, status: user.status });
				await this.audit(ctx, { action: `user.${ctx.params.status === "suspended" ? "suspended" : "reactivated"}`, targetType: "user", targetId: user.id });
				return user;
			},
		},

		stats: {
			rest: "GET /:id/stats",
			summary: "A user's figures: organizations, sessions, last sign-in",
			responses: { 200: { description: "The user's figures", body: UserStatsSchema } },
			permissions: ["$isSelf"],
			params: { id: "uuid" },
			async handler(ctx: Context<{ id: string }>) {
				const user = await this.loadUser(ctx.params.id);
				const [memberships, sessions] = await Promise.all([
					ctx.call<unknown[], { userId: string }>("tenants.membershipsOf", { userId: user.id }).catch(() => []),
					ctx.call<number, { userId: string }>("auth.activeSessionCount", { userId: user.id }).catch(() => null),
				]);
				return {
					userId: user.id,
					tenants: memberships.length,
					activeSessions: sessions,
					lastLoginAt: user.lastLoginAt,
					memberSince: user.createdAt,
					emailVerified: Boolean(user.emailVerifiedAt),
				};
			},
		},
	},

	methods: {
		async loadUser(id: string): Promise<UserRow> {
			const row = plainRow(await this.model.findByPk(id));
			if (!row || row.status === "deleted") throw new EntityNotFoundError("User", id);
			return row;
		},

		/**
		 * Updates through moleculer-db's entityChanged so every node's cached auth state is cleaned, then tells
		 * every gateway node to forget this user's resolved credentials (status, persona, email, password). Every
		 * path that can take a super admin away (persona, suspension, deletion) comes through here, and the last
		 * active one can't be: a change that ends an active super admin runs under one advisory lock, so two super
		 * admins demoting each other at once are serialised and the second is refused.
		 */
		async changeUser(ctx: Context, id: string, changes: Partial<UserRow>): Promise<PublicUser> {
			await this.loadUser(id);
			const mayEndSuperAdmin = (changes.persona !== undefined && changes.persona !== "super_admin") || (changes.status !== undefined && changes.status !== "active");
			if (mayEndSuperAdmin) {
				await this.adapter.db.transaction(async (transaction) => {
					await this.adapter.db.query("SELECT pg_advisory_xact_lock(hashtext('lattice:users:super-admins'))", { transaction });
					const target = plainRow(await this.model.findByPk(id, { transaction }));
					if (target?.persona === "super_admin" && target.status === "active") {
						const others = await this.model.count({ where: { persona: "super_admin", status: "active", id: { [Op.ne]: id } }, transaction });
						if (others === 0) throw new ConflictError("The last active super admin can't be demoted, suspended or deleted; make another user super admin first", "LAST_SUPER_ADMIN");
					}
					await this.model.update(changes, { where: { id }, transaction });
				});
			} else {
				await this.model.update(changes, { where: { id } });
			}
			const row = await this.loadUser(id).catch(() => undefined);
			const fresh = row ?? plainRow(await this.model.findByPk(id))!;
			await this.entityChanged("updated", fresh, ctx);
			broadcastAuthStateChange(this.broker, { userId: id, reason: "account_changed" });
			return this.toPublic(fresh);
		},

		isSelf(ctx: Context<{ id: string }, CallerMeta>): boolean {
			return Boolean(ctx.meta.user && ctx.meta.user.id === ctx.params.id);
		},

		toPublic(row: UserRow): PublicUser {
			const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null);
			return {
				id: row.id,
				email: row.email,
				fullName: row.fullName,
				phone: row.phone,
				address: row.address,
				persona: row.persona,
				status: row.status,
				emailVerified: Boolean(row.emailVerifiedAt),
				lastLoginAt: iso(row.lastLoginAt),
				createdAt: iso(row.createdAt) ?? "",
				updatedAt: iso(row.updatedAt) ?? "",
			};
		},
	},

	started() {
		this.startOutboxRelay();
	},

	async stopped() {
		await this.stopOutboxRelay();
	},
};

export default UsersService;
