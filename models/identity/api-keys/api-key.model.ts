import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** An organization API key: its hash (never the key), prefix, scopes and who made it. */
export interface ApiKeyRow {
	id: string;
	tenantId: string;
	name: string;
	prefix: string;
	keyHash: string;
	scopes: string[];
	createdBy: string | null;
	lastUsedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const ApiKeyModel: ModelDefinition<"apiKey", ApiKeyRow, "scopes"> = {
	name: "apiKey",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(100), allowNull: false },
		prefix: { type: DataTypes.STRING(32), allowNull: false },
		keyHash: { type: DataTypes.STRING(64), allowNull: false },
		scopes: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
		createdBy: { type: DataTypes.UUID, allowNull: true },
		lastUsedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "api_keys" },
};
