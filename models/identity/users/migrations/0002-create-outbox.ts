import type { MigrationContext } from "../../../../lib/database";
import { createOutboxTable, dropOutboxTable } from "../../../../mixins/outbox.mixin";

/** The transactional outbox of users: a created account is announced on a durable channel. */
export async function up(context: MigrationContext): Promise<void> {
	await createOutboxTable(context);
}

export async function down(context: MigrationContext): Promise<void> {
	await dropOutboxTable(context);
}
