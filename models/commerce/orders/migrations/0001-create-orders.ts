import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * Orders and their lines. Products and users live in other services' schemas: they are referred to by id
 * only (no foreign keys across services); the line keeps its own copy of the product's name and price.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const orders = { tableName: "orders", schema };
	const lines = { tableName: "order_lines", schema };
	await queryInterface.createTable(orders, {
		id: { type: DataTypes.UUID, primaryKey: true },
		user_id: { type: DataTypes.UUID, allowNull: false },
		tenant_id: { type: DataTypes.UUID, allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "pending" },
		payment_status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "unpaid" },
		// Money is exact: integer minor units plus an ISO 4217 code, never a float.
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		total_amount: { type: DataTypes.BIGINT, allowNull: false },
		payment_id: { type: DataTypes.STRING(200), allowNull: true },
		paid_at: { type: DataTypes.DATE, allowNull: true },
		cancelled_at: { type: DataTypes.DATE, allowNull: true },
		completed_at: { type: DataTypes.DATE, allowNull: true },
		refunded_at: { type: DataTypes.DATE, allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	const ordersTable = `"${schema}".orders`;
	await sequelize.query(`
		ALTER TABLE ${ordersTable}
			ADD CONSTRAINT orders_total_amount_non_negative CHECK (total_amount >= 0),
			ADD CONSTRAINT orders_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
			ADD CONSTRAINT orders_status_known CHECK (status IN ('pending', 'paid', 'processing', 'completed', 'cancelled', 'refunded')),
			ADD CONSTRAINT orders_payment_status_known CHECK (payment_status IN ('unpaid', 'paid', 'refunded'))`);
	await queryInterface.addIndex(orders, ["user_id", "created_at"], { name: "orders_user_created_idx" });
	await queryInterface.addIndex(orders, ["tenant_id"], { name: "orders_tenant_idx" });
	await queryInterface.addIndex(orders, ["status"], { name: "orders_status_idx" });
	await queryInterface.addIndex(orders, ["created_at"], { name: "orders_created_at_idx" });
	// One payment pays one order: a payment id can't be recorded twice (NULLs, unpaid orders, don't collide).
	await queryInterface.addIndex(orders, ["payment_id"], { name: "orders_payment_id_key", unique: true });

	await queryInterface.createTable(lines, {
		id: { type: DataTypes.UUID, primaryKey: true },
		// Within the schema the lines belong to their order; they go with it.
		order_id: { type: DataTypes.UUID, allowNull: false, references: { model: orders, key: "id" }, onDelete: "CASCADE" },
		position: { type: DataTypes.INTEGER, allowNull: false },
		product_id: { type: DataTypes.UUID, allowNull: false },
		product_name: { type: DataTypes.STRING(200), allowNull: false },
		unit_price_amount: { type: DataTypes.BIGINT, allowNull: false },
		quantity: { type: DataTypes.INTEGER, allowNull: false },
		total_amount: { type: DataTypes.BIGINT, allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await sequelize.query(`
		ALTER TABLE "${schema}".order_lines
			ADD CONSTRAINT order_lines_quantity_range CHECK (quantity BETWEEN 1 AND 1000),
			ADD CONSTRAINT order_lines_amounts_non_negative CHECK (unit_price_amount >= 0 AND total_amount >= 0),
			ADD CONSTRAINT order_lines_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$')`);
	await queryInterface.addIndex(lines, ["order_id", "position"], { name: "order_lines_order_position_key", unique: true });
	await queryInterface.addIndex(lines, ["order_id", "product_id"], { name: "order_lines_order_product_key", unique: true });
	await queryInterface.addIndex(lines, ["product_id"], { name: "order_lines_product_idx" });
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "order_lines", schema });
	await queryInterface.dropTable({ tableName: "orders", schema });
}
