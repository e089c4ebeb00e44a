import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

/**
 * A tenant as a processor's customer (a Stripe customer `cus_…`): one per tenant and provider, created the
 * first time the tenant saves a card. Migration 0005.
 */
export const PaymentCustomerModel: ModelDefinition<"paymentCustomer", PaymentCustomerRow> = {
	name: "paymentCustomer",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		provider: { type: DataTypes.STRING(30), allowNull: false },
		customerId: { type: DataTypes.STRING(255), allowNull: false },
	},
	options: { tableName: "payment_customers" },
};

/**
 * A tenant's saved card (what `POST /payment-methods/setup` and the processor's confirmation leave): the
 * processor's id (`pm_…`, never answered) and what may be shown of it. At most one per tenant is the
 * default, the card an invoice is charged to. Migration 0005.
 */
export const SavedPaymentMethodModel: ModelDefinition<"savedMethod", SavedMethodRow, "type" | "isDefault"> = {
	name: "savedMethod",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		provider: { type: DataTypes.STRING(30), allowNull: false },
		customerId: { type: DataTypes.STRING(255), allowNull: false },
		providerMethodId: { type: DataTypes.STRING(255), allowNull: false },
		type: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "card" },
		brand: { type: DataTypes.STRING(30), allowNull: false },
		last4: { type: DataTypes.STRING(4), allowNull: false },
		expMonth: { type: DataTypes.INTEGER, allowNull: false },
		expYear: { type: DataTypes.INTEGER, allowNull: false },
		isDefault: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
	},
	options: { tableName: "saved_payment_methods" },
};

/** A tenant at a processor (payment_customers). */
export interface PaymentCustomerRow {
	id: string;
	tenantId: string;
	provider: string;
	customerId: string;
	createdAt: Date;
	updatedAt: Date;
}

/** A tenant's saved card (saved_payment_methods). */
export interface SavedMethodRow {
	id: string;
	tenantId: string;
	provider: string;
	customerId: string;
	providerMethodId: string;
	type: "card";
	brand: string;
	last4: string;
	expMonth: number;
	expYear: number;
	isDefault: boolean;
	createdAt: Date;
	updatedAt: Date;
}
