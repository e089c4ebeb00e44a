/**
 * The shapes of orders: what callers get (PublicOrder), what the table holds (OrderRow), what the service's
 * methods are, and the payment saga's messages as orders reads them. orders.service.ts holds the logic.
 */
import type { Transaction } from "sequelize";
import type { OrderLineRow, OrderRow, OrderStatus } from "../../models/commerce/orders/order.models";
import type { PaymentMessage, PublicOrder } from "./contracts";
import type { AggregateMethods } from "../../mixins/aggregate.mixin";

export type { PaymentMessage, PublicOrder, PublicOrderLine } from "./contracts";
export type { OrderLineRow, OrderRow } from "../../models/commerce/orders/order.models";

export interface ProductSnapshot {
	id: string;
	name: string;
	priceAmount: number;
	currency: string;
	status: string;
}

export interface CreateParams {
	items: Array<{ productId: string; quantity: number }>;
}

export interface ListParams {
	page: number;
	pageSize: number;
	status?: OrderStatus;
	userId?: string;
}

export interface OrdersMethods extends AggregateMethods<OrderRow, OrderStatus, PublicOrder> {
	loadRow(id: string): Promise<OrderRow | undefined>;
	withLines(rows: OrderRow[], transaction?: Transaction): Promise<PublicOrder[]>;
	toPublic(row: OrderRow, lines: OrderLineRow[]): PublicOrder;
	/** The public order (with its lines): answers, events, outbox rows (AggregateMixin reads it). */
	present(row: OrderRow, transaction?: Transaction): Promise<PublicOrder>;
	applyPayment(action: string, outcome: "paid" | "refunded", payload: PaymentMessage): Promise<void>;
}
