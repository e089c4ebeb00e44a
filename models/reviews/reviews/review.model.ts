import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** active: in use; archived: kept, but no longer offered. The migration's CHECK holds the same list. */
export const REVIEW_STATUSES = ["active", "archived"] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];

/** Columns are snake_case in PostgreSQL (the shared pool defines models `underscored`), camelCase here. */
export const ReviewModel: ModelDefinition = {
	name: "review",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		/** The owning tenant: identity's tenant id, a plain value (no foreign key across services). */
		tenantId: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(200), allowNull: false },
		description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
		status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "active" },
	},
	options: { tableName: "reviews" },
};

/** A row as Sequelize gives it. */
export interface ReviewRow {
	id: string;
	tenantId: string;
	name: string;
	description: string;
	status: ReviewStatus;
	createdAt: Date;
	updatedAt: Date;
}
