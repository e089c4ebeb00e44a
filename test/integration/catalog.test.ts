/**
 * The marketplace catalog as clients drive it through the gateway: super admins manage products, the
 * public browses, searches (ranked), filters, sorts and pages active products; caches follow writes.
 * One node, all domains, real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { systemCall } from "../../lib/caller";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };

interface Product {
	id: string;
	name: string;
	description: string;
	category: string;
	priceAmount: number;
	currency: string;
	features: Record<string, unknown>;
	image: string | null;
	status: string;
	createdAt: string;
}

interface ProductList {
	rows: Product[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

let node: RunningNode;
let api: ApiClient;
let adminToken: string;
/** A per-run category prefix, so this file's products don't mix with anything else in the database. */
const tag = `t${Date.now().toString(36)}`;
const cat = (name: string) => `${tag}-${name}`;

async function createProduct(body: Record<string, unknown>): Promise<Product> {
	const response = await api.post<Product>("/products", { currency: "USD", status: "active", ...body }, { token: adminToken });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

function listOf(query: Record<string, string | number>, token?: string) {
	const search = new URLSearchParams(Object.fromEntries(Object.entries(query).map(([key, value]) => [key, String(value)])));
	return api.get<ProductList>(`/products?${search}`, { token });
}

beforeAll(async () => {
	node = await startNode({ BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, RATE_LIMIT_MAX: "100000" });
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
	expect(adminToken).toBeTruthy();
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

describe("managing products", () => {
	it("lets a super admin create a product: 201, Location, exact money", async () => {
		const response = await api.post<Product>(
			"/products",
			{ name: "Pixel Forge", description: "Design tool", category: cat("design"), priceAmount: 1999, currency: "eur", features: { seats: 5 }, image: "https://cdn.example.com/forge.png" },
			{ token: adminToken },
		);
		expect(response.status).toBe(201);
		expect(response.headers.get("location")).toBe(`/api/v1/products/${response.body.id}`);
		expect(response.body).toMatchObject({ name: "Pixel Forge", category: cat("design"), priceAmount: 1999, currency: "EUR", features: { seats: 5 }, status: "draft" });
	});

	it("refuses anonymous callers (401) and users who aren't super admins (403)", async () => {
		const body = { name: "Nope", category: cat("x"), priceAmount: 100, currency: "USD" };
		expect((await api.post("/products", body)).status).toBe(401);
		const user = await api.post<{ accessToken: string }>("/auth/register", { email: uniqueEmail("shopper"), password: "correct horse battery", fullName: "Shopper" }, { ip: uniqueIp() });
		expect(user.status).toBe(201);
		expect((await api.post("/products", body, { token: user.body.accessToken })).status).toBe(403);
		const product = await createProduct({ name: "Guarded", category: cat("guarded"), priceAmount: 100 });
		expect((await api.put(`/products/${product.id}`, { priceAmount: 1 }, { token: user.body.accessToken })).status).toBe(403);
		expect((await api.delete(`/products/${product.id}`)).status).toBe(401);
	});

	it("answers 400 with the field for bad input", async () => {
		const base = { name: "Bad", category: cat("bad"), priceAmount: 100, currency: "USD" };
		const cases: Array<[Record<string, unknown>, string]> = [
			[{ ...base, priceAmount: 19.99 }, "priceAmount"],
			[{ ...base, priceAmount: -1 }, "priceAmount"],
			[{ ...base, priceAmount: "100" }, "priceAmount"],
			[{ ...base, currency: "usd1" }, "currency"],
			[{ ...base, name: "" }, "name"],
			[{ ...base, status: "live" }, "status"],
			[{ ...base, image: "not a url" }, "image"],
			[{ ...base, features: [1, 2] }, "features"],
			[{ ...base, category: "Not A Slug!" }, "category"],
		];
		for (const [body, field] of cases) {
			const response = await api.post<{ code: string; errors: Array<{ field: string }> }>("/products", body, { token: adminToken });
			expect({ body, status: response.status }).toEqual({ body, status: 400 });
			expect(response.body.code).toBe("VALIDATION_ERROR");
			expect(response.body.errors.map((error) => error.field)).toContain(field);
		}
		const product = await createProduct({ name: "Valid", category: cat("bad"), priceAmount: 100 });
		expect((await api.put(`/products/${product.id}`, { priceAmount: 1.5 }, { token: adminToken })).status).toBe(400);
		expect((await listOf({ category: cat("bad"), minPrice: "1.5" })).status).toBe(400);
		expect((await listOf({ pageSize: 101 })).status).toBe(400);
		expect((await listOf({ sort: "cheapest" })).status).toBe(400);
		expect((await listOf({ minPrice: 500, maxPrice: 100 })).status).toBe(400);
	});

	it("updates partially and archives on DELETE (204), keeping the row for super admins", async () => {
		const product = await createProduct({ name: "Partial", description: "before", category: cat("partial"), priceAmount: 500 });
		const updated = await api.put<Product>(`/products/${product.id}`, { description: "after" }, { token: adminToken });
		expect(updated.status).toBe(200);
		expect(updated.body).toMatchObject({ name: "Partial", description: "after", priceAmount: 500, currency: "USD", status: "active" });
		const removed = await api.delete(`/products/${product.id}`, { token: adminToken });
		expect(removed.status).toBe(204);
		expect((await api.get(`/products/${product.id}`)).status).toBe(404);
		const seen = await api.get<Product>(`/products/${product.id}`, { token: adminToken });
		expect(seen.status).toBe(200);
		expect(seen.body.status).toBe("archived");
		expect((await api.delete(`/products/${product.id}`, { token: adminToken })).status).toBe(204);
	});

	it("answers 404 for unknown and malformed ids", async () => {
		const unknown = "00000000-0000-4000-8000-000000000000";
		expect((await api.get(`/products/${unknown}`)).status).toBe(404);
		expect((await api.get("/products/not-a-uuid")).status).toBe(404);
		expect((await api.put(`/products/${unknown}`, { priceAmount: 1 }, { token: adminToken })).status).toBe(404);
		expect((await api.put("/products/not-a-uuid", { priceAmount: 1 }, { token: adminToken })).status).toBe(404);
		expect((await api.delete(`/products/${unknown}`, { token: adminToken })).status).toBe(404);
	});
});

describe("browsing the catalog", () => {
	const category = cat("browse");
	let cheap: Product, mid: Product, dear: Product, draft: Product;

	beforeAll(async () => {
		cheap = await createProduct({ name: "Screenshot Studio", description: "Frames for store listings", category, priceAmount: 499 });
		mid = await createProduct({ name: "Review Radar", description: "Tracks screenshot feedback from reviewers", category, priceAmount: 1500 });
		dear = await createProduct({ name: "Builder Pro", description: "An AI app builder", category, priceAmount: 9900, currency: "EUR" });
		draft = await createProduct({ name: "Secret Screenshot Draft", category, priceAmount: 100, status: "draft" });
	});

	it("lists active products only for the public, every status for a super admin", async () => {
		const list = await listOf({ category });
		expect(list.status).toBe(200);
		expect(list.body).toMatchObject({ total: 3, page: 1, pageSize: 20, totalPages: 1 });
		expect(list.body.rows.map((row) => row.id)).not.toContain(draft.id);
		// Newest first by default.
		expect(list.body.rows.map((row) => row.id)).toEqual([dear.id, mid.id, cheap.id]);
		expect((await api.get(`/products/${draft.id}`)).status).toBe(404);

		const admin = await listOf({ category }, adminToken);
		expect(admin.body.total).toBe(4);
		expect(admin.body.rows.map((row) => row.id)).toContain(draft.id);
		expect((await listOf({ category, status: "draft" }, adminToken)).body.rows.map((row) => row.id)).toEqual([draft.id]);
		// The public's cached answer is not the super admin's, and a status filter doesn't open drafts to it.
		expect((await listOf({ category })).body.total).toBe(3);
		expect((await listOf({ category, status: "draft" })).body.rows.map((row) => row.status)).toEqual(["active", "active", "active"]);
		expect((await api.get<Product>(`/products/${draft.id}`, { token: adminToken })).body.status).toBe("draft");
	});

	it("ranks full-text matches: a word in the name before the same word in the description", async () => {
		const found = await listOf({ category, q: "screenshot" });
		expect(found.status).toBe(200);
		expect(found.body.rows.map((row) => row.id)).toEqual([cheap.id, mid.id]);
		expect(found.body.total).toBe(2);
		// Stemming: "screenshots" finds "screenshot".
		expect((await listOf({ category, q: "screenshots" })).body.total).toBe(2);
		expect((await listOf({ category, q: "nonexistentword" })).body.total).toBe(0);
	});

	it("filters by category and by price range within a currency", async () => {
		expect((await listOf({ category, minPrice: 500, maxPrice: 9900 })).body.rows.map((row) => row.id)).toEqual([dear.id, mid.id]);
		expect((await listOf({ category, currency: "usd" })).body.rows.map((row) => row.id)).toEqual([mid.id, cheap.id]);
		expect((await listOf({ category, currency: "USD", maxPrice: 1000 })).body.rows.map((row) => row.id)).toEqual([cheap.id]);
		expect((await listOf({ category: cat("nothing-here") })).body).toMatchObject({ rows: [], total: 0, totalPages: 0 });
	});

	it("sorts by price both ways", async () => {
		expect((await listOf({ category, sort: "price" })).body.rows.map((row) => row.priceAmount)).toEqual([499, 1500, 9900]);
		expect((await listOf({ category, sort: "-price" })).body.rows.map((row) => row.priceAmount)).toEqual([9900, 1500, 499]);
	});

	it("pages", async () => {
		const first = await listOf({ category, sort: "price", pageSize: 2 });
		expect(first.body).toMatchObject({ total: 3, page: 1, pageSize: 2, totalPages: 2 });
		expect(first.body.rows.map((row) => row.id)).toEqual([cheap.id, mid.id]);
		const second = await listOf({ category, sort: "price", pageSize: 2, page: 2 });
		expect(second.body.rows.map((row) => row.id)).toEqual([dear.id]);
		expect((await listOf({ category, sort: "price", pageSize: 2, page: 3 })).body).toMatchObject({ rows: [], total: 3 });
	});

	it("counts active products per category", async () => {
		const categories = await api.get<Array<{ category: string; count: number }>>("/categories");
		expect(categories.status).toBe(200);
		expect(categories.body.find((item) => item.category === category)).toEqual({ category, count: 3 });
	});

	it("serves fresh data after a write, though lists, products and categories are cached", async () => {
		const other = cat("cache");
		const product = await createProduct({ name: "Cache Me", category: other, priceAmount: 1000 });
		expect((await listOf({ category: other })).body.rows[0].priceAmount).toBe(1000);
		expect((await api.get<Product>(`/products/${product.id}`)).body.priceAmount).toBe(1000);
		const before = (await api.get<Array<{ category: string; count: number }>>("/categories")).body;
		expect(before.find((item) => item.category === other)?.count).toBe(1);

		expect((await api.put(`/products/${product.id}`, { priceAmount: 1250 }, { token: adminToken })).status).toBe(200);
		expect((await listOf({ category: other })).body.rows[0].priceAmount).toBe(1250);
		expect((await api.get<Product>(`/products/${product.id}`)).body.priceAmount).toBe(1250);

		await createProduct({ name: "Cache Me Too", category: other, priceAmount: 10 });
		expect((await api.get<Array<{ category: string; count: number }>>("/categories")).body.find((item) => item.category === other)?.count).toBe(2);
		expect((await api.delete(`/products/${product.id}`, { token: adminToken })).status).toBe(204);
		expect((await listOf({ category: other })).body.total).toBe(1);
		expect((await api.get(`/products/${product.id}`)).status).toBe(404);
	});

	it("snapshots current prices for orders (internal action)", async () => {
		const snapshot = await node.broker.call<Array<{ id: string; priceAmount: number; currency: string; status: string }>, { ids: string[] }>(
			"catalog.snapshot",
			{ ids: [cheap.id, draft.id, "00000000-0000-4000-8000-000000000000"] },
			systemCall(),
		);
		expect(snapshot).toHaveLength(2);
		expect(snapshot.find((item) => item.id === cheap.id)).toEqual({ id: cheap.id, name: "Screenshot Studio", priceAmount: 499, currency: "USD", status: "active" });
		expect(snapshot.find((item) => item.id === draft.id)?.status).toBe("draft");
		expect((await api.post("/products/snapshot", { ids: [cheap.id] })).status).toBe(404);
	});
});
