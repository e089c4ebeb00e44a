import type { MigrationContext } from "../../../../lib/database";
import { createOutboxTable, dropOutboxTable } from "../../../../mixins/outbox.mixin";

/** Billing's transactional outbox: subscription and invoice events reach notifications and webhooks durably. */
export async function up(context: MigrationContext): Promise<void> {
	await createOutboxTable(context);
}

export async function down(context: MigrationContext): Promise<void> {
	await dropOutboxTable(context);
}
