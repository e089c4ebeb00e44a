/**
 * The screens' actions of the store-sets service (a mixin of store-sets.service.ts): add, read, change and remove
 * one screen of a set, and put the set's screens in a new order. A set's screens are at positions 1…n; a change
 * locks the set's row, so two changes to one set's screens happen one after the other, and the positions are
 * unique in the set (checked at commit: a reorder moves every screen in one transaction).
 */
import type { ServiceSchema } from "moleculer";
import { plainRow, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { apiPath } from "../../lib/api-path";
import { UnprocessableEntityError } from "../../lib/errors";
import type { StoreScreenRow, StoreSetRow } from "../../models/screenshots/store-sets/store-set.model";
import { PublicStoreScreenSchema, PublicStoreSetSchema, STORE_SET_EVENTS } from "./contracts";
import { CAPTIONS_RULE, MAX_SCREENS, SCREEN_PROPS, STORE_SET_SCOPE } from "./store-set-rules";
import type { ScreenInput, StoreSetsContext, StoreSetsLocals, StoreSetsMethods } from "./store-sets.types";

const SCREEN_PARAMS = { id: "string|max:64", screenId: "string|max:64" } as const;
const FILE_ERRORS = ["FILE_NOT_FOUND", "FILE_NOT_IMAGE", "UNKNOWN_CAPTION_LOCALE"];

const StoreScreensApiSchema: Partial<DbServiceSchema<DbMixinSettings, StoreSetsMethods, StoreSetsLocals>> = {
	actions: {
		addScreen: {
			rest: "POST /store-sets/:id/screens",
			responses: { 201: { description: "The new screen, last in the set", body: PublicStoreScreenSchema, headers: { Location: "The screen's URL" } } },
			errors: { 422: ["TOO_MANY_SCREENS", ...FILE_ERRORS] },
			permissions: ["tenant:member"],
			summary: "Add a screen at the end of a store set (at most 10)",
			params: { id: "string|max:64", ...SCREEN_PROPS, $$strict: "remove" },
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<ScreenInput & { id: string }>) {
				const set = entityOf<StoreSetRow>(ctx);
				const captions = this.checkCaptions(ctx.params.captions, set.locales);
				await this.checkFiles(set.tenantId, [
					{ id: ctx.params.fileId, field: "fileId" },
					{ id: ctx.params.tabletFileId, field: "tabletFileId" },
				]);
				const screen = await this.adapter.db.transaction(async (transaction) => {
					await this.lockSet(set.id, transaction);
					const count = await this.models.storeScreen.count({ where: { storeSetId: set.id }, transaction });
					if (count >= MAX_SCREENS) throw new UnprocessableEntityError(`A store set has at most ${MAX_SCREENS} screens`, "TOO_MANY_SCREENS", { maximum: MAX_SCREENS });
					const row = await this.models.storeScreen.create({ storeSetId: set.id, position: count + 1, fileId: ctx.params.fileId, tabletFileId: ctx.params.tabletFileId ?? null, captions }, { transaction });
					return plainRow<StoreScreenRow>(row)!;
				});
				await this.announceSet(ctx, STORE_SET_EVENTS.updated, set, "updated");
				ctx.meta.$statusCode = 201;
				ctx.meta.$location = `${apiPath("store-sets", set.id)}/screens/${screen.id}`;
				return this.presentScreen(screen);
			},
		},

		getScreen: {
			rest: "GET /store-sets/:id/screens/:screenId",
			responses: { 200: { description: "The screen", body: PublicStoreScreenSchema } },
			permissions: ["tenant:viewer"],
			summary: "One screen of a store set",
			params: SCREEN_PARAMS,
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string; screenId: string }>) {
				return this.presentScreen(await this.screenOf(entityOf<StoreSetRow>(ctx), ctx.params.screenId));
			},
		},

		updateScreen: {
			rest: "PUT /store-sets/:id/screens/:screenId",
			responses: { 200: { description: "The screen as changed", body: PublicStoreScreenSchema } },
			errors: { 422: FILE_ERRORS },
			permissions: ["tenant:member"],
			summary: "Change a screen's screenshots or captions (captions replace the screen's: send every locale's)",
			params: { ...SCREEN_PARAMS, fileId: { ...SCREEN_PROPS.fileId, optional: true }, tabletFileId: SCREEN_PROPS.tabletFileId, captions: CAPTIONS_RULE, $$strict: "remove" },
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<Partial<ScreenInput> & { id: string; screenId: string }>) {
				const set = entityOf<StoreSetRow>(ctx);
				const before = await this.screenOf(set, ctx.params.screenId);
				const changes: Partial<StoreScreenRow> = {};
				if (ctx.params.captions !== undefined) changes.captions = this.checkCaptions(ctx.params.captions, set.locales);
				if (ctx.params.fileId !== undefined) changes.fileId = ctx.params.fileId;
				if (ctx.params.tabletFileId !== undefined) changes.tabletFileId = ctx.params.tabletFileId;
				await this.checkFiles(set.tenantId, [
					{ id: changes.fileId, field: "fileId" },
					{ id: changes.tabletFileId, field: "tabletFileId" },
				]);
				const screen = await this.adapter.db.transaction(async (transaction) => {
					await this.lockSet(set.id, transaction);
					const [, rows] = await this.models.storeScreen.update(changes, { where: { id: before.id }, returning: true, transaction });
					// Removed by a concurrent call meanwhile: 404 like any screen that isn't there.
					return rows[0] ? plainRow<StoreScreenRow>(rows[0])! : this.screenOf(set, before.id, transaction);
				});
				await this.announceSet(ctx, STORE_SET_EVENTS.updated, set, "updated");
				return this.presentScreen(screen);
			},
		},

		deleteScreen: {
			rest: "DELETE /store-sets/:id/screens/:screenId",
			responses: { 204: "Removed: the screens after it move up one place (the screenshot stays in files)" },
			permissions: ["tenant:member"],
			summary: "Remove a screen from a store set",
			params: SCREEN_PARAMS,
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string; screenId: string }>) {
				const set = entityOf<StoreSetRow>(ctx);
				await this.adapter.db.transaction(async (transaction) => {
					await this.lockSet(set.id, transaction);
					const screen = await this.screenOf(set, ctx.params.screenId, transaction);
					await this.models.storeScreen.destroy({ where: { id: screen.id }, transaction });
					await this.adapter.db.query(`UPDATE store_sets.store_screens SET position = position - 1, updated_at = now() WHERE store_set_id = :setId AND position > :position`, {
						replacements: { setId: set.id, position: screen.position },
						transaction,
					});
				});
				await this.announceSet(ctx, STORE_SET_EVENTS.updated, set, "updated");
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		reorderScreens: {
			rest: "POST /store-sets/:id/reorder",
			responses: { 200: { description: "The store set with its screens in the new order", body: PublicStoreSetSchema } },
			errors: { 422: ["SCREEN_ORDER_MISMATCH"] },
			permissions: ["tenant:member"],
			summary: "Put a store set's screens in a new order: `screenIds` lists every screen of the set once",
			params: { id: "string|max:64", screenIds: { type: "array", min: 1, max: MAX_SCREENS, unique: true, items: "uuid" }, $$strict: "remove" },
			scope: STORE_SET_SCOPE,
			async handler(ctx: StoreSetsContext<{ id: string; screenIds: string[] }>) {
				const set = entityOf<StoreSetRow>(ctx);
				const wanted = ctx.params.screenIds.map((id) => id.toLowerCase());
				await this.adapter.db.transaction(async (transaction) => {
					await this.lockSet(set.id, transaction);
					const screens = (await this.screensOf([set.id], transaction)).get(set.id) ?? [];
					const current = new Set(screens.map((screen) => screen.id));
					if (wanted.length !== current.size || wanted.some((id) => !current.has(id))) {
						throw new UnprocessableEntityError("`screenIds` must list every screen of the set exactly once", "SCREEN_ORDER_MISMATCH", { screenIds: [...current] });
					}
					for (const [index, id] of wanted.entries()) await this.models.storeScreen.update({ position: index + 1 }, { where: { id }, transaction });
				});
				return this.announceSet(ctx, STORE_SET_EVENTS.updated, set, "updated");
			},
		},
	},
};

/** Typed against the service it joins; a mixin is a plain schema part to the service that lists it. */
export const StoreScreensApi = StoreScreensApiSchema as Partial<ServiceSchema>;
