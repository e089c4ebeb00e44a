/**
 * A store set's render as a screenshot job (kind `store_set`): the store set as it was when the render was asked
 * for (the job's `input`, so editing the set meanwhile changes nothing of a running render), what the job makes of
 * it (planItems) and where each image goes in the ZIP. Shared by the jobs service, which accepts and presents the
 * job, and the worker, which renders it (store-set-render.ts).
 */
import type { FrameStyle, StoreTheme } from "../../models/screenshots/store-sets/store-set.model";
import type { StoreLocale } from "./store-locales";
import { archivePaths, planItems, type StoreSetItem } from "./store-set-plan";

export interface StoreSetSnapshot {
	storeSetId: string;
	name: string;
	appName: string;
	iconFileId: string | null;
	locales: StoreLocale[];
	theme: StoreTheme;
	frame: FrameStyle;
	screens: Array<{ fileId: string; tabletFileId: string | null; captions: Record<string, string> }>;
	/** Device ids of the store sizes, in the render's order. */
	targets: string[];
}

export interface StoreSetJobPlan {
	items: StoreSetItem[];
	/** key → path in the ZIP. */
	paths: Map<string, string>;
}

export function planStoreSetJob(snapshot: StoreSetSnapshot): StoreSetJobPlan {
	const items = planItems(
		snapshot.targets,
		snapshot.locales.map((locale) => locale.tag),
		snapshot.screens.length,
	);
	return { items, paths: archivePaths(snapshot.targets, items, new Map(snapshot.locales.map((locale) => [locale.tag, locale]))) };
}
