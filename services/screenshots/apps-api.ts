/**
 * The apps' actions of the store-sets service (a mixin of store-sets.service.ts): an app of a tenant, with its
 * store ids, platforms and icon, and `POST /apps/:id/import`, which reads the app's current listing from the App
 * Store lookup API or its Google Play page (store-import.ts), stores the icon and the screenshots as files of the
 * tenant, updates the app from the listing and makes a new store set of those screenshots.
 */
import type { ServiceSchema } from "moleculer";
import type { WhereOptions } from "sequelize";
import { PAGE_PARAMS, plainRow, toPage, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { created } from "../../lib/api-path";
import { requireTenant } from "../../lib/caller";
import { ServiceUnavailableError, UnprocessableEntityError } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import { PageOf } from "../../lib/schema";
import { APP_PLATFORMS, type AppPlatform, type AppRow, type StoreSetRow } from "../../models/screenshots/store-sets/store-set.model";
import { APP_EVENTS, PublicAppSchema, STORE_SET_EVENTS, StoreImportSchema, type StoreImport } from "./contracts";
import { appStoreListing, downloadImage, googlePlayListing, STORES, type Store, type StoreListing } from "./store-import";
import { storeLocale } from "./store-locales";
import { DEFAULT_THEME } from "./store-theme";
import { LOCALE_RULE } from "./store-set-rules";
import type { StoreSetsContext, StoreSetsLocals, StoreSetsMethods } from "./store-sets.types";

const APP_SCOPE = { entity: "app", owner: "tenant", name: "App" } as const;
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/webp"]);

const APP_PROPS = {
	name: { type: "string", trim: true, min: 1, max: 100 },
	bundleId: { type: "string", optional: true, nullable: true, max: 155, pattern: /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, description: "iOS bundle id (com.example.app)" },
	packageName: { type: "string", optional: true, nullable: true, max: 155, pattern: /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/, description: "Android package name" },
	appStoreId: { type: "string", optional: true, nullable: true, pattern: /^\d{1,20}$/, description: "The App Store's numeric id" },
	platforms: { type: "array", optional: true, max: APP_PLATFORMS.length, unique: true, items: { type: "enum", values: APP_PLATFORMS } },
	iconFileId: { type: "uuid", optional: true, nullable: true, description: "An image of the tenant's files" },
} as const;

type AppParams = { id: string; name: string; bundleId?: string | null; packageName?: string | null; appStoreId?: string | null; platforms?: AppPlatform[]; iconFileId?: string | null };
type ImportParams = { id: string; store: Store; storeId: string; country: string; locale: string };

const AppsApiSchema: Partial<DbServiceSchema<DbMixinSettings, StoreSetsMethods, StoreSetsLocals>> = {
	actions: {
		listApps: {
			rest: "GET /apps",
			responses: { 200: { description: "A page of the tenant's apps, newest first", body: PageOf(PublicAppSchema) } },
			permissions: ["tenant:viewer"],
			summary: "The tenant's apps, newest first",
			params: { ...PAGE_PARAMS, $$strict: "remove" },
			async handler(ctx: StoreSetsContext<{ page: number; pageSize: number }>) {
				const { page, pageSize } = ctx.params;
				const { rows, count } = await this.models.app.findAndCountAll({ where: this.tenantFilter(ctx) as WhereOptions, order: [["createdAt", "DESC"], ["id", "ASC"]], limit: pageSize, offset: (page - 1) * pageSize });
				return toPage(rows.map((row) => this.presentApp(plainRow<AppRow>(row)!)), count, page, pageSize);
			},
		},

		getApp: {
			rest: "GET /apps/:id",
			responses: { 200: { description: "The app", body: PublicAppSchema } },
			permissions: ["tenant:viewer"],
			summary: "One app",
			params: { id: "string|max:64" },
			scope: APP_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string }>) {
				return this.presentApp(entityOf<AppRow>(ctx));
			},
		},

		createApp: {
			rest: "POST /apps",
			responses: { 201: { description: "The new app", body: PublicAppSchema, headers: { Location: "The app's URL" } } },
			errors: { 409: ["ALREADY_EXISTS"], 422: ["FILE_NOT_FOUND", "FILE_NOT_IMAGE"] },
			permissions: ["tenant:member"],
			summary: "Add an app (its store sets come next); a bundle id or package name the tenant already has is 409",
			params: { ...APP_PROPS, $$strict: "remove" },
			async handler(ctx: StoreSetsContext<AppParams>) {
				const tenantId = requireTenant(ctx.meta);
				const { name, bundleId = null, packageName = null, appStoreId = null, platforms = [], iconFileId = null } = ctx.params;
				await this.checkFiles(tenantId, [{ id: iconFileId, field: "iconFileId" }]);
				const row = plainRow<AppRow>(await this.models.app.create({ tenantId, name, bundleId, packageName, appStoreId, platforms, iconFileId }))!;
				created(ctx, "apps", row.id);
				return this.announceApp(ctx, APP_EVENTS.created, row, "created");
			},
		},

		updateApp: {
			rest: "PUT /apps/:id",
			responses: { 200: { description: "The app as changed", body: PublicAppSchema } },
			errors: { 409: ["ALREADY_EXISTS"], 422: ["FILE_NOT_FOUND", "FILE_NOT_IMAGE"] },
			permissions: ["tenant:member"],
			summary: "Change an app's name, store ids, platforms or icon (the fields sent; null clears one)",
			params: { id: "string|max:64", ...APP_PROPS, name: { ...APP_PROPS.name, optional: true }, $$strict: "remove" },
			scope: APP_SCOPE,
			async handler(ctx: StoreSetsContext<Partial<AppParams> & { id: string }>) {
				const before = entityOf<AppRow>(ctx);
				const { id: _id, ...changes } = ctx.params;
				if (changes.iconFileId) await this.checkFiles(before.tenantId, [{ id: changes.iconFileId, field: "iconFileId" }]);
				const [, rows] = await this.models.app.update(changes, { where: { id: before.id }, returning: true });
				return this.announceApp(ctx, APP_EVENTS.updated, rows[0] ? plainRow<AppRow>(rows[0])! : before, "updated");
			},
		},

		deleteApp: {
			rest: "DELETE /apps/:id",
			responses: { 204: "Deleted: the app and its store sets (files and rendered jobs stay)" },
			permissions: ["tenant:member"],
			summary: "Delete an app with its store sets",
			params: { id: "string|max:64" },
			scope: APP_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string }>) {
				const row = entityOf<AppRow>(ctx);
				// The sets and their screens go with it (foreign keys inside this schema).
				await this.models.app.destroy({ where: { id: row.id } });
				await this.announceApp(ctx, APP_EVENTS.deleted, row, "removed");
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		importApp: {
			rest: "POST /apps/:id/import",
			responses: { 201: { description: "The app as updated from the listing and the new store set of its screenshots", body: StoreImportSchema, headers: { Location: "The new store set's URL" } } },
			errors: { 409: ["ALREADY_EXISTS"], 422: ["STORE_APP_NOT_FOUND", "NO_SCREENSHOTS", "UNSUPPORTED_LOCALE"], 503: ["STORE_UNAVAILABLE"] },
			permissions: ["tenant:member"],
			summary: "Import an app's current App Store or Google Play listing: name, icon and screenshots become the app's and a new store set's",
			description:
				"app_store: `id` is the numeric App Store id (or a bundle id), read from the lookup API (SCREENSHOT_APP_STORE_LOOKUP_URL); google_play: `id` is the package name, read from its listing page (SCREENSHOT_GOOGLE_PLAY_URL). Every download goes through the outbound guard. The new set has the iPhone (or Play phone) screenshots as screens, the iPad ones as their tablet screenshots, and `locale` as its one locale.",
			params: {
				id: "string|max:64",
				store: { type: "enum", values: STORES },
				storeId: { type: "string", trim: true, min: 1, max: 155, pattern: /^[A-Za-z0-9._-]+$/, description: "The App Store id (or bundle id), or the Google Play package name" },
				country: { type: "string", length: 2, pattern: /^[A-Za-z]{2}$/, lowercase: true, description: "The storefront's ISO 3166 country code" },
				locale: { ...LOCALE_RULE, optional: true, default: "en-US", description: "The listing's language (Play's hl) and the new set's locale" },
				$$strict: "remove",
			},
			scope: APP_SCOPE,
			async handler(ctx: StoreSetsContext<ImportParams>) {
				const app = entityOf<AppRow>(ctx);
				const { store, storeId, country } = ctx.params;
				const [locale] = this.checkLocales([ctx.params.locale]);
				const { appStoreLookupUrl, googlePlayUrl } = platformConfigOf(this.broker).screenshots;
				const listing: StoreListing =
					store === "app_store"
						? await appStoreListing(this.outbound, appStoreLookupUrl, storeId, country)
						: await googlePlayListing(this.outbound, googlePlayUrl, storeId, country, locale.tag.split("-")[0]);
				if (listing.screenshots.length === 0) throw new UnprocessableEntityError(`The listing of ${storeId} shows no screenshots`, "NO_SCREENSHOTS");

				const stored: string[] = [];
				const keep = async (url: string, name: string) => {
					const file = await this.storeImported(ctx, app.tenantId, name, await downloadImage(this.outbound, url));
					stored.push(file.id);
					if (!IMAGE_TYPES.has(file.contentType)) throw new ServiceUnavailableError(`The store's image ${url} is ${file.contentType}, not an image`, "STORE_UNAVAILABLE");
					return file.id;
				};
				try {
					const iconFileId = listing.iconUrl ? await keep(listing.iconUrl, `${store}-icon`) : app.iconFileId;
					const screenshots: StoreImport["screenshots"] = [];
					for (const [index, shot] of listing.screenshots.entries()) screenshots.push({ device: shot.device, url: shot.url, fileId: await keep(shot.url, `${store}-${shot.device}-${index + 1}`) });
					const phones = screenshots.filter((shot) => shot.device !== "ipad");
					const tablets = screenshots.filter((shot) => shot.device === "ipad");
					const screens = (phones.length > 0 ? phones : tablets).map((shot, index) => ({ fileId: shot.fileId, tabletFileId: phones.length > 0 ? (tablets[index]?.fileId ?? null) : null, captions: {} }));

					const platform: AppPlatform = store === "app_store" ? "ios" : "android";
					const changes = {
						name: listing.name.slice(0, 100),
						iconFileId,
						platforms: [...new Set([...app.platforms, platform])],
						...(listing.bundleId ? { bundleId: listing.bundleId } : {}),
						...(listing.appStoreId ? { appStoreId: listing.appStoreId } : {}),
						...(listing.packageName ? { packageName: listing.packageName } : {}),
					};
					const { updated, set } = await this.adapter.db.transaction(async (transaction) => {
						const [, rows] = await this.models.app.update(changes, { where: { id: app.id }, returning: true, transaction });
						const storeSet = plainRow<StoreSetRow>(
							await this.models.storeSet.create(
								{ tenantId: app.tenantId, appId: app.id, name: `${listing.name.slice(0, 60)} (${store === "app_store" ? "App Store" : "Google Play"} ${country.toUpperCase()})`, locales: [locale.tag], theme: DEFAULT_THEME, frame: "device" },
								{ transaction },
							),
						)!;
						await this.insertScreens(storeSet.id, screens, [locale.tag], transaction);
						return { updated: plainRow<AppRow>(rows[0])!, set: storeSet };
					});
					created(ctx, "store-sets", set.id);
					const answer: StoreImport = {
						app: await this.announceApp(ctx, APP_EVENTS.updated, updated, "updated"),
						storeSet: await this.announceSet(ctx, STORE_SET_EVENTS.created, set, "created"),
						source: { store, id: storeId, country, url: listing.url },
						screenshots,
					};
					return answer;
				} catch (err) {
					// Nothing of a failed import stays: the files it stored go too.
					await this.removeFiles(stored);
					throw err;
				}
			},
		},
	},
};

/** Typed against the service it joins; a mixin is a plain schema part to the service that lists it. */
export const AppsApi = AppsApiSchema as Partial<ServiceSchema>;

// Every locale a set may have maps to both stores' folders; the import's default must too.
if (!("tag" in storeLocale("en-US"))) throw new Error("en-US must be a locale of both stores");
