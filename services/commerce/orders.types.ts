/**
 * The shapes of orders: what callers get (PublicOrder), what the table holds (OrderRow), what the service's
 * methods are, and the payment saga's messages as orders reads them. orders.service.ts holds the logic.
 */
import type { Transaction } from "sequelize";
import type { OrderStatus, PaymentStatus } from "../../models/commerce/orders/order.models";
import type { PaymentMessage, PublicOrder } from "./contracts";
import type { AggregateMethods } from "../../mixins/aggregate.mixin";

export type { PaymentMessage, PublicOrder, PublicOrderLine } from "./contracts";

export interface OrderRow {
	id: string;
	userId: string;
	tenantId: string | null;
	status: OrderStatus;
	paymentStatus: PaymentStatus;
	currency: string;
	/** BIGINT: node-postgres hands it over as a string. */
	totalAmount: string | number;
	paymentId: string | null;
	paidAt: Date | null;
	cancelledAt: Date | null;
	completedAt: Date | null;
	refundedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export interface OrderLineRow {
	orderId: string;
	position: number;
	productId: string;
	productName: string;
	unitPriceAmount: string | number;
	quantity: number;
	totalAmount: string | number;
	currency: string;
}

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
