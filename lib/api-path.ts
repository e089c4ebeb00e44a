/**
 * Where the REST API lives: the gateway mounts its auto-aliases under API_BASE_PATH, and services build
 * the links they answer with (Location, fullPath aliases) from it instead of spelling "/api/v1".
 */
import type { Context } from "moleculer";

export const API_BASE_PATH = "/api/v1";

/** "orders", id → "/api/v1/orders/<id>". */
export function apiPath(path: string, id?: string): string {
	const trimmed = path.replace(/^\/+|\/+$/g, "");
	return id === undefined ? `${API_BASE_PATH}/${trimmed}` : `${API_BASE_PATH}/${trimmed}/${encodeURIComponent(id)}`;
}

/** Answers 201 Created with the new resource's Location: `created(ctx, "orders", order.id)`. */
export function created(ctx: Context<unknown, Record<string, unknown>>, path: string, id?: string): void {
	ctx.meta.$statusCode = 201;
	ctx.meta.$location = apiPath(path, id);
}
