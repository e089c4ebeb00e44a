/**
 * The shapes of the store-sets service, shared by its parts: the store sets' actions (store-sets.service.ts), the
 * apps' (apps-api.ts) and the screens' (store-screens-api.ts).
 */
import type { Context } from "moleculer";
import type { Transaction } from "sequelize";
import type { DbService } from "../../mixins/db.mixin";
import type { CallerMeta } from "../../lib/caller";
import type { OutboundClient } from "../../lib/outbound/client";
import type { AppRow, StoreScreenRow, StoreSetRow } from "../../models/screenshots/store-sets/store-set.model";
import type { PublicApp, PublicStoreScreen, PublicStoreSet } from "./contracts";
import type { StoreLocale } from "./store-locales";

export type StoreSetsContext<P> = Context<P, CallerMeta & { $statusCode?: number; $responseHeaders?: Record<string, string>; $location?: string }>;

/** A screen as a request gives it. */
export interface ScreenInput {
	fileId: string;
	tabletFileId?: string | null;
	captions?: Record<string, string>;
}

/** What a file reference is for, in the 422 that refuses it. */
export interface FileReference {
	id: string | null | undefined;
	field: string;
}

export interface StoreSetsMethods {
	presentApp(row: AppRow): PublicApp;
	presentSet(row: StoreSetRow, transaction?: Transaction): Promise<PublicStoreSet>;
	presentSetWith(row: StoreSetRow, screens: StoreScreenRow[]): PublicStoreSet;
	presentScreen(row: StoreScreenRow): PublicStoreScreen;
	screensOf(setIds: string[], transaction?: Transaction): Promise<Map<string, StoreScreenRow[]>>;
	/** 422 FILE_NOT_FOUND (missing, pending or another tenant's) or FILE_NOT_IMAGE for a reference that can't be shown. */
	checkFiles(tenantId: string, references: FileReference[]): Promise<void>;
	/** The set's locales with their store folders; 422 UNSUPPORTED_LOCALE or DUPLICATE_LOCALE. */
	checkLocales(tags: string[]): StoreLocale[];
	/** Captions keyed by the set's locales (canonical tags); 422 UNKNOWN_CAPTION_LOCALE for another key. */
	checkCaptions(captions: Record<string, string> | undefined, locales: string[], where?: string): Record<string, string>;
	/** The tenant's app by id, or 422 APP_NOT_FOUND (a body field names it). */
	appOf(tenantId: string, appId: string, transaction?: Transaction): Promise<AppRow>;
	/** The set's screen by id, or 404 like any path id. */
	screenOf(set: StoreSetRow, screenId: string, transaction?: Transaction): Promise<StoreScreenRow>;
	/** Locks the set's row for the transaction (screens change one set at a time) and marks it changed. */
	lockSet(setId: string, transaction: Transaction): Promise<void>;
	announceApp(ctx: Context, event: string, row: AppRow, type: "created" | "updated" | "removed"): Promise<PublicApp>;
	announceSet(ctx: Context, event: string, row: StoreSetRow, type: "created" | "updated" | "removed"): Promise<PublicStoreSet>;
	/** Inserts screens at positions 1…n of a new set. */
	insertScreens(setId: string, screens: ScreenInput[], locales: string[], transaction: Transaction): Promise<void>;
	/** A file into the app's tenant: the caller's own when it is theirs (they can delete it), the platform's otherwise. */
	storeImported(ctx: StoreSetsContext<unknown>, tenantId: string, name: string, bytes: Buffer): Promise<{ id: string; contentType: string }>;
	removeFiles(ids: string[]): Promise<void>;
}

export interface StoreSetsLocals {
	outbound: OutboundClient;
}

export type StoreSetsThis = DbService & StoreSetsMethods & StoreSetsLocals;
