import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Saved cards per tenant, for charges without the payer (billing's invoices): the tenant's customer at the
 * processor, and the cards confirmed through a SetupIntent. One customer per tenant and provider (two nodes
 * creating it at once keep one row); a card is recorded once (`provider_method_id`), and a tenant has at
 * most one default.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const customers = { tableName: "payment_customers", schema };
	await queryInterface.createTable(customers, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		provider: { type: DataTypes.STRING(30), allowNull: false },
		customer_id: { type: DataTypes.STRING(255), allowNull: false },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await queryInterface.addIndex(customers, ["tenant_id", "provider"], { name: "payment_customers_tenant_provider_key", unique: true });
	await queryInterface.addIndex(customers, ["provider", "customer_id"], { name: "payment_customers_customer_key", unique: true });

	const methods = { tableName: "saved_payment_methods", schema };
	await queryInterface.createTable(methods, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		provider: { type: DataTypes.STRING(30), allowNull: false },
		customer_id: { type: DataTypes.STRING(255), allowNull: false },
		provider_method_id: { type: DataTypes.STRING(255), allowNull: false },
		type: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "card" },
		brand: { type: DataTypes.STRING(30), allowNull: false },
		last4: { type: DataTypes.STRING(4), allowNull: false },
		exp_month: { type: DataTypes.INTEGER, allowNull: false },
		exp_year: { type: DataTypes.INTEGER, allowNull: false },
		is_default: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await queryInterface.addIndex(methods, ["provider", "provider_method_id"], { name: "saved_payment_methods_provider_method_key", unique: true });
	await queryInterface.addIndex(methods, ["tenant_id", "created_at"], { name: "saved_payment_methods_tenant_idx" });
	await sequelize.query(`CREATE UNIQUE INDEX saved_payment_methods_one_default ON "${schema}".saved_payment_methods (tenant_id) WHERE is_default`);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "saved_payment_methods", schema });
	await queryInterface.dropTable({ tableName: "payment_customers", schema });
}
