import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** The platforms an app ships on; the migration's CHECK holds the same list. */
export const APP_PLATFORMS = ["ios", "android"] as const;
export type AppPlatform = (typeof APP_PLATFORMS)[number];

/** Where a store set's caption sits, and how its screens are framed. */
export const CAPTION_POSITIONS = ["top", "bottom"] as const;
export type CaptionPosition = (typeof CAPTION_POSITIONS)[number];
export const FRAME_STYLES = ["device", "none"] as const;
export type FrameStyle = (typeof FRAME_STYLES)[number];

/** An app of a tenant: what its store sets are for. Columns are snake_case in PostgreSQL, camelCase here. */
export const AppModel: ModelDefinition = {
	name: "app",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		/** The owning tenant: identity's tenant id, a plain value (no foreign key across services). */
		tenantId: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(100), allowNull: false },
		/** iOS bundle id (com.example.app); unique in the tenant. */
		bundleId: { type: DataTypes.STRING(155), allowNull: true },
		/** Android package name; unique in the tenant. */
		packageName: { type: DataTypes.STRING(155), allowNull: true },
		/** The App Store's numeric id (trackId), as the lookup API answers it. */
		appStoreId: { type: DataTypes.STRING(20), allowNull: true },
		platforms: { type: DataTypes.ARRAY(DataTypes.STRING(16)), allowNull: false, defaultValue: [] },
		/** A file of the tenant (files domain): the app's icon. */
		iconFileId: { type: DataTypes.UUID, allowNull: true },
	},
	options: { tableName: "apps" },
};

/**
 * A store set: the screens of one app's store listing, with the captions per locale and the look they are
 * rendered in. The theme and the locales are JSON the service validates (store-theme.ts, store-locales.ts).
 */
export const StoreSetModel: ModelDefinition = {
	name: "storeSet",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		appId: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(100), allowNull: false },
		/** BCP 47 tags in the order the caller gave them. */
		locales: { type: DataTypes.ARRAY(DataTypes.STRING(16)), allowNull: false },
		theme: { type: DataTypes.JSONB, allowNull: false },
		frame: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "device" },
	},
	options: { tableName: "store_sets" },
};

/** One screen of a store set: a raw screenshot (a file) and its caption per locale, at a position (1, 2, …). */
export const StoreScreenModel: ModelDefinition = {
	name: "storeScreen",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		storeSetId: { type: DataTypes.UUID, allowNull: false },
		position: { type: DataTypes.INTEGER, allowNull: false },
		fileId: { type: DataTypes.UUID, allowNull: false },
		/** A tablet's screenshot of the same screen, used for the tablet sizes (the phone one otherwise). */
		tabletFileId: { type: DataTypes.UUID, allowNull: true },
		/** locale → caption. */
		captions: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
	},
	options: { tableName: "store_screens" },
};

export interface AppRow {
	id: string;
	tenantId: string;
	name: string;
	bundleId: string | null;
	packageName: string | null;
	appStoreId: string | null;
	platforms: AppPlatform[];
	iconFileId: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export interface StoreTheme {
	backgroundColor: string;
	gradient: { from: string; to: string; angle: number } | null;
	backgroundImageFileId: string | null;
	font: string;
	captionPosition: CaptionPosition;
	captionColor: string;
	frameColor: string;
}

export interface StoreSetRow {
	id: string;
	tenantId: string;
	appId: string;
	name: string;
	locales: string[];
	theme: StoreTheme;
	frame: FrameStyle;
	createdAt: Date;
	updatedAt: Date;
}

export interface StoreScreenRow {
	id: string;
	storeSetId: string;
	position: number;
	fileId: string;
	tabletFileId: string | null;
	captions: Record<string, string>;
	createdAt: Date;
	updatedAt: Date;
}
