import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/** Fulfilment state of an order (Saleor-style: separate from the payment state). */
export const ORDER_STATUSES = ["pending", "paid", "processing", "completed", "cancelled", "refunded"] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const PAYMENT_STATUSES = ["unpaid", "paid", "refunded"] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** Every allowed status change; anything else is refused with 409 INVALID_TRANSITION. */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
	pending: ["paid", "cancelled"],
	paid: ["processing", "refunded"],
	processing: ["completed", "refunded"],
	completed: [],
	cancelled: [],
	refunded: [],
};

/** An order as Sequelize gives it back. */
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

export const OrderModel: ModelDefinition<"order", OrderRow, "status" | "paymentStatus"> = {
	name: "order",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		userId: { type: DataTypes.UUID, allowNull: false },
		tenantId: { type: DataTypes.UUID, allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "pending" },
		paymentStatus: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "unpaid" },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		totalAmount: { type: DataTypes.BIGINT, allowNull: false },
		paymentId: { type: DataTypes.STRING(200), allowNull: true },
		paidAt: { type: DataTypes.DATE, allowNull: true },
		cancelledAt: { type: DataTypes.DATE, allowNull: true },
		completedAt: { type: DataTypes.DATE, allowNull: true },
		refundedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "orders" },
};

export interface OrderLineRow {
	id: string;
	orderId: string;
	position: number;
	productId: string;
	productName: string;
	unitPriceAmount: string | number;
	quantity: number;
	totalAmount: string | number;
	currency: string;
	createdAt: Date;
	updatedAt: Date;
}

/** A line copies the product's name, unit price and currency at creation: later catalog changes don't touch it. */
export const OrderLineModel: ModelDefinition<"orderLine", OrderLineRow> = {
	name: "orderLine",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		orderId: { type: DataTypes.UUID, allowNull: false },
		position: { type: DataTypes.INTEGER, allowNull: false },
		productId: { type: DataTypes.UUID, allowNull: false },
		productName: { type: DataTypes.STRING(200), allowNull: false },
		unitPriceAmount: { type: DataTypes.BIGINT, allowNull: false },
		quantity: { type: DataTypes.INTEGER, allowNull: false },
		totalAmount: { type: DataTypes.BIGINT, allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
	},
	options: { tableName: "order_lines" },
};
