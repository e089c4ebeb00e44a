/**
 * `this.audit(ctx, entry)` for any service: records who did what, when, from where, in which tenant.
 * The actor, tenant, IP and user agent default to the caller's meta. A failure to record is logged and
 * never fails the action that was audited.
 */
import type { Context, ServiceSchema, Service } from "moleculer";
import type { CallerMeta } from "../lib/caller";

export interface AuditEntry {
	action: string;
	outcome?: "success" | "failure";
	actorId?: string | null;
	actorEmail?: string | null;
	tenantId?: string | null;
	targetType?: string;
	targetId?: string;
	data?: Record<string, unknown>;
}

export interface AuditMixinMethods {
	audit(ctx: Context<unknown, CallerMeta> | undefined, entry: AuditEntry): Promise<void>;
}

export const AuditMixin: Partial<ServiceSchema> = {
	methods: {
		async audit(this: Service, ctx: Context<unknown, CallerMeta> | undefined, entry: AuditEntry): Promise<void> {
			const meta: CallerMeta = ctx?.meta ?? {};
			const record = {
				outcome: "success",
				actorId: meta.user?.id ?? null,
				actorEmail: meta.user?.email ?? null,
				tenantId: meta.tenantId ?? null,
				ip: meta.ip ?? null,
				userAgent: meta.userAgent ?? null,
				...entry,
			};
			try {
				await this.broker.call("audit.record", record, { meta: { $system: true }, requestID: ctx?.requestID ?? undefined });
			} catch (err) {
				this.logger.warn(`Audit entry "${entry.action}" was not recorded:`, (err as Error).message);
			}
		},
	},
};
