/**
 * Orders of the premium app marketplace. An order copies each product's name, unit price and currency
 * from `catalog.snapshot` when it is placed, so later catalog changes never alter it; money is integer
 * minor units plus an ISO 4217 code, and all lines of an order share one currency.
 *
 * `status` (fulfilment) and `paymentStatus` are separate fields, as in Saleor:
 *   status:        pending → paid → processing → completed, pending → cancelled, paid|processing → refunded
 *   paymentStatus: unpaid → paid → refunded; a cancelled order: unpaid → refunded (money that came late, given back)
 * Every transition is one `UPDATE … WHERE id = :id AND status = :expected RETURNING *`, so when two nodes
 * race, exactly one applies it; the loser finds out what happened and answers accordingly (a replay of the
 * same payment is a no-op, anything else 409 INVALID_TRANSITION naming both states). Events are emitted
 * after the change commits.
 *
 * Paid and refunded orders are also announced durably: the status change and an outbox row commit in ONE
 * transaction (mixins/outbox.mixin.ts), and the relay publishes `{ orderId, order }` to the channels
 * `commerce.order.paid` / `commerce.order.refunded`, so the buyer's notification and the tenant's webhook
 * don't depend on a notifications node being up at that moment. The plain events stay for fire-and-forget
 * listeners.
 *
 * Money and orders never disagree: a cancel also goes to `commerce.order.cancelled`, and payments fails the
 * order's pending payment (at once, and durably from the channel); a settled payment that markPaid refuses
 * (the order was cancelled, or paid otherwise) goes to `commerce.order.payment_rejected`, and payments
 * refunds it (services/commerce/payments-reconciliation.ts). A cancelled order then shows that refund.
 *
 * Callers see their own orders; super admins (and platform work) see all. Someone else's order answers
 * 404, exactly like a missing or malformed id.
 */
