/**
 * Billing's one door to identity: who owns a tenant (the people billing's messages are for) and whether a
 * tenant exists. `tenants.members {id}` answers [{ userId, role, email, fullName, joinedAt }], 404 for an
 * unknown tenant.
 */
import type { ServiceBroker } from "moleculer";
import { systemCall } from "../../lib/caller";
import { isNotFound } from "./plans-adapter";

interface Member {
	userId: string;
	role: string;
}

export class MembersAdapter {
	constructor(private readonly broker: ServiceBroker) {}

	/**
	 * The tenant's owners now. A message without them still reaches the tenant's webhooks, so when identity
	 * can't answer the message goes without (logged) rather than not at all.
	 */
	async owners(tenantId: string): Promise<string[]> {
		try {
			const members = await this.broker.call<Member[], { id: string }>("tenants.members", { id: tenantId }, systemCall());
			return members.filter((member) => member.role === "owner").map((member) => member.userId);
		} catch (err) {
			this.broker.logger.warn(`Billing: the owners of tenant ${tenantId} are unknown (${(err as Error).message}); its message names none`);
			return [];
		}
	}

	async tenantExists(tenantId: string): Promise<boolean> {
		try {
			await this.broker.call("tenants.members", { id: tenantId }, systemCall());
			return true;
		} catch (err) {
			if (isNotFound(err)) return false;
			throw err;
		}
	}
}
