import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const table = { tableName: "products", schema };
	await queryInterface.createTable(table, {
		id: { type: DataTypes.UUID, primaryKey: true },
		name: { type: DataTypes.STRING(200), allowNull: false },
		description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
		category: { type: DataTypes.STRING(60), allowNull: false },
		// Money is exact: integer minor units (cents) plus an ISO 4217 code, never a float.
		price_amount: { type: DataTypes.BIGINT, allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		features: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		image: { type: DataTypes.STRING(2048), allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "draft" },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	const products = `"${schema}".products`;
	await sequelize.query(`
		ALTER TABLE ${products}
			ADD CONSTRAINT products_price_amount_non_negative CHECK (price_amount >= 0),
			ADD CONSTRAINT products_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
			ADD CONSTRAINT products_status_known CHECK (status IN ('draft', 'active', 'archived')),
			ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
				setweight(to_tsvector('english', coalesce(name, '')), 'A') ||
				setweight(to_tsvector('english', coalesce(description, '')), 'B')
			) STORED`);
	await sequelize.query(`CREATE INDEX products_search_vector_idx ON ${products} USING GIN (search_vector)`);
	await queryInterface.addIndex(table, ["category"], { name: "products_category_idx" });
	await queryInterface.addIndex(table, ["status"], { name: "products_status_idx" });
	await queryInterface.addIndex(table, ["currency", "price_amount"], { name: "products_currency_price_idx" });
	await queryInterface.addIndex(table, ["price_amount"], { name: "products_price_amount_idx" });
	await queryInterface.addIndex(table, ["created_at"], { name: "products_created_at_idx" });
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "products", schema });
}