import path from "node:path";
import type { Context } from "moleculer";
import type { Transaction } from "sequelize";
import { DbMixin, PAGE_PARAMS, type DbMixinSettings, type DbServiceSchema } from "../../mixins/db.mixin";
import { AggregateMixin } from "../../mixins/aggregate.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { IdempotencyMixin, type IdempotencyMeta } from "../../mixins/idempotency.mixin";
import { OutboxMixin, outboxModel, type OutboxMethods } from "../../mixins/outbox.mixin";
import {
	OrderLineModel,
	OrderModel,
	ORDER_STATUSES,
	ORDER_TRANSITIONS,
	type OrderStatus,
} from "../../models/commerce/orders/order.models";
import type { PaymentStatusReason } from "../../models/commerce/payments/payment.model";
import { requireUser, systemCall } from "../../lib/caller";
import type { CreateParams, ListParams, OrderLineRow, OrderRow, OrdersMethods, PaymentMessage, ProductSnapshot, PublicOrder } from "./orders.types";
import { BadRequestError, ConflictError, EntityNotFoundError, UnprocessableEntityError, isFinalRefusal } from "../../lib/errors";
import { ORDER_CHANNELS, ORDER_EVENTS, PAYMENT_CHANNELS, PublicOrderSchema, payableOf } from "./contracts";
import { created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";

const SCHEMA = "orders";
const MAX_LINES = 100;
const MAX_QUANTITY = 1000;
/** Statuses a super admin may set by hand (PUT /orders/:id/status); the rest belong to the saga or the owner. */
const ADMIN_STATUSES = ["processing", "completed"] as const;
type AdminStatus = (typeof ADMIN_STATUSES)[number];
/** Orders belong to people: API keys and anonymous platform work have none of their own. */
const NO_ORDERS = "Only signed-in users have orders";
/** An order is its buyer's: others get 404 (lists: their own), platform callers see all. */
const ORDER_OWNERSHIP = { owner: "user", userRequired: NO_ORDERS } as const;
const ORDER_SCOPE = { entity: "order", name: "Order" } as const;

export { ORDER_EVENTS };
export type { PublicOrder, PublicOrderLine } from "./contracts";

type OrdersContext<P = Record<string, unknown>> = Context<P, IdempotencyMeta>;

/**
 * Why a settled payment that markPaid refused must go back, or undefined when the refusal isn't about the
 * order (a human looks at it): the order was cancelled, is paid by another payment, moved on, or is gone.
 */
function rejectionReason(error: { type?: string; data?: { from?: string } }): PaymentStatusReason | undefined {
	switch (error.type) {
		case "INVALID_TRANSITION":
			return error.data?.from === "cancelled" ? "order_cancelled" : "order_not_payable";
		case "ORDER_ALREADY_PAID":
			return "order_already_paid";
		case "ENTITY_NOT_FOUND":
			return "order_not_payable";
		default:
			return undefined;
	}
}

function iso(value: Date | string | null | undefined): string | null {
	return value ? new Date(value).toISOString() : null;
}

const paymentParams = { orderId: "string|max:64", paymentId: "string|trim|min:1|max:200", $$strict: "remove" } as const;

const OrdersService: DbServiceSchema<DbMixinSettings, OrdersMethods & OutboxMethods, unknown, typeof OrderModel, typeof OrderLineModel> = {
	name: "orders",
	mixins: [
		DbMixin({
			schema: SCHEMA,
			migrations: path.join(__dirname, "../../models/commerce/orders/migrations"),
			model: OrderModel,
			extraModels: [OrderLineModel, outboxModel()],
			owner: ORDER_OWNERSHIP,
			entityName: "Order",
		}),
		OutboxMixin({ name: "Orders outbox" }),
		IdempotencyMixin(),
		AggregateMixin<OrderStatus>({ model: "order", entityName: "Order", transitions: ORDER_TRANSITIONS }),
	],

	/**
	 * The payment saga's consumer side (payments' transactional outbox publishes these). At least once:
	 * markPaid/markRefunded are idempotent by paymentId. A 4xx answer (the order was cancelled meanwhile,
	 * or already paid by another payment) will never succeed on retry: it is logged, announced as
	 * `order.payment_conflict` (for a refund or manual follow-up) and acknowledged; other failures retry.
	 */
	channels: {
		[PAYMENT_CHANNELS.settled]: {
			group: "orders",
			maxRetries: 10,
			async handler(payload: PaymentMessage) {
				await this.applyPayment("orders.markPaid", "paid", payload);
			},
		},
		[PAYMENT_CHANNELS.refunded]: {
			group: "orders",
			maxRetries: 10,
			async handler(payload: PaymentMessage) {
				await this.applyPayment("orders.markRefunded", "refunded", payload);
			},
		},
	},

	// Not moleculer-db's names (create, list, get): those would merge in its cache keys and params.
	actions: {
		createOrder: {
			rest: "POST /",
			responses: { 201: { description: "The new order", body: PublicOrderSchema, headers: { Location: "The order's URL" } } },
			errors: { 409: ["IDEMPOTENCY_REQUEST_IN_PROGRESS"], 422: ["PRODUCT_UNAVAILABLE", "MIXED_CURRENCIES", "ORDER_TOTAL_TOO_LARGE", "IDEMPOTENCY_KEY_REUSED"] },
			idempotent: true,
			summary: "Place an order; prices are copied from the catalog now (send an Idempotency-Key to retry safely)",
			description: "Lines naming the same product are merged (quantities added; the sum must stay ≤ 1000).",
			params: {
				items: {
					type: "array",
					min: 1,
					max: MAX_LINES,
					items: {
						type: "object",
						strict: "remove",
						props: {
							productId: { type: "uuid" },
							quantity: { type: "number", integer: true, min: 1, max: MAX_QUANTITY },
						},
					},
				},
				$$strict: "remove",
			},
			async handler(ctx: OrdersContext<CreateParams>) {
				const userId = requireUser(ctx.meta, NO_ORDERS);

				// The same product twice is one line with the quantities added, in first-seen order.
				const quantities = new Map<string, number>();
				for (const item of ctx.params.items) {
					const productId = item.productId.toLowerCase();
					quantities.set(productId, (quantities.get(productId) ?? 0) + item.quantity);
				}
				const tooMany = [...quantities].filter(([, quantity]) => quantity > MAX_QUANTITY).map(([productId]) => productId);
				if (tooMany.length > 0) {
					const message = `The quantity of a product may not exceed ${MAX_QUANTITY} (products ${tooMany.join(", ")})`;
					throw new BadRequestError(message, "VALIDATION_ERROR", [{ field: "items", message, type: "arrayQuantityMax" }]);
				}

				// Platform work on behalf of the order: the catalog's own access rules (API-key scopes) don't apply.
				const snapshots: ProductSnapshot[] = await this.broker.call("catalog.snapshot", { ids: [...quantities.keys()] }, { ...systemCall(), requestID: ctx.requestID ?? undefined });
				const byId = new Map(snapshots.map((product) => [product.id.toLowerCase(), product]));
				const unavailable = [...quantities.keys()].filter((id) => byId.get(id)?.status !== "active");
				if (unavailable.length > 0) {
					throw new UnprocessableEntityError(`These products can't be ordered (unknown or not on sale): ${unavailable.join(", ")}`, "PRODUCT_UNAVAILABLE", {
						productIds: unavailable,
					});
				}
				const currencies = [...new Set([...quantities.keys()].map((id) => byId.get(id)!.currency))];
				if (currencies.length > 1) {
					throw new UnprocessableEntityError(`All products of an order must share one currency; these are in ${currencies.join(", ")}`, "MIXED_CURRENCIES", { currencies });
				}

				const lines = [...quantities].map(([productId, quantity], position) => {
					const product = byId.get(productId)!;
					return {
						position,
						productId,
						productName: product.name,
						unitPriceAmount: product.priceAmount,
						quantity,
						totalAmount: BigInt(product.priceAmount) * BigInt(quantity),
						currency: product.currency,
					};
				});
				const total = lines.reduce((sum, line) => sum + line.totalAmount, 0n);
				if (total > BigInt(Number.MAX_SAFE_INTEGER)) {
					throw new UnprocessableEntityError("The order's total is larger than this platform can hold", "ORDER_TOTAL_TOO_LARGE");
				}

				const row = await this.adapter.db.transaction(async (transaction) => {
					const order = (
						await this.models.order.create(
							{ userId, tenantId: ctx.meta.tenantId ?? null, status: "pending", paymentStatus: "unpaid", currency: currencies[0], totalAmount: Number(total) },
							{ transaction },
						)
					).get({ plain: true });
					await this.models.orderLine.bulkCreate(
						lines.map((line) => ({ ...line, orderId: order.id, totalAmount: Number(line.totalAmount) })),
						{ transaction },
					);
					return order;
				});
				const order = await this.announce(ctx, ORDER_EVENTS.created, row, "created");
				created(ctx, "orders", order.id);
				return order;
			},
		},

		listOrders: {
			rest: "GET /",
			responses: { 200: { description: "A page of orders, newest first", body: PageOf(PublicOrderSchema) } },
			summary: "Your orders, newest first (super admins: everyone's, filterable by userId)",
			params: {
				...PAGE_PARAMS,
				status: { type: "enum", values: ORDER_STATUSES, optional: true },
				userId: { type: "uuid", optional: true, description: "super admins only; ignored for everyone else" },
				$$strict: "remove",
			},
			async handler(ctx: OrdersContext<ListParams>) {
				const { page, pageSize, status, userId } = ctx.params;
				// A platform caller may narrow to one buyer; for anyone else the owner condition puts themselves there.
				const where = { ...(userId ? { userId: userId.toLowerCase() } : {}), ...(status ? { status } : {}) };
				const found = await this.scoped(ctx).page({ page, pageSize, where });
				return { ...found, rows: await this.withLines(found.rows) };
			},
		},

		getOrder: {
			rest: "GET /:id",
			responses: { 200: { description: "The order", body: PublicOrderSchema } },
			summary: "One of your orders (super admins: any)",
			params: { id: "string|max:64" },
			scope: ORDER_SCOPE,
			async handler(ctx: OrdersContext<{ id: string }>) {
				const row = entityOf<OrderRow>(ctx);
				return (await this.withLines([row]))[0];
			},
		},

		cancelOrder: {
			rest: "POST /:id/cancel",
			responses: { 200: { description: "The cancelled order", body: PublicOrderSchema } },
			errors: { 409: ["INVALID_TRANSITION"] },
			summary: "Cancel an order while it is pending (after payment, only a refund undoes it)",
			description:
				"A pending payment of the order fails with it (`statusReason: order_cancelled`); money that arrives for it anyway is refunded automatically and shown on the order as `paymentStatus: refunded`.",
			params: { id: "string|max:64" },
			scope: ORDER_SCOPE,
			async handler(ctx: OrdersContext<{ id: string }>) {
				const before = entityOf<OrderRow>(ctx);
				// With an outbox row on commerce.order.cancelled: payments fails the order's pending payment durably.
				const { row } = await this.transition(before, ["pending"], { status: "cancelled", cancelledAt: new Date() }, { channel: ORDER_CHANNELS.cancelled });
				// And now, so the buyer who reads the payment next sees it failed; if payments is away, the channel does it.
				await this.broker
					.call("payments.voidForOrder", { orderId: row.id, reason: "order_cancelled" }, { ...systemCall(), requestID: ctx.requestID ?? undefined })
					.catch((err: unknown) => this.logger.warn(`Order ${row.id} cancelled; its pending payment will be failed by the channel: ${(err as Error).message}`));
				return this.announce(ctx, ORDER_EVENTS.cancelled, row);
			},
		},

		setStatus: {
			rest: "PUT /:id/status",
			responses: { 200: { description: "The order in its new status", body: PublicOrderSchema } },
			errors: { 409: ["INVALID_TRANSITION"] },
			permissions: ["super_admin"],
			summary: "Move a paid order to processing, or a processing one to completed",
			params: { id: "string|max:64", status: { type: "enum", values: ADMIN_STATUSES }, $$strict: "remove" },
			scope: ORDER_SCOPE,
			async handler(ctx: OrdersContext<{ id: string; status: AdminStatus }>) {
				const before = entityOf<OrderRow>(ctx);
				const to = ctx.params.status;
				const from: OrderStatus = to === "processing" ? "paid" : "processing";
				const { row } = await this.transition(before, [from], to === "completed" ? { status: to, completedAt: new Date() } : { status: to });
				if (to === "completed") return this.announce(ctx, ORDER_EVENTS.completed, row);
				await this.entityChanged("updated", { id: row.id }, ctx);
				return (await this.withLines([row]))[0];
			},
		},

		/**
		 * Payment saga: the payment `paymentId` paid the order. pending → paid. The same payment again is a
		 * no-op answering the order; a cancelled (or otherwise moved on) order → 409.
		 */
		markPaid: {
			visibility: "public",
			permissions: ["super_admin"],
			params: paymentParams,
			async handler(ctx: OrdersContext<{ orderId: string; paymentId: string }>) {
				const { orderId, paymentId } = ctx.params;
				const before = await this.loadRow(orderId);
				if (!before) throw new EntityNotFoundError("Order", orderId);
				if (before.paymentId === paymentId) return (await this.withLines([before]))[0];
				let row: OrderRow | undefined;
				try {
					row = await this.guardedUpdate(before.id, ["pending"], { status: "paid", paymentStatus: "paid", paymentId, paidAt: new Date() }, { channel: ORDER_CHANNELS.paid });
				} catch (err) {
					if ((err as Error).name === "SequelizeUniqueConstraintError") {
						throw new ConflictError(`Payment ${paymentId} already paid another order`, "PAYMENT_ALREADY_USED", { orderId, paymentId });
					}
					throw err;
				}
				if (row) return this.announce(ctx, ORDER_EVENTS.paid, row);
				// Lost a race or the order moved on: a concurrent delivery of this same payment is still a no-op.
				const current = (await this.loadRow(before.id)) ?? before;
				if (current.paymentId === paymentId) return (await this.withLines([current]))[0];
				// A cancelled order may show the refund of an earlier late payment: still cancelled, not paid.
				if (current.paymentId && current.status !== "cancelled") {
					throw new ConflictError(`Order ${current.id} was already paid by another payment`, "ORDER_ALREADY_PAID", { orderId: current.id, paymentId: current.paymentId });
				}
				throw this.invalidTransition(current, "paid");
			},
		},

		/**
		 * Payment saga: the payment that paid the order was refunded. paid|processing → refunded; again: a no-op.
		 * A cancelled order records the refund of a payment that arrived after the cancel (`paymentStatus:
		 * refunded`, `paymentId`, `refundedAt`; the status stays cancelled).
		 */
		markRefunded: {
			visibility: "public",
			permissions: ["super_admin"],
			params: paymentParams,
			async handler(ctx: OrdersContext<{ orderId: string; paymentId: string }>) {
				const { orderId, paymentId } = ctx.params;
				const before = await this.loadRow(orderId);
				if (!before) throw new EntityNotFoundError("Order", orderId);
				if (before.paymentId !== null && before.paymentId !== paymentId) {
					throw new ConflictError(`Order ${before.id} was paid by another payment`, "PAYMENT_MISMATCH", { orderId: before.id, paymentId });
				}
				if (before.status === "refunded") return (await this.withLines([before]))[0];
				if (before.status === "cancelled") {
					if (before.paymentStatus === "refunded") return (await this.withLines([before]))[0];
					const [count, rows] = await this.models.order.update(
						{ paymentStatus: "refunded", paymentId, refundedAt: new Date() },
						{ where: { id: before.id, status: "cancelled", paymentStatus: "unpaid", paymentId: null }, returning: true },
					);
					if (count === 1) {
						const order = (await this.withLines([rows[0].get({ plain: true })]))[0];
						await this.entityChanged("updated", { id: order.id }, ctx);
						return order;
					}
					const current = (await this.loadRow(before.id)) ?? before;
					if (current.paymentId === paymentId) return (await this.withLines([current]))[0];
					throw new ConflictError(`Order ${current.id} already shows the refund of another payment`, "PAYMENT_MISMATCH", { orderId: current.id, paymentId });
				}
				const { row, changed } = await this.transition(
					before,
					["paid", "processing"],
					{ status: "refunded", paymentStatus: "refunded", refundedAt: new Date() },
					{ where: { paymentId }, channel: ORDER_CHANNELS.refunded, noOp: (current) => current.status === "refunded" && current.paymentId === paymentId },
				);
				return changed ? this.announce(ctx, ORDER_EVENTS.refunded, row) : this.present(row);
			},
		},
	},

	methods: {
		async withLines(rows: OrderRow[], transaction?: Transaction): Promise<PublicOrder[]> {
			if (rows.length === 0) return [];
			const lines = (await this.models.orderLine.findAll({ where: { orderId: rows.map((row) => row.id) }, order: [["position", "ASC"]], transaction })).map((line) =>
				line.get({ plain: true }),
			);
			return rows.map((row) =>
				this.toPublic(
					row,
					lines.filter((line) => line.orderId === row.id),
				),
			);
		},

		toPublic(row: OrderRow, lines: OrderLineRow[]): PublicOrder {
			return {
				id: row.id,
				userId: row.userId,
				tenantId: row.tenantId ?? null,
				status: row.status,
				paymentStatus: row.paymentStatus,
				currency: row.currency,
				totalAmount: Number(row.totalAmount),
				paymentId: row.paymentId ?? null,
				lines: lines.map((line) => ({
					productId: line.productId,
					name: line.productName,
					unitPriceAmount: Number(line.unitPriceAmount),
					quantity: line.quantity,
					totalAmount: Number(line.totalAmount),
					currency: line.currency,
				})),
				createdAt: iso(row.createdAt)!,
				updatedAt: iso(row.updatedAt)!,
				paidAt: iso(row.paidAt),
				cancelledAt: iso(row.cancelledAt),
				completedAt: iso(row.completedAt),
				refundedAt: iso(row.refundedAt),
			};
		},

		async present(row: OrderRow, transaction?: Transaction): Promise<PublicOrder> {
			return (await this.withLines([row], transaction))[0];
		},


		/**
		 * A saga message: apply it as platform work; a conflict that no retry can fix is announced and
		 * acknowledged. Money the order refuses (it was cancelled, or paid by another payment) goes back: the
		 * refusal is written to orders' outbox (`commerce.order.payment_rejected`), and payments refunds it.
		 */
		async applyPayment(action: string, outcome: "paid" | "refunded", message: PaymentMessage): Promise<void> {
			// The payment channels carry every payable's payments: an invoice's is billing's business.
			const payable = payableOf(message);
			if (payable.type !== "order") return;
			const payload = { ...message, orderId: payable.id };
			try {
				await this.broker.call(action, { orderId: payload.orderId, paymentId: payload.paymentId }, systemCall());
			} catch (err) {
				// Only the order's own answer is final; a missing service or a 5xx is retried.
				if (!isFinalRefusal(err)) throw err;
				const error = err as Error & { type?: string; data?: { from?: string } };
				const reason = outcome === "paid" ? rejectionReason(error) : undefined;
				if (reason) {
					await this.adapter.db.transaction((transaction) =>
						this.writeOutbox(transaction, ORDER_CHANNELS.paymentRejected, { orderId: payload.orderId, paymentId: payload.paymentId, reason, code: error.type ?? "UNKNOWN" }),
					);
				} else if (outcome === "refunded" && payload.payment?.statusReason === "order_already_paid" && error.type === "PAYMENT_MISMATCH") {
					// The refund of a second payment, which the order (paid by the first) never took: nothing to record.
					return;
				}
				if (reason) this.logger.info(`Payment ${payload.paymentId} can't pay order ${payload.orderId} (${error.type}): it is refunded (${reason})`);
				else this.logger.warn(`Payment ${payload.paymentId} can't mark order ${payload.orderId} ${outcome}: ${error.type ?? error.message}`);
				await this.broker.emit(ORDER_EVENTS.paymentConflict, {
					orderId: payload.orderId,
					paymentId: payload.paymentId,
					outcome,
					code: error.type ?? "UNKNOWN",
					detail: error.message,
					...(reason ? { refund: reason } : {}),
				});
			}
		},

	},

	started() {
		this.startOutboxRelay();
	},

	async stopped() {
		await this.stopOutboxRelay();
	},
};

export default OrdersService;
