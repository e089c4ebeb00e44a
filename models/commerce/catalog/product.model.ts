import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

export const PRODUCT_STATUSES = ["draft", "active", "archived"] as const;
export type ProductStatus = (typeof PRODUCT_STATUSES)[number];

/** `search_vector` is a generated column (see the migration): never written, read only by raw SQL. */
export const ProductModel: ModelDefinition = {
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
