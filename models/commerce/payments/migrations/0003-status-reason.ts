import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Why the platform moved a payment by itself: a pending payment failed because its order was cancelled, a
 * settled one refunded because its order could not take it (PAYMENT_STATUS_REASONS). Null otherwise.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	await queryInterface.addColumn({ tableName: "payments", schema }, "status_reason", { type: DataTypes.STRING(40), allowNull: true });
	await sequelize.query(`
		ALTER TABLE "${schema}".payments
			ADD CONSTRAINT payments_status_reason_known CHECK (status_reason IN ('order_cancelled', 'order_already_paid', 'order_not_payable'))`);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.removeColumn({ tableName: "payments", schema }, "status_reason");
}
