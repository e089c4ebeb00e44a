/**
 * The audit log: sign-ups, logins (both outcomes), token reuse, password and role changes, API keys,
 * admin actions. Tenant owners and admins read their tenant's entries; super admins read everything.
 */
import path from "node:path";
import { Op } from "sequelize";
import type { Context } from "moleculer";
import { DbMixin, PAGE_PARAMS, type CreationOf, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import type { CallerMeta } from "../../lib/caller";
import { AuditEntryModel, type AuditEntryRow } from "../../models/identity/audit/audit.model";
import { PageOf } from "../../lib/schema";
import { AuditEntrySchema } from "./api-schemas";

interface AuditListParams {
	page?: number;
	pageSize?: number;
	action?: string;
	actorId?: string;
	outcome?: "success" | "failure";
	tenantId?: string;
	from?: Date;
	to?: Date;
}

const AuditService: DbServiceSchema<DbMixinSettings, unknown, unknown, typeof AuditEntryModel> = {
	name: "audit",
	settings: { rest: "/audit-log" },
	mixins: [
		DbMixin({
			schema: "audit",
			migrations: path.join(__dirname, "../../models/identity/audit/migrations"),
			entityName: "Audit entry",
			model: AuditEntryModel,
			// Entries are their tenant's; super admins (and platform work) read every tenant's and the account-level
			// ones, in a tenant or not, narrowing with `tenantId` if they like.
			owner: { owner: "tenant", platformLists: "all" },
		}),
	],

	actions: {
		record: {
			visibility: "public",
			params: {
				action: "string|min:1|max:64",
				outcome: { type: "enum", values: ["success", "failure"], optional: true },
				actorId: { type: "uuid", optional: true, nullable: true },
				actorEmail: { type: "string", optional: true, nullable: true, max: 320 },
				tenantId: { type: "uuid", optional: true, nullable: true },
				targetType: { type: "string", optional: true, max: 40 },
				targetId: { type: "string", optional: true, max: 64 },
				ip: { type: "string", optional: true, nullable: true, max: 64 },
				userAgent: { type: "string", optional: true, nullable: true, max: 512 },
				data: { type: "object", optional: true },
			},
			async handler(ctx: Context<Omit<CreationOf<typeof AuditEntryModel>, "outcome"> & { outcome?: AuditEntryRow["outcome"] }>) {
				const entry = await this.model.create({ outcome: "success", ...ctx.params });
				return { id: entry.get({ plain: true }).id };
			},
		},

		search: {
			rest: "GET /",
			responses: { 200: { description: "A page of entries, newest first", body: PageOf(AuditEntrySchema) } },
			permissions: ["tenant:admin"],
			summary: "Audit log entries, newest first",
			params: {
				...PAGE_PARAMS,
				action: { type: "string", optional: true, max: 64 },
				actorId: { type: "uuid", optional: true },
				outcome: { type: "enum", values: ["success", "failure"], optional: true },
				tenantId: { type: "uuid", optional: true },
				from: { type: "date", convert: true, optional: true },
				to: { type: "date", convert: true, optional: true },
			},
			async handler(ctx: Context<AuditListParams, CallerMeta>) {
				const { page = 1, pageSize = 20, tenantId, action, actorId, outcome, from, to } = ctx.params;
				const createdAt = { ...(from ? { [Op.gte]: from } : {}), ...(to ? { [Op.lte]: to } : {}) };
				// Tenant admins see their own tenant only, whatever they ask for: the owner condition replaces `tenantId`.
				const where = {
					...(tenantId ? { tenantId } : {}),
					...(action ? { action } : {}),
					...(actorId ? { actorId } : {}),
					...(outcome ? { outcome } : {}),
					...(from || to ? { createdAt } : {}),
				};
				return this.scoped(ctx).page({ page, pageSize, where });
			},
		},
	},
};

export default AuditService;
