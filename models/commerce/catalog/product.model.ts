import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

export const PRODUCT_STATUSES = ["draft", "active", "archived"] as const;
export type ProductStatus = (typeof PRODUCT_STATUSES)[number];

/** A product as Sequelize gives it back. */
export interface ProductRow {
	id: string;
	name: string;
	description: string;
	category: string;
	/** BIGINT: node-postgres hands it over as a string. */
	priceAmount: string | number;
	currency: string;
	features: Record<string, unknown>;
	image: string | null;
	status: ProductStatus;
	createdAt: Date;
	updatedAt: Date;
}

/** `search_vector` is a generated column (see the migration): never written, read only by raw SQL. */
export const ProductModel: ModelDefinition<"product", ProductRow, "description" | "features" | "status"> = {
	name: "product",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		name: { type: DataTypes.STRING(200), allowNull: false },
		description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
		category: { type: DataTypes.STRING(60), allowNull: false },
		priceAmount: { type: DataTypes.BIGINT, allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		features: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		image: { type: DataTypes.STRING(2048), allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "draft" },
	},
	options: { tableName: "products" },
};
