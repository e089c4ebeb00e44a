import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** active: in use; archived: kept, but no longer offered. The migration's CHECK holds the same list. */
export const SCREENSHOT_JOB_STATUSES = ["active", "archived"] as const;
export type ScreenshotJobStatus = (typeof SCREENSHOT_JOB_STATUSES)[number];

/** Columns are snake_case in PostgreSQL (the shared pool defines models `underscored`), camelCase here. */
export const ScreenshotJobModel: ModelDefinition = {
	name: "screenshotJob",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		/** The owning tenant: identity's tenant id, a plain value (no foreign key across services). */
		tenantId: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(200), allowNull: false },
		description: { type: DataTypes.TEXT, allowNull: false, defaultValue: "" },
		status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "active" },
	},
	options: { tableName: "screenshot_jobs" },
};

/** A row as Sequelize gives it. */
export interface ScreenshotJobRow {
	id: string;
	tenantId: string;
	name: string;
	description: string;
	status: ScreenshotJobStatus;
	createdAt: Date;
	updatedAt: Date;
}
