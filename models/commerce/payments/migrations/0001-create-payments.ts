import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";
import { createOutboxTable, dropOutboxTable } from "../../../../mixins/outbox.mixin";

/**
 * Payments and their transactional outbox (the table mixins/outbox.mixin.ts relays; its DDL is the one first
 * written here). Orders live in another service's schema: referred to by id only.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const payments = { tableName: "payments", schema };
	await queryInterface.createTable(payments, {
		id: { type: DataTypes.UUID, primaryKey: true },
		order_id: { type: DataTypes.UUID, allowNull: false },
		user_id: { type: DataTypes.UUID, allowNull: false },
		tenant_id: { type: DataTypes.UUID, allowNull: true },
		amount: { type: DataTypes.BIGINT, allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		method: { type: DataTypes.STRING(30), allowNull: false },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "pending" },
		payment_reference: { type: DataTypes.STRING(40), allowNull: false },
		instructions: { type: DataTypes.JSONB, allowNull: false },
		settled_at: { type: DataTypes.DATE, allowNull: true },
		failed_at: { type: DataTypes.DATE, allowNull: true },
		refunded_at: { type: DataTypes.DATE, allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await sequelize.query(`
		ALTER TABLE "${schema}".payments
			ADD CONSTRAINT payments_amount_non_negative CHECK (amount >= 0),
			ADD CONSTRAINT payments_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
			ADD CONSTRAINT payments_method_known CHECK (method IN ('credit_card', 'bank_transfer', 'e_wallet', 'virtual_account')),
			ADD CONSTRAINT payments_status_known CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded'))`);
	await queryInterface.addIndex(payments, ["payment_reference"], { name: "payments_reference_key", unique: true });
	await queryInterface.addIndex(payments, ["user_id", "created_at"], { name: "payments_user_created_idx" });
	await queryInterface.addIndex(payments, ["order_id"], { name: "payments_order_idx" });
	// At most one pending payment per order, even when two nodes create one at the same moment.
	await sequelize.query(`CREATE UNIQUE INDEX payments_one_pending_per_order ON "${schema}".payments (order_id) WHERE status = 'pending'`);

	await createOutboxTable({ queryInterface, sequelize, schema });
}

export async function down(context: MigrationContext): Promise<void> {
	const { queryInterface, schema } = context;
	await dropOutboxTable(context);
	await queryInterface.dropTable({ tableName: "payments", schema });
}
