/**
 * Orders as clients drive them through the gateway: registered users place orders of catalog products
 * (prices snapshotted), list and cancel them; the payment saga marks them paid or refunded through
 * internal actions (safe to deliver twice); super admins move them on. One node, all domains, real
 * PostgreSQL.
 */
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "moleculer";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { systemCall } from "../../lib/caller";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };

interface OrderLine {
	productId: string;
	name: string;
	unitPriceAmount: number;
	quantity: number;
	totalAmount: number;
	currency: string;
}

interface Order {
	id: string;
	userId: string;
	tenantId: string | null;
	status: string;
	paymentStatus: string;
	currency: string;
	totalAmount: number;
	paymentId: string | null;
	lines: OrderLine[];
	createdAt: string;
}

interface OrderList {
	rows: Order[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

interface ProblemBody {
	code: string;
	detail: string;
	from?: string;
	to?: string;
	productIds?: string[];
	currencies?: string[];
	errors?: Array<{ field: string }>;
}

interface User {
	id: string;
	token: string;
}

let node: RunningNode;
let api: ApiClient;
let adminToken: string;
let alice: User;
let bob: User;
const events: Array<{ name: string; order: Order }> = [];
const tag = `o${Date.now().toString(36)}`;

async function createProduct(body: Record<string, unknown>): Promise<{ id: string; priceAmount: number }> {
	const response = await api.post<{ id: string; priceAmount: number }>(
		"/products",
		{ category: `${tag}-apps`, currency: "USD", status: "active", ...body },
		{ token: adminToken },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function register(label: string): Promise<User> {
	const response = await api.post<{ accessToken: string; user: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: "correct horse battery", fullName: `${label} Buyer` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { id: response.body.user.id, token: response.body.accessToken };
}

async function placeOrder(user: User, items: Array<{ productId: string; quantity: number }>, headers?: Record<string, string>) {
	return api.post<Order & ProblemBody>("/orders", { items }, { token: user.token, headers });
}

async function eventsFor(name: string, orderId: string, atLeast = 1): Promise<Array<{ name: string; order: Order }>> {
	for (let attempt = 0; attempt < 50; attempt += 1) {
		const found = events.filter((event) => event.name === name && event.order.id === orderId);
		if (found.length >= atLeast) return found;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	return events.filter((event) => event.name === name && event.order.id === orderId);
}

function markPaid(orderId: string, paymentId: string) {
	return node.broker.call<Order, { orderId: string; paymentId: string }>("orders.markPaid", { orderId, paymentId }, systemCall());
}

function markRefunded(orderId: string, paymentId: string) {
	return node.broker.call<Order, { orderId: string; paymentId: string }>("orders.markRefunded", { orderId, paymentId }, systemCall());
}

let forge: { id: string; priceAmount: number };
let lens: { id: string; priceAmount: number };
let euro: { id: string; priceAmount: number };

beforeAll(async () => {
	node = await startNode({ TRUST_PROXY: "true", BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, RATE_LIMIT_MAX: "100000" });
	node.broker.createService({
		name: "orders-test-listener",
		events: {
			"order.*"(ctx: Context<{ order: Order }>) {
				events.push({ name: String(ctx.eventName), order: ctx.params.order });
			},
		},
	});
	await node.broker.waitForServices(["orders", "catalog", "orders-test-listener"]);
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
	expect(adminToken).toBeTruthy();
	alice = await register("alice");
	bob = await register("bob");
	forge = await createProduct({ name: "Pixel Forge", priceAmount: 1999 });
	lens = await createProduct({ name: "Lens Kit", priceAmount: 500 });
	euro = await createProduct({ name: "Euro Widget", priceAmount: 700, currency: "EUR" });
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

describe("placing orders", () => {
	it("creates an order of two products: 201, Location, snapshotted lines and total, order.created", async () => {
		const response = await placeOrder(alice, [
			{ productId: forge.id, quantity: 2 },
			{ productId: lens.id, quantity: 3 },
		]);
		expect(response.status, JSON.stringify(response.body)).toBe(201);
		const order = response.body;
		expect(response.headers.get("location")).toBe(`/api/v1/orders/${order.id}`);
		expect(order).toMatchObject({ userId: alice.id, status: "pending", paymentStatus: "unpaid", currency: "USD", totalAmount: 2 * 1999 + 3 * 500 });
		expect(order).toHaveProperty("tenantId");
		expect(order.lines).toEqual([
			{ productId: forge.id, name: "Pixel Forge", unitPriceAmount: 1999, quantity: 2, totalAmount: 3998, currency: "USD" },
			{ productId: lens.id, name: "Lens Kit", unitPriceAmount: 500, quantity: 3, totalAmount: 1500, currency: "USD" },
		]);
		expect(new Date(order.createdAt).getTime()).not.toBeNaN();
		const created = await eventsFor("order.created", order.id);
		expect(created).toHaveLength(1);
		expect(created[0].order).toMatchObject({ id: order.id, status: "pending", totalAmount: 5498 });
		// Money is stored exactly, as BIGINT minor units.
		const [stored] = await sql<{ total_amount: string; currency: string }>("SELECT total_amount, currency FROM orders.orders WHERE id = $1", [order.id]);
		expect(stored).toEqual({ total_amount: "5498", currency: "USD" });
	});

	it("merges lines naming the same product", async () => {
		const response = await placeOrder(alice, [
			{ productId: lens.id, quantity: 1 },
			{ productId: lens.id, quantity: 2 },
		]);
		expect(response.status).toBe(201);
		expect(response.body.lines).toEqual([{ productId: lens.id, name: "Lens Kit", unitPriceAmount: 500, quantity: 3, totalAmount: 1500, currency: "USD" }]);
		const over = await placeOrder(alice, [
			{ productId: lens.id, quantity: 600 },
			{ productId: lens.id, quantity: 600 },
		]);
		expect(over.status).toBe(400);
	});

	it("keeps the price snapshot after the product's price changes", async () => {
		const product = await createProduct({ name: "Snapshot Tool", priceAmount: 1000 });
		const first = await placeOrder(alice, [{ productId: product.id, quantity: 1 }]);
		expect(first.status).toBe(201);
		const update = await api.put(`/products/${product.id}`, { priceAmount: 2500, name: "Snapshot Tool Pro" }, { token: adminToken });
		expect(update.status).toBe(200);
		const again = await api.get<Order>(`/orders/${first.body.id}`, { token: alice.token });
		expect(again.status).toBe(200);
		expect(again.body.totalAmount).toBe(1000);
		expect(again.body.lines[0]).toMatchObject({ name: "Snapshot Tool", unitPriceAmount: 1000 });
		const second = await placeOrder(alice, [{ productId: product.id, quantity: 1 }]);
		expect(second.body).toMatchObject({ totalAmount: 2500, lines: [{ name: "Snapshot Tool Pro", unitPriceAmount: 2500 }] });
	});

	it("answers 422 PRODUCT_UNAVAILABLE naming archived, draft and unknown products", async () => {
		const archived = await createProduct({ name: "Old Tool", priceAmount: 100 });
		expect((await api.delete(`/products/${archived.id}`, { token: adminToken })).status).toBe(204);
		const draft = await createProduct({ name: "Draft Tool", priceAmount: 100, status: "draft" });
		const unknown = crypto.randomUUID();
		const response = await placeOrder(alice, [
			{ productId: forge.id, quantity: 1 },
			{ productId: archived.id, quantity: 1 },
			{ productId: draft.id, quantity: 1 },
			{ productId: unknown, quantity: 1 },
		]);
		expect(response.status).toBe(422);
		expect(response.body.code).toBe("PRODUCT_UNAVAILABLE");
		expect([...(response.body.productIds ?? [])].sort()).toEqual([archived.id, draft.id, unknown].sort());
		expect(response.body.detail).toContain(archived.id);
	});

	it("answers 422 MIXED_CURRENCIES for lines in different currencies", async () => {
		const response = await placeOrder(alice, [
			{ productId: forge.id, quantity: 1 },
			{ productId: euro.id, quantity: 1 },
		]);
		expect(response.status).toBe(422);
		expect(response.body.code).toBe("MIXED_CURRENCIES");
		expect([...(response.body.currencies ?? [])].sort()).toEqual(["EUR", "USD"]);
	});

	it("answers 400 for malformed items and 401 without a token", async () => {
		const cases: unknown[] = [
			[],
			[{ productId: forge.id, quantity: 0 }],
			[{ productId: forge.id, quantity: 1001 }],
			[{ productId: forge.id, quantity: 1.5 }],
			[{ productId: "not-a-uuid", quantity: 1 }],
			Array.from({ length: 101 }, () => ({ productId: crypto.randomUUID(), quantity: 1 })),
		];
		for (const items of cases) {
			const response = await api.post<ProblemBody>("/orders", { items }, { token: alice.token });
			expect({ items, status: response.status }).toEqual({ items, status: 400 });
			expect(response.body.code).toBe("VALIDATION_ERROR");
		}
		expect((await api.post("/orders", { items: [{ productId: forge.id, quantity: 1 }] })).status).toBe(401);
	});

	it("replays the first order for the same Idempotency-Key; only one order exists", async () => {
		const carol = await register("carol");
		const key = `order-${crypto.randomUUID()}`;
		const items = [{ productId: forge.id, quantity: 1 }];
		const first = await placeOrder(carol, items, { "Idempotency-Key": key });
		expect(first.status).toBe(201);
		const second = await placeOrder(carol, items, { "Idempotency-Key": key });
		expect(second.status).toBe(201);
		expect(second.body).toEqual(first.body);
		expect(second.headers.get("location")).toBe(first.headers.get("location"));
		const list = await api.get<OrderList>("/orders", { token: carol.token });
		expect(list.body.total).toBe(1);
		const reused = await placeOrder(carol, [{ productId: lens.id, quantity: 1 }], { "Idempotency-Key": key });
		expect(reused.status).toBe(422);
		expect(reused.body.code).toBe("IDEMPOTENCY_KEY_REUSED");
	});
});

describe("reading orders", () => {
	it("lists a user's own orders; a super admin sees everyone's and filters by user and status", async () => {
		const bobOrder = await placeOrder(bob, [{ productId: lens.id, quantity: 1 }]);
		expect(bobOrder.status).toBe(201);

		const own = await api.get<OrderList>("/orders?pageSize=100", { token: alice.token });
		expect(own.status).toBe(200);
		expect(own.body).toMatchObject({ page: 1, pageSize: 100 });
		expect(own.body.total).toBeGreaterThanOrEqual(4);
		expect(own.body.rows.every((order) => order.userId === alice.id)).toBe(true);
		// Someone else's filter is ignored for a user.
		const sneaky = await api.get<OrderList>(`/orders?userId=${bob.id}`, { token: alice.token });
		expect(sneaky.body.rows.every((order) => order.userId === alice.id)).toBe(true);

		const all = await api.get<OrderList>("/orders?pageSize=100", { token: adminToken });
		expect(all.body.total).toBeGreaterThan(own.body.total);
		const bobs = await api.get<OrderList>(`/orders?userId=${bob.id}`, { token: adminToken });
		expect(bobs.body.rows.map((order) => order.id)).toEqual([bobOrder.body.id]);
		const pending = await api.get<OrderList>(`/orders?status=pending&userId=${bob.id}`, { token: adminToken });
		expect(pending.body.total).toBe(1);
		const completed = await api.get<OrderList>(`/orders?status=completed&userId=${bob.id}`, { token: adminToken });
		expect(completed.body.total).toBe(0);

		const paged = await api.get<OrderList>("/orders?pageSize=2&page=2", { token: alice.token });
		expect(paged.body).toMatchObject({ page: 2, pageSize: 2, totalPages: Math.ceil(own.body.total / 2) });
		expect(paged.body.rows).toHaveLength(2);
	});

	it("answers 404 for someone else's order and for malformed ids; super admins see any", async () => {
		const order = await placeOrder(alice, [{ productId: forge.id, quantity: 1 }]);
		expect((await api.get(`/orders/${order.body.id}`, { token: alice.token })).status).toBe(200);
		expect((await api.get(`/orders/${order.body.id}`, { token: bob.token })).status).toBe(404);
		expect((await api.get("/orders/not-a-uuid", { token: alice.token })).status).toBe(404);
		expect((await api.get(`/orders/${crypto.randomUUID()}`, { token: alice.token })).status).toBe(404);
		expect((await api.post(`/orders/${order.body.id}/cancel`, {}, { token: bob.token })).status).toBe(404);
		expect((await api.get(`/orders/${order.body.id}`, { token: adminToken })).status).toBe(200);
	});
});

describe("the order lifecycle", () => {
	it("cancels a pending order (order.cancelled); cancelling again is 409 naming both states", async () => {
		const order = (await placeOrder(alice, [{ productId: forge.id, quantity: 1 }])).body;
		const cancelled = await api.post<Order>(`/orders/${order.id}/cancel`, {}, { token: alice.token });
		expect(cancelled.status).toBe(200);
		expect(cancelled.body).toMatchObject({ id: order.id, status: "cancelled", paymentStatus: "unpaid" });
		expect(await eventsFor("order.cancelled", order.id)).toHaveLength(1);

		const again = await api.post<ProblemBody>(`/orders/${order.id}/cancel`, {}, { token: alice.token });
		expect(again.status).toBe(409);
		expect(again.body).toMatchObject({ code: "INVALID_TRANSITION", from: "cancelled", to: "cancelled" });
		expect(again.body.detail).toContain("cancelled");

		// A payment arriving for a cancelled order is refused.
		await expect(markPaid(order.id, `pay-${crypto.randomUUID()}`)).rejects.toMatchObject({ code: 409, type: "INVALID_TRANSITION" });
	});

	it("marks an order paid once however often (and however concurrently) the payment is delivered", async () => {
		const order = (await placeOrder(alice, [{ productId: forge.id, quantity: 2 }])).body;
		const paymentId = `pay-${crypto.randomUUID()}`;
		const [first, second] = await Promise.all([markPaid(order.id, paymentId), markPaid(order.id, paymentId)]);
		const third = await markPaid(order.id, paymentId);
		for (const result of [first, second, third]) expect(result).toMatchObject({ id: order.id, status: "paid", paymentStatus: "paid", paymentId });
		await new Promise((resolve) => setTimeout(resolve, 200));
		expect(await eventsFor("order.paid", order.id)).toHaveLength(1);

		// Another payment for the same order, or the same payment for another order: 409.
		await expect(markPaid(order.id, `pay-${crypto.randomUUID()}`)).rejects.toMatchObject({ code: 409 });
		const other = (await placeOrder(alice, [{ productId: forge.id, quantity: 1 }])).body;
		await expect(markPaid(other.id, paymentId)).rejects.toMatchObject({ code: 409, type: "PAYMENT_ALREADY_USED" });

		// Paid: cancelling is no longer possible (only a refund undoes it).
		const cancel = await api.post<ProblemBody>(`/orders/${order.id}/cancel`, {}, { token: alice.token });
		expect(cancel.status).toBe(409);
		expect(cancel.body).toMatchObject({ code: "INVALID_TRANSITION", from: "paid", to: "cancelled" });

		// The user can't move it on; the super admin can: processing, then completed.
		const byUser = await api.put(`/orders/${order.id}/status`, { status: "processing" }, { token: alice.token });
		expect(byUser.status).toBe(403);
		const processing = await api.put<Order>(`/orders/${order.id}/status`, { status: "processing" }, { token: adminToken });
		expect(processing.status).toBe(200);
		expect(processing.body).toMatchObject({ status: "processing", paymentStatus: "paid" });
		const completed = await api.put<Order>(`/orders/${order.id}/status`, { status: "completed" }, { token: adminToken });
		expect(completed.status).toBe(200);
		expect(completed.body).toMatchObject({ status: "completed", paymentStatus: "paid" });
		expect(await eventsFor("order.completed", order.id)).toHaveLength(1);

		const backwards = await api.put<ProblemBody>(`/orders/${order.id}/status`, { status: "processing" }, { token: adminToken });
		expect(backwards.status).toBe(409);
		expect(backwards.body).toMatchObject({ code: "INVALID_TRANSITION", from: "completed", to: "processing" });
		expect(backwards.body.detail).toMatch(/completed.*processing/);
		expect((await api.put(`/orders/${order.id}/status`, { status: "cancelled" }, { token: adminToken })).status).toBe(400);

		// A pending order can't skip payment.
		const skip = await api.put<ProblemBody>(`/orders/${other.id}/status`, { status: "processing" }, { token: adminToken });
		expect(skip.body).toMatchObject({ code: "INVALID_TRANSITION", from: "pending", to: "processing" });
	});

	it("refunds a paid order once (order.refunded); a pending or completed one can't be refunded", async () => {
		const order = (await placeOrder(alice, [{ productId: lens.id, quantity: 4 }])).body;
		const paymentId = `pay-${crypto.randomUUID()}`;
		await expect(markRefunded(order.id, paymentId)).rejects.toMatchObject({ code: 409, type: "INVALID_TRANSITION" });
		await markPaid(order.id, paymentId);
		await expect(markRefunded(order.id, `pay-${crypto.randomUUID()}`)).rejects.toMatchObject({ code: 409, type: "PAYMENT_MISMATCH" });
		const [first, second] = await Promise.all([markRefunded(order.id, paymentId), markRefunded(order.id, paymentId)]);
		for (const result of [first, second]) expect(result).toMatchObject({ status: "refunded", paymentStatus: "refunded", paymentId });
		await new Promise((resolve) => setTimeout(resolve, 200));
		expect(await eventsFor("order.refunded", order.id)).toHaveLength(1);
		const seen = await api.get<Order>(`/orders/${order.id}`, { token: alice.token });
		expect(seen.body).toMatchObject({ status: "refunded", paymentStatus: "refunded" });
	});

	it("keeps the saga's actions off the public API and away from users", async () => {
		const order = (await placeOrder(alice, [{ productId: lens.id, quantity: 1 }])).body;
		expect((await api.post(`/orders/markPaid`, { orderId: order.id, paymentId: "x" }, { token: alice.token })).status).toBe(404);
		await expect(
			node.broker.call("orders.markPaid", { orderId: order.id, paymentId: "x" }, { meta: { user: { id: alice.id, persona: "end_user" } } }),
		).rejects.toMatchObject({ code: 403 });
	});
});
