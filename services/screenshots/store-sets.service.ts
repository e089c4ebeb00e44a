/**
 * Apps and their store sets (the AppScreens job): an app of a tenant, and for it sets of ordered screens, each a
 * raw screenshot (a file of the files domain) with a caption per locale, a theme and a device frame. A set is
 * rendered for every locale and store size by `POST /store-sets/:id/render`: a screenshot job of kind
 * `store_set` on the screenshots queue and workers (screenshot-jobs.enqueueStoreSet), answered 202 like a capture.
 *
 * This service owns the `store_sets` schema (models/screenshots/store-sets/): apps, sets and screens. Both
 * /apps and /store-sets live here, so each action names its full path (apps-api.ts holds the apps' actions,
 * store-screens-api.ts the screens'). Everything belongs to a tenant: actions on one row declare `scope`
 * (another tenant's id, a malformed one and a missing one answer 404), lists are scoped with `tenantFilter`, and
 * every file a set names is checked to be a ready image of the set's tenant when it is saved and again when it
 * is rendered.
 */
import path from "node:path";
import { QueryTypes, type Transaction, type WhereOptions } from "sequelize";
import type { Context } from "moleculer";
import { Readable } from "node:stream";
import { DbMixin, PAGE_PARAMS, plainRow, toPage, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { IdempotencyMixin } from "../../mixins/idempotency.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { normalizeUuid, requireTenant, systemCall } from "../../lib/caller";
import { created } from "../../lib/api-path";
import { EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import { OutboundClient } from "../../lib/outbound/client";
import { PageOf } from "../../lib/schema";
import { AppModel, FRAME_STYLES, StoreScreenModel, StoreSetModel, type AppRow, type FrameStyle, type StoreScreenRow, type StoreSetRow } from "../../models/screenshots/store-sets/store-set.model";
import type { PublicFile, StoreParams } from "../files/contracts";
import { PublicScreenshotJobSchema, PublicStoreSetSchema, STORE_SET_EVENTS, type PublicApp, type PublicScreenshotJob, type PublicStoreSet } from "./contracts";
import { AppsApi } from "./apps-api";
import { StoreScreensApi } from "./store-screens-api";
import { canonicalTag, storeLocale, type StoreLocale } from "./store-locales";
import { planStoreSetJob, type StoreSetSnapshot } from "./store-set-job";
import { DEFAULT_STORE_SET_TARGETS, STORE_SET_TARGET_IDS } from "./store-set-plan";
import { LOCALES_RULE, MAX_SCREENS, NAME_RULE, SCREEN_PROPS, STORE_SET_ERRORS, STORE_SET_SCOPE } from "./store-set-rules";
import { DEFAULT_THEME, mergeTheme, THEME_RULE, type ThemeInput } from "./store-theme";
import type { FileReference, ScreenInput, StoreSetsContext, StoreSetsLocals, StoreSetsMethods } from "./store-sets.types";

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/webp"]);
/** One render makes at most this many images (a render is one job, on one worker at a time). */
export const MAX_RENDER_IMAGES = 600;

interface SetParams {
	id: string;
	appId: string;
	name: string;
	locales: string[];
	theme?: ThemeInput;
	frame: FrameStyle;
	screens?: ScreenInput[];
}

const StoreSetsService: DbServiceSchema<DbMixinSettings, StoreSetsMethods, StoreSetsLocals> = {
	name: "store-sets",
	mixins: [
		DbMixin({
			schema: "store_sets",
			migrations: path.join(__dirname, "../../models/screenshots/store-sets/migrations"),
			model: StoreSetModel,
			extraModels: [AppModel, StoreScreenModel],
			tenantOwned: true,
			entityName: "Store set",
		}),
		IdempotencyMixin(),
		AppsApi,
		StoreScreensApi,
	],
	// /apps and /store-sets both live in this service, so each action names its full path.
	settings: { rest: "/" },

	actions: {
		listStoreSets: {
			rest: "GET /store-sets",
			responses: { 200: { description: "A page of the tenant's store sets, newest first", body: PageOf(PublicStoreSetSchema) } },
			permissions: ["tenant:viewer"],
			summary: "The tenant's store sets, newest first (of one app with `appId`)",
			params: { ...PAGE_PARAMS, appId: { type: "uuid", optional: true }, $$strict: "remove" },
			async handler(ctx: StoreSetsContext<{ page: number; pageSize: number; appId?: string }>) {
				const { page, pageSize, appId } = ctx.params;
				const where = { ...this.tenantFilter(ctx), ...(appId ? { appId } : {}) } as WhereOptions;
				const { rows, count } = await this.model.findAndCountAll({ where, order: [["createdAt", "DESC"], ["id", "ASC"]], limit: pageSize, offset: (page - 1) * pageSize });
				const sets = rows.map((row) => plainRow<StoreSetRow>(row)!);
				const screens = await this.screensOf(sets.map((set) => set.id));
				return toPage(sets.map((set) => this.presentSetWith(set, screens.get(set.id) ?? [])), count, page, pageSize);
			},
		},

		getStoreSet: {
			rest: "GET /store-sets/:id",
			responses: { 200: { description: "The store set with its screens in order", body: PublicStoreSetSchema } },
			permissions: ["tenant:viewer"],
			summary: "One store set: its screens in order, captions, locales (with their fastlane folders), theme and frame",
			params: { id: "string|max:64" },
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string }>) {
				return this.presentSet(entityOf<StoreSetRow>(ctx));
			},
		},

		createStoreSet: {
			rest: "POST /store-sets",
			responses: { 201: { description: "The new store set", body: PublicStoreSetSchema, headers: { Location: "The store set's URL" } } },
			errors: { 422: ["APP_NOT_FOUND", "TOO_MANY_SCREENS", ...STORE_SET_ERRORS] },
			permissions: ["tenant:member"],
			summary: "Create a store set of one of the tenant's apps, with its screens (up to 10) or none yet",
			params: {
				appId: "uuid",
				name: NAME_RULE,
				locales: LOCALES_RULE,
				theme: THEME_RULE,
				frame: { type: "enum", values: FRAME_STYLES, optional: true, default: "device" },
				screens: { type: "array", optional: true, max: MAX_SCREENS, items: { type: "object", strict: "remove", props: SCREEN_PROPS } },
				$$strict: "remove",
			},
			async handler(ctx: StoreSetsContext<SetParams>) {
				const tenantId = requireTenant(ctx.meta);
				const { appId, name, frame, screens = [] } = ctx.params;
				const locales = this.checkLocales(ctx.params.locales).map((locale) => locale.tag);
				const theme = mergeTheme(DEFAULT_THEME, ctx.params.theme);
				await this.appOf(tenantId, appId);
				screens.forEach((screen, index) => (screen.captions = this.checkCaptions(screen.captions, locales, `screens[${index}]`)));
				await this.checkFiles(tenantId, [
					{ id: theme.backgroundImageFileId, field: "theme.backgroundImageFileId" },
					...screens.flatMap((screen, index) => [
						{ id: screen.fileId, field: `screens[${index}].fileId` },
						{ id: screen.tabletFileId, field: `screens[${index}].tabletFileId` },
					]),
				]);
				const row = await this.adapter.db.transaction(async (transaction) => {
					// The app is read again in the transaction: deleted meanwhile, the set would point at nothing.
					await this.appOf(tenantId, appId, transaction);
					const set = plainRow<StoreSetRow>(await this.model.create({ tenantId, appId, name, locales, theme, frame }, { transaction }))!;
					await this.insertScreens(set.id, screens, locales, transaction);
					return set;
				});
				created(ctx, "store-sets", row.id);
				return this.announceSet(ctx, STORE_SET_EVENTS.created, row, "created");
			},
		},

		updateStoreSet: {
			rest: "PUT /store-sets/:id",
			responses: { 200: { description: "The store set as changed", body: PublicStoreSetSchema } },
			errors: { 422: [...STORE_SET_ERRORS] },
			permissions: ["tenant:member"],
			summary: "Rename a store set or change its locales, theme (the fields sent) or frame; screens have their own routes",
			params: { id: "string|max:64", name: { ...NAME_RULE, optional: true }, locales: { ...LOCALES_RULE, optional: true }, theme: THEME_RULE, frame: { type: "enum", values: FRAME_STYLES, optional: true }, $$strict: "remove" },
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<Partial<SetParams> & { id: string }>) {
				const before = entityOf<StoreSetRow>(ctx);
				const changes: Partial<StoreSetRow> = {};
				if (ctx.params.name !== undefined) changes.name = ctx.params.name;
				if (ctx.params.frame !== undefined) changes.frame = ctx.params.frame;
				if (ctx.params.locales !== undefined) changes.locales = this.checkLocales(ctx.params.locales).map((locale) => locale.tag);
				if (ctx.params.theme !== undefined) {
					changes.theme = mergeTheme(before.theme, ctx.params.theme);
					if (changes.theme.backgroundImageFileId !== before.theme.backgroundImageFileId) await this.checkFiles(before.tenantId, [{ id: changes.theme.backgroundImageFileId, field: "theme.backgroundImageFileId" }]);
				}
				const [, rows] = await this.model.update(changes, { where: { id: before.id }, returning: true });
				const row = rows[0] ? plainRow<StoreSetRow>(rows[0])! : before;
				return this.announceSet(ctx, STORE_SET_EVENTS.updated, row, "updated");
			},
		},

		deleteStoreSet: {
			rest: "DELETE /store-sets/:id",
			responses: { 204: "Deleted: the set and its screens (the screenshots stay in files, renders stay in screenshot jobs)" },
			permissions: ["tenant:member"],
			summary: "Delete a store set and its screens",
			params: { id: "string|max:64" },
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string }>) {
				const row = entityOf<StoreSetRow>(ctx);
				const screens = (await this.screensOf([row.id])).get(row.id) ?? [];
				await this.model.destroy({ where: { id: row.id } });
				await this.entityChanged("removed", { id: row.id }, ctx);
				await ctx.emit(STORE_SET_EVENTS.deleted, { storeset: this.presentSetWith(row, screens) });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		renderStoreSet: {
			rest: "POST /store-sets/:id/render",
			idempotent: true,
			responses: { 202: { description: "Accepted: the render is queued as a screenshot job", body: PublicScreenshotJobSchema, headers: { Location: "The job's URL, to poll" } } },
			errors: { 403: ["PLAN_LIMIT_REACHED"], 422: ["NO_SCREENS", "RENDER_TOO_LARGE", "FILE_NOT_FOUND", "FILE_NOT_IMAGE", "UNSUPPORTED_LOCALE"] },
			permissions: ["tenant:member"],
			summary: "Render every screen × locale × store size in one job, and a ZIP laid out for fastlane deliver and supply",
			description:
				"One job of kind `store_set` (GET /screenshot-jobs/:id follows it, progress reaches the owner's socket): each image is checked against its store size's exact pixels and stored as a file, then the ZIP (screenshots/<locale>/ for deliver, metadata/android/<locale>/images/ for supply) is stored; only then does the job succeed. Every image counts against the monthly `screenshotsPerMonth` (403 PLAN_LIMIT_REACHED before anything is queued).",
			params: {
				id: "string|max:64",
				targets: { type: "array", optional: true, min: 1, max: STORE_SET_TARGET_IDS.length, unique: true, items: { type: "enum", values: STORE_SET_TARGET_IDS }, description: "Store sizes (device ids of kind store); default: every size but app-store-iphone-6.5-legacy" },
				$$strict: "remove",
			},
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string; targets?: string[] }>) {
				const set = entityOf<StoreSetRow>(ctx);
				const screens = (await this.screensOf([set.id])).get(set.id) ?? [];
				if (screens.length === 0) throw new UnprocessableEntityError("The store set has no screens to render", "NO_SCREENS");
				const app = plainRow<AppRow>(await this.models.app.findByPk(set.appId))!;
				// The order of the sizes is the ZIP's: the first size of a display type fills deliver's screenshots/.
				const wanted = ctx.params.targets ?? DEFAULT_STORE_SET_TARGETS;
				const targets = STORE_SET_TARGET_IDS.filter((id) => wanted.includes(id));
				const snapshot: StoreSetSnapshot = {
					storeSetId: set.id,
					name: set.name,
					appName: app.name,
					iconFileId: app.iconFileId,
					locales: this.checkLocales(set.locales),
					theme: set.theme,
					frame: set.frame,
					screens: screens.map((screen) => ({ fileId: screen.fileId, tabletFileId: screen.tabletFileId, captions: screen.captions })),
					targets,
				};
				const images = planStoreSetJob(snapshot).items.length;
				if (images > MAX_RENDER_IMAGES) throw new UnprocessableEntityError(`A render makes at most ${MAX_RENDER_IMAGES} images; this one would make ${images} (fewer sizes or locales)`, "RENDER_TOO_LARGE", { images, maximum: MAX_RENDER_IMAGES });
				// Files deleted since the set was saved are refused now, not found missing by the worker.
				await this.checkFiles(set.tenantId, [
					{ id: set.theme.backgroundImageFileId, field: "theme.backgroundImageFileId" },
					{ id: targets.includes("google-play-feature-graphic") ? app.iconFileId : null, field: "app.iconFileId" },
					...screens.flatMap((screen) => [
						{ id: screen.fileId, field: `screen ${screen.position} fileId` },
						{ id: screen.tabletFileId, field: `screen ${screen.position} tabletFileId` },
					]),
				]);
				// As the caller (the job is theirs: progress and notifications), in the set's tenant.
				const job = await ctx.call<PublicScreenshotJob, { tenantId: string; snapshot: StoreSetSnapshot }>("screenshot-jobs.enqueueStoreSet", { tenantId: set.tenantId, snapshot });
				ctx.meta.$statusCode = 202;
				return job;
			},
		},
	},

	methods: {
		presentApp(row: AppRow): PublicApp {
			return {
				id: row.id,
				tenantId: row.tenantId,
				name: row.name,
				bundleId: row.bundleId,
				packageName: row.packageName,
				appStoreId: row.appStoreId,
				platforms: row.platforms,
				iconFileId: row.iconFileId,
				createdAt: new Date(row.createdAt).toISOString(),
				updatedAt: new Date(row.updatedAt).toISOString(),
			};
		},

		async presentSet(row: StoreSetRow, transaction?: Transaction): Promise<PublicStoreSet> {
			return this.presentSetWith(row, (await this.screensOf([row.id], transaction)).get(row.id) ?? []);
		},

		presentSetWith(row: StoreSetRow, screens: StoreScreenRow[]): PublicStoreSet {
			return {
				id: row.id,
				tenantId: row.tenantId,
				appId: row.appId,
				name: row.name,
				locales: row.locales,
				storeLocales: row.locales.map((tag) => storeLocale(tag)).filter((locale): locale is StoreLocale => "tag" in locale),
				theme: row.theme,
				frame: row.frame,
				screens: [...screens].sort((a, b) => a.position - b.position).map((screen) => this.presentScreen(screen)),
				createdAt: new Date(row.createdAt).toISOString(),
				updatedAt: new Date(row.updatedAt).toISOString(),
			};
		},

		presentScreen(row: StoreScreenRow) {
			return { id: row.id, position: row.position, fileId: row.fileId, tabletFileId: row.tabletFileId, captions: row.captions };
		},

		async screensOf(setIds: string[], transaction?: Transaction): Promise<Map<string, StoreScreenRow[]>> {
			const bySet = new Map<string, StoreScreenRow[]>();
			if (setIds.length === 0) return bySet;
			for (const screen of await this.models.storeScreen.findAll({ where: { storeSetId: setIds }, order: [["position", "ASC"]], transaction })) {
				const row = plainRow<StoreScreenRow>(screen)!;
				bySet.set(row.storeSetId, [...(bySet.get(row.storeSetId) ?? []), row]);
			}
			return bySet;
		},

		async checkFiles(tenantId: string, references: FileReference[]): Promise<void> {
			const seen = new Map<string, PublicFile | null>();
			for (const { id, field } of references) {
				if (!id) continue;
				if (!seen.has(id)) {
					const file = await this.broker.call<PublicFile, { id: string }>("files.getFile", { id }, systemCall()).catch((err: { code?: number }) => {
						if (err.code === 404) return null;
						throw err;
					});
					seen.set(id, file);
				}
				const file = seen.get(id);
				// Another tenant's file answers as a missing one: ids reveal nothing.
				if (!file || file.tenantId !== tenantId || file.status !== "ready") throw new UnprocessableEntityError(`${field}: no ready file ${id} in this tenant`, "FILE_NOT_FOUND", { field, fileId: id });
				if (!IMAGE_TYPES.has(file.contentType)) throw new UnprocessableEntityError(`${field}: the file is ${file.contentType}, not a PNG, JPEG or WebP image`, "FILE_NOT_IMAGE", { field, fileId: id });
			}
		},

		checkLocales(tags: string[]): StoreLocale[] {
			const locales: StoreLocale[] = [];
			for (const tag of tags) {
				const found = storeLocale(tag);
				if (!("tag" in found)) {
					throw new UnprocessableEntityError(`The locale ${tag} has no listing language in ${found.missing.map((store) => (store === "app_store" ? "the App Store" : "Google Play")).join(" or ")}`, "UNSUPPORTED_LOCALE", { locale: tag, stores: found.missing });
				}
				if (locales.some((locale) => locale.tag === found.tag || locale.appStore === found.appStore || locale.googlePlay === found.googlePlay)) {
					throw new UnprocessableEntityError(`The locale ${tag} is listed twice (or names the same store folder as another)`, "DUPLICATE_LOCALE", { locale: tag });
				}
				locales.push(found);
			}
			return locales;
		},

		checkCaptions(captions: Record<string, string> | undefined, locales: string[], where = "captions"): Record<string, string> {
			const checked: Record<string, string> = {};
			for (const [tag, caption] of Object.entries(captions ?? {})) {
				const canonical = canonicalTag(tag);
				if (!locales.includes(canonical)) throw new UnprocessableEntityError(`${where}: ${tag} is not one of the set's locales (${locales.join(", ")})`, "UNKNOWN_CAPTION_LOCALE", { locale: tag, locales });
				checked[canonical] = caption;
			}
			return checked;
		},

		async appOf(tenantId: string, appId: string, transaction?: Transaction): Promise<AppRow> {
			const id = normalizeUuid(appId);
			const row = id ? plainRow<AppRow>(await this.models.app.findOne({ where: { id, tenantId }, transaction, ...(transaction ? { lock: transaction.LOCK.SHARE } : {}) })) : undefined;
			if (!row) throw new UnprocessableEntityError(`No app ${appId} in this tenant`, "APP_NOT_FOUND", { appId });
			return row;
		},

		async screenOf(set: StoreSetRow, screenId: string, transaction?: Transaction): Promise<StoreScreenRow> {
			const id = normalizeUuid(screenId);
			const row = id ? plainRow<StoreScreenRow>(await this.models.storeScreen.findOne({ where: { id, storeSetId: set.id }, transaction })) : undefined;
			if (!row) throw new EntityNotFoundError("Screen", screenId);
			return row;
		},

		async lockSet(setId: string, transaction: Transaction): Promise<void> {
			await this.adapter.db.query(`UPDATE store_sets.store_sets SET updated_at = now() WHERE id = :setId`, { replacements: { setId }, type: QueryTypes.UPDATE, transaction });
		},

		async insertScreens(setId: string, screens: ScreenInput[], locales: string[], transaction: Transaction): Promise<void> {
			if (screens.length === 0) return;
			await this.models.storeScreen.bulkCreate(
				screens.map((screen, index) => ({ storeSetId: setId, position: index + 1, fileId: screen.fileId, tabletFileId: screen.tabletFileId ?? null, captions: this.checkCaptions(screen.captions, locales) })),
				{ transaction },
			);
		},

		async announceApp(ctx: Context, event: string, row: AppRow, type: "created" | "updated" | "removed"): Promise<PublicApp> {
			const app = this.presentApp(row);
			await this.entityChanged(type, { id: row.id }, ctx);
			await ctx.emit(event, { app });
			return app;
		},

		async announceSet(ctx: Context, event: string, row: StoreSetRow, type: "created" | "updated" | "removed"): Promise<PublicStoreSet> {
			// As it is now (a screen's change touched it after the caller read it).
			const current = type === "removed" ? row : (plainRow<StoreSetRow>(await this.model.findByPk(row.id)) ?? row);
			const storeset = await this.presentSet(current);
			await this.entityChanged(type, { id: row.id }, ctx);
			await ctx.emit(event, { storeset });
			return storeset;
		},

		async storeImported(ctx: StoreSetsContext<unknown>, tenantId: string, name: string, bytes: Buffer): Promise<{ id: string; contentType: string }> {
			const params: StoreParams = { name, tenantId };
			const stream = Readable.from([bytes]);
			// A user in the app's tenant stores them as theirs (they may delete them); an API key (whose scopes are
			// store-sets', not files') or a platform caller stores them as the platform, into the app's tenant.
			const file =
				ctx.meta.tenantId === tenantId && ctx.meta.user && !ctx.meta.apiKeyId && !ctx.meta.$system
					? await ctx.call<PublicFile, StoreParams>("files.store", params, { stream })
					: await this.broker.call<PublicFile, StoreParams>("files.store", params, { ...systemCall(), stream });
			return { id: file.id, contentType: file.contentType };
		},

		async removeFiles(ids: string[]): Promise<void> {
			for (const id of ids) await this.broker.call("files.deleteFile", { id }, systemCall()).catch(() => undefined);
		},
	},

	created() {
		this.outbound = new OutboundClient({ allowHosts: platformConfigOf(this.broker).outbound.allowHosts });
	},
};

export default StoreSetsService;
