import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Card payments through Stripe: the PaymentIntent a payment is settled by (`provider_reference`, unique so a
 * webhook finds exactly one payment), and the Stripe events already handled (duplicates are acknowledged
 * and ignored by event id).
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const payments = { tableName: "payments", schema };
	await queryInterface.addColumn(payments, "provider_reference", { type: DataTypes.STRING(255), allowNull: true });
	await sequelize.query(`CREATE UNIQUE INDEX payments_provider_reference_key ON "${schema}".payments (provider_reference) WHERE provider_reference IS NOT NULL`);
	await queryInterface.createTable(
		{ tableName: "stripe_events", schema },
		{
			id: { type: DataTypes.STRING(255), primaryKey: true },
			type: { type: DataTypes.STRING(100), allowNull: false },
			received_at: { type: DataTypes.DATE, allowNull: false, defaultValue: sequelize.literal("now()") },
		},
	);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "stripe_events", schema });
	await queryInterface.sequelize.query(`DROP INDEX IF EXISTS "${schema}".payments_provider_reference_key`);
	await queryInterface.removeColumn({ tableName: "payments", schema }, "provider_reference");
}
