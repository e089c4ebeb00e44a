import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

export const PAYMENT_METHODS = ["credit_card", "bank_transfer", "e_wallet", "virtual_account"] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/**
 * What a payment pays: an order of the catalog (commerce's own), or an invoice of billing (another domain,
 * which calls `payments.payInvoice`). Referred to by id only: no cross-schema key.
 */
export const PAYABLE_TYPES = ["order", "invoice"] as const;
export type PayableType = (typeof PAYABLE_TYPES)[number];

/** pending → succeeded → refunded, pending → failed. */
export const PAYMENT_STATUSES = ["pending", "succeeded", "failed", "refunded"] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * Why the platform itself moved a payment (`statusReason`; null when the payer, the bank, Stripe or a super
 * admin did): a pending payment failed because its order was cancelled, or a settled payment refunded
 * because its order could not take it (cancelled meanwhile, already paid by another payment, or gone); a
 * pending invoice payment failed because billing voided the invoice.
 */
export const PAYMENT_STATUS_REASONS = ["order_cancelled", "order_already_paid", "order_not_payable", "invoice_voided"] as const;
export type PaymentStatusReason = (typeof PAYMENT_STATUS_REASONS)[number];

export interface PaymentRow {
	id: string;
	payableType: PayableType;
	payableId: string;
	/** = payableId for an order, null otherwise. */
	orderId: string | null;
	/** The payer; null for an invoice (its tenant pays). */
	userId: string | null;
	tenantId: string | null;
	amount: string | number;
	currency: string;
	method: PaymentMethod;
	status: PaymentStatus;
	paymentReference: string;
	instructions: Record<string, unknown>;
	settledAt: Date | null;
	failedAt: Date | null;
	refundedAt: Date | null;
	providerReference: string | null;
	statusReason: PaymentStatusReason | null;
	idempotencyKey: string | null;
	failureCode: string | null;
	declineCode: string | null;
	failureMessage: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const PaymentModel: ModelDefinition<"payment", PaymentRow, "status" | "payableType"> = {
	name: "payment",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		/** What the payment pays (migration 0004); rows of older code name only `orderId`, a trigger fills these. */
		payableType: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "order" },
		payableId: { type: DataTypes.UUID, allowNull: false },
		/** The order paid (= payableId) for orders, null for any other payable. */
		orderId: { type: DataTypes.UUID, allowNull: true },
		/** The payer: the order's buyer; null for an invoice, which its tenant pays. */
		userId: { type: DataTypes.UUID, allowNull: true },
		tenantId: { type: DataTypes.UUID, allowNull: true },
		amount: { type: DataTypes.BIGINT, allowNull: false },
		currency: { type: DataTypes.CHAR(3), allowNull: false },
		method: { type: DataTypes.STRING(30), allowNull: false },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "pending" },
		paymentReference: { type: DataTypes.STRING(40), allowNull: false },
		instructions: { type: DataTypes.JSONB, allowNull: false },
		settledAt: { type: DataTypes.DATE, allowNull: true },
		failedAt: { type: DataTypes.DATE, allowNull: true },
		refundedAt: { type: DataTypes.DATE, allowNull: true },
		/** Card payments: the processor's id of what settles it (a Stripe PaymentIntent `pi_…`). Migration 0002. */
		providerReference: { type: DataTypes.STRING(255), allowNull: true },
		/** One of PAYMENT_STATUS_REASONS, or null. Migration 0003. */
		statusReason: { type: DataTypes.STRING(40), allowNull: true },
		/** The caller's key of an internal payment (`payInvoice`): a replay answers the same payment. Migration 0004. */
		idempotencyKey: { type: DataTypes.STRING(255), allowNull: true },
		/**
		 * Why the processor refused a charge: its error code (`card_declined`, `expired_card`, or the platform's
		 * `payment_method_missing`), the issuer's decline code (`insufficient_funds`, `generic_decline`), its words. Migration 0004.
		 */
		failureCode: { type: DataTypes.STRING(100), allowNull: true },
		declineCode: { type: DataTypes.STRING(100), allowNull: true },
		failureMessage: { type: DataTypes.STRING(500), allowNull: true },
	},
	options: { tableName: "payments" },
};
