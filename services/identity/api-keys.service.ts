/**
 * Organization API keys: shown once at creation, stored as a hash, scoped, and owned by the tenant. A key
 * authenticates with the `X-API-Key` header. Each records who made it (`createdBy`); like GitHub's tokens of
 * an organization member, a key stops with its maker's right to make keys: leaving or being removed from the
 * tenant, a demotion below admin or a deleted account revokes it (`revokeCreatedBy`, audited), and a key whose
 * maker is no longer an admin of its tenant doesn't authenticate even if that revocation was missed.
 */
import path from "node:path";
import type { Context } from "moleculer";
import { DbMixin, plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AuditMixin, type AuditMixinMethods } from "../../mixins/audit.mixin";
import { ApiKeyModel, type ApiKeyRow } from "../../models/identity/api-keys/api-key.model";
import { roleRank, systemCall, type CallerMeta, type TenantRole } from "../../lib/caller";
import { broadcastAuthStateChange } from "./auth-state";
import { ForbiddenError, UnauthorizedError } from "../../lib/errors";
import { hashToken, randomToken } from "./secrets";
import { created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";
import { IssuedApiKeySchema, PublicApiKeySchema } from "./api-schemas";

const KEY_PREFIX = "lat";
/** Writing last_used_at on every request would turn each read into a write; once a minute is enough. */
const LAST_USED_RESOLUTION_MS = 60_000;
const SCOPE_PATTERN = /^(\*|[a-z][a-z0-9_-]*(:[a-z0-9_*-]+)*)$/;

interface ApiKeysMethods {
	toPublic(row: ApiKeyRow): Omit<ApiKeyRow, "keyHash" | "updatedAt">;
}

const ApiKeysService: DbServiceSchema<DbMixinSettings, ApiKeysMethods & AuditMixinMethods, unknown, typeof ApiKeyModel> = {
	name: "api-keys",
	mixins: [
		DbMixin({
			schema: "api_keys",
			migrations: path.join(__dirname, "../../models/identity/api-keys/migrations"),
			// A key is its tenant's: moleculer-db's list/get/remove below answer the caller's tenant only.
			owner: "tenant",
			entityName: "API key",
			model: ApiKeyModel,
		}),
		AuditMixin,
	],
	settings: { fields: ["id", "tenantId", "name", "prefix", "scopes", "createdBy", "lastUsedAt", "createdAt"] },

	actions: {
		issue: {
			rest: "POST /",
			responses: { 201: { description: "The key, shown in this answer only", body: IssuedApiKeySchema, headers: { Location: "The key's URL" } } },
			permissions: ["tenant:admin"],
			summary: "Create an API key; the key is in this answer only",
			params: {
				name: "string|trim|min:1|max:100",
				scopes: { type: "array", items: { type: "string", pattern: SCOPE_PATTERN, max: 64 }, max: 50, unique: true, default: [] },
			},
			async handler(ctx: Context<{ name: string; scopes: string[] }, CallerMeta>) {
				if (ctx.meta.apiKeyId) throw new ForbiddenError("API keys can't create API keys", "USER_REQUIRED");
				const tenantId = ctx.meta.tenantId;
				if (!tenantId) throw new ForbiddenError("This action needs an active tenant", "TENANT_REQUIRED");
				const prefix = `${KEY_PREFIX}_${randomToken(6)}`;
				const key = `${prefix}_${randomToken(32)}`;
				const row = (
					await this.model.create({ tenantId, name: ctx.params.name, prefix, keyHash: hashToken(key), scopes: ctx.params.scopes, createdBy: ctx.meta.user?.id ?? null })
				).get({ plain: true });
				await this.audit(ctx, { action: "api_key.created", targetType: "api_key", targetId: row.id, data: { name: row.name, scopes: row.scopes } });
				created(ctx, "api-keys", row.id);
				return { ...this.toPublic(row), key };
			},
		},

		list: {
			rest: "GET /",
			summary: "The organization's API keys (without their secrets)",
			permissions: ["tenant:admin"],
			responses: { 200: { description: "A page of the tenant's keys", body: PageOf(PublicApiKeySchema) } },
		},
		get: {
			rest: "GET /:id",
			summary: "One API key (without its secret)",
			permissions: ["tenant:admin"],
			responses: { 200: { description: "The key (without its secret)", body: PublicApiKeySchema } },
		},

		revoke: {
			rest: "DELETE /:id",
			summary: "Revoke an API key: it stops working at once, on every node",
			responses: { 204: "Revoked" },
			permissions: ["tenant:admin"],
			params: { id: "uuid" },
			async handler(ctx: Context<{ id: string }, CallerMeta>) {
				// Through `remove`, so the tenant check of DbMixin applies: another tenant's key is a 404.
				await ctx.call("api-keys.remove", { id: ctx.params.id });
				broadcastAuthStateChange(this.broker, { apiKeyId: ctx.params.id, reason: "api_key_revoked" });
				await this.audit(ctx, { action: "api_key.deleted", targetType: "api_key", targetId: ctx.params.id });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Internal: revokes the keys a member made, in one tenant or in all (see the top of this file). */
		revokeCreatedBy: {
			visibility: "public",
			params: {
				userId: "uuid",
				tenantId: { type: "uuid", optional: true },
				reason: "string|max:40",
				actorId: { type: "uuid", optional: true },
				actorEmail: { type: "string", optional: true, max: 320 },
			},
			async handler(ctx: Context<{ userId: string; tenantId?: string; reason: string; actorId?: string; actorEmail?: string }, CallerMeta>) {
				const { userId, tenantId, reason, actorId, actorEmail } = ctx.params;
				const rows = (await this.model.findAll({ where: { createdBy: userId, ...(tenantId ? { tenantId } : {}) } })).map((row) => row.get({ plain: true }));
				if (rows.length === 0) return 0;
				await this.model.destroy({ where: { id: rows.map((row) => row.id) } });
				await this.entityChanged("removed", rows, ctx);
				for (const row of rows) {
					broadcastAuthStateChange(this.broker, { apiKeyId: row.id, reason });
					await this.audit(ctx, {
						action: "api_key.revoked",
						actorId: actorId ?? null,
						actorEmail: actorEmail ?? null,
						tenantId: row.tenantId,
						targetType: "api_key",
						targetId: row.id,
						data: { name: row.name, createdBy: row.createdBy, reason },
					});
				}
				return rows.length;
			},
		},

		/** Internal: the gateway's credential check for X-API-Key. */
		authenticate: {
			visibility: "public",
			params: { key: "string|min:10|max:200" },
			async handler(ctx: Context<{ key: string }>): Promise<CallerMeta> {
				const row = plainRow(await this.model.findOne({ where: { keyHash: hashToken(ctx.params.key) } }));
				if (!row) throw new UnauthorizedError("The API key is invalid", "INVALID_API_KEY");
				if (row.createdBy) {
					const maker = await this.broker.call<{ role: TenantRole } | null, object>("tenants.membershipOf", { tenantId: row.tenantId, userId: row.createdBy }, systemCall());
					if (!maker || roleRank(maker.role) > roleRank("admin")) throw new UnauthorizedError("The API key is invalid", "INVALID_API_KEY");
				}
				if (!row.lastUsedAt || Date.now() - new Date(row.lastUsedAt).getTime() > LAST_USED_RESOLUTION_MS) {
					await this.model.update({ lastUsedAt: new Date() }, { where: { id: row.id } });
				}
				// A key acts as a member of its organization, narrowed further by its scopes.
				return { apiKeyId: row.id, tenantId: row.tenantId, role: "member", scopes: row.scopes, persona: "end_user" };
			},
		},
	},

	methods: {
		toPublic(row: ApiKeyRow) {
			return { id: row.id, tenantId: row.tenantId, name: row.name, prefix: row.prefix, scopes: row.scopes, createdBy: row.createdBy, lastUsedAt: row.lastUsedAt, createdAt: row.createdAt };
		},
	},
};

export default ApiKeysService;
