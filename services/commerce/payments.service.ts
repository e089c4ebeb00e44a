/**
 * Payments. A payment pays a payable: an order (created here by the order's owner for a pending, unpaid
 * order, its amount and currency copied from the order, never taken from the client) or an invoice of
 * billing (`payments.payInvoice`, payments-invoices.ts). How each method is paid is its PaymentProvider's
 * business (payment-provider.ts, chosen by method through payment-provider-registry.ts): the manual ones
 * (bank transfer, virtual account, e-wallet) answer instructions and a human-readable reference and are
 * settled later by a super admin or the bank's callback (`POST /payments/:id/verify`); a processor
 * (`credit_card`: Stripe, only when STRIPE_SECRET_KEY is set; otherwise 422 METHOD_NOT_AVAILABLE) opens the
 * payment with it (a PaymentIntent, Stripe idempotency key = the payment id, its client secret answered once in
 * `instructions.clientSecret`, never stored) and settles it by its signed webhook (payments-webhooks.ts).
 * Refunding a processor's payment refunds it there first (idempotency key `refund-<paymentId>`).
 *
 * The saga is durable: settling (or refunding, or failing) a payment changes the payment row and writes an
 * outbox row in ONE transaction (mixins/outbox.mixin.ts); the relay publishes it to the durable channel
 * `commerce.payment.settled|refunded|failed` (right after the commit, and every second for what a crash left).
 * The message carries the payable and the public payment: orders applies an order's (markPaid/markRefunded,
 * idempotent by paymentId), billing an invoice's, notifications tells an order's payer and tenant. Delivery
 * is at least once.
 *
 * Money and orders never disagree (payments-reconciliation.ts): cancelling an order fails its pending
 * payment, and a settlement that arrives anyway (the transfer was on its way, a verify raced the cancel)
 * is refunded by the saga, with the reason in `statusReason`. Tenants' saved cards: payments-saved-methods.ts.
 *
 *   status: pending → succeeded → refunded, pending → failed → succeeded (money that arrived after all)
 */
import crypto from "node:crypto";
import path from "node:path";
import type { Context } from "moleculer";
import { platformConfigOf } from "../../lib/node";
import { DbMixin, PAGE_PARAMS, plainRow, type DbServiceSchema } from "../../mixins/db.mixin";
import { AggregateMixin } from "../../mixins/aggregate.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { IdempotencyMixin } from "../../mixins/idempotency.mixin";
import { OutboxMixin, outboxModel, type OutboxMethods } from "../../mixins/outbox.mixin";
import { PaymentsReconciliation, type ReconciliationMethods } from "./payments-reconciliation";
import { PaymentsWebhooks } from "./payments-webhooks";
import { PaymentsInvoices, type InvoiceMethods } from "./payments-invoices";
import { PaymentsSavedMethods, type SavedMethodsMethods } from "./payments-saved-methods";
import { paymentProviders } from "./payment-provider-registry";
import type { PaymentProvider, ProviderPayment } from "./payment-provider";
import type { ListParams, NewPayment, OrderView, PaymentRow, PaymentsContext, PaymentsLocals, PaymentsMethods, PaymentsSettings, PublicPayment } from "./payments.types";
import { PaymentModel, PAYMENT_METHODS, PAYMENT_STATUSES, type PaymentMethod, type PaymentStatus } from "../../models/commerce/payments/payment.model";
import { PaymentCustomerModel, SavedPaymentMethodModel } from "../../models/commerce/payments/saved-payment-method.model";
import { requireUser, type CallerMeta } from "../../lib/caller";
import { ConflictError, EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { PAYMENT_CHANNELS, PAYMENT_EVENTS, PublicPaymentSchema, type Payable } from "./contracts";
import { created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";

export { PAYMENT_EVENTS };
export type { PaymentRow, PaymentsContext, PaymentsLocals, PaymentsMethods, PaymentsSettings } from "./payments.types";
export type { PublicPayment } from "./contracts";

const SCHEMA = "payments";
/** Payments belong to people: API keys and anonymous platform work have none of their own. */
const NO_PAYMENTS = "Only signed-in users have payments";
/** No 0/O, 1/I/L: a reference is read aloud and typed into banking apps. */
const REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

function iso(value: Date | string | null | undefined): string | null {
	return value ? new Date(value).toISOString() : null;
}

function randomChars(alphabet: string, length: number): string {
	let out = "";
	for (let index = 0; index < length; index += 1) out += alphabet[crypto.randomInt(alphabet.length)];
	return out;
}

/** The unique index a failed INSERT ran into, if that is what failed it. */
function violatedConstraint(err: unknown): string | undefined {
	const error = err as Error & { parent?: { constraint?: string }; original?: { constraint?: string } };
	if (error.name !== "SequelizeUniqueConstraintError") return undefined;
	return error.parent?.constraint ?? error.original?.constraint ?? "";
}

function pendingConflict(payable: Payable, existing?: PaymentRow): ConflictError {
	const name = payable.type === "order" ? "Order" : "Invoice";
	return new ConflictError(`${name} ${payable.id} already has a pending payment`, "PAYMENT_PENDING", { [`${payable.type}Id`]: payable.id, paymentId: existing?.id });
}

const PaymentsService: DbServiceSchema<
	PaymentsSettings,
	PaymentsMethods & OutboxMethods & ReconciliationMethods & InvoiceMethods & SavedMethodsMethods,
	PaymentsLocals,
	typeof PaymentModel,
	typeof PaymentCustomerModel | typeof SavedPaymentMethodModel
> = {
	name: "payments",
	mixins: [
		DbMixin({
			schema: SCHEMA,
			migrations: path.join(__dirname, "../../models/commerce/payments/migrations"),
			model: PaymentModel,
			extraModels: [outboxModel(), PaymentCustomerModel, SavedPaymentMethodModel],
			// A payment is its payer's: others get 404 (lists: their own), platform callers see all (an invoice's, with
			// no payer, only they).
			owner: { owner: "user", userRequired: NO_PAYMENTS },
			// A saved card is its tenant's.
			owners: { savedMethod: "tenant" },
			entityName: "Payment",
		}),
		OutboxMixin({ name: "Payments outbox" }),
		IdempotencyMixin(),
		AggregateMixin<PaymentStatus>({
			model: "payment",
			entityName: "Payment",
			// Every message names what the payment pays; `orderId` stays for orders' consumers (null otherwise).
			outboxExtra: (row) => ({ orderId: row.orderId ?? null, payable: { type: row.payableType, id: row.payableId } }),
		}),
		PaymentsReconciliation,
		PaymentsWebhooks,
		PaymentsInvoices,
		PaymentsSavedMethods,
	],

	settings: {
		bankAccount: { bankName: "Lattice Example Bank", accountName: "Lattice Marketplace", iban: "XX00 LATT 0000 0000 0000 00", bic: "LATTXXXXXXX" },
		virtualAccountPrefix: "8808",
		walletDeepLinkBase: "https://pay.lattice.example/wallet",
		bankCallbackSecret: undefined,
	},

	actions: {
		createPayment: {
			rest: "POST /",
			responses: { 201: { description: "The pending payment (a card payment's instructions carry Stripe's clientSecret)", body: PublicPaymentSchema, headers: { Location: "The payment's URL" } } },
			errors: { 404: ["ENTITY_NOT_FOUND"], 409: ["ORDER_NOT_PAYABLE", "PAYMENT_PENDING", "IDEMPOTENCY_REQUEST_IN_PROGRESS"], 422: ["METHOD_NOT_AVAILABLE", "PAYMENT_PROVIDER_REJECTED", "IDEMPOTENCY_KEY_REUSED"], 503: ["PAYMENT_PROVIDER_UNAVAILABLE"] },
			idempotent: true,
			summary: "Pay one of your pending orders (send an Idempotency-Key to retry safely)",
			description:
				"The amount and currency are the order's. bank_transfer, virtual_account and e_wallet answer instructions and a reference; credit_card creates a Stripe PaymentIntent and answers its client secret in `instructions.clientSecret` (only in this answer), or 422 METHOD_NOT_AVAILABLE when Stripe is not configured.",
			params: {
				orderId: { type: "uuid" },
				method: { type: "enum", values: PAYMENT_METHODS },
				// Anything else (an `amount`, say) is dropped: the amount is always the order's.
				$$strict: "remove",
			},
			async handler(ctx: PaymentsContext<{ orderId: string; method: PaymentMethod }>) {
				const userId = requireUser(ctx.meta, NO_PAYMENTS);
				const { method } = ctx.params;
				const provider = this.providers.get(method);
				// As the caller: someone else's order answers 404 exactly like a missing one.
				const order: OrderView = await ctx.call("orders.getOrder", { id: ctx.params.orderId });
				if (order.status !== "pending" || order.paymentStatus !== "unpaid") {
					throw new ConflictError(`Order ${order.id} can't be paid: it is ${order.status} (${order.paymentStatus})`, "ORDER_NOT_PAYABLE", {
						orderId: order.id,
						status: order.status,
						paymentStatus: order.paymentStatus,
					});
				}
				const payable: Payable = { type: "order", id: order.id };
				const existing = plainRow(await this.models.payment.findOne({ where: { payableType: "order", payableId: order.id, status: "pending" } }));
				if (existing) throw pendingConflict(payable, existing);
				const { row } = await this.insertPayment({ payable, userId, tenantId: order.tenantId ?? null, amount: order.totalAmount, currency: order.currency, method });
				// The order may have been cancelled since it was read: its cancel fails pending payments, and one
				// committed after that pass would be missed. Read again now that this one is visible: either the
				// cancel's pass sees this payment or this read sees the cancel.
				await this.refuseIfOrderMovedOn(row);
				// A processor (cards): fails the payment (the order can be paid again) and throws its 422/503 when it refuses.
				const answer = provider.initiatePayment ? await this.initiateAtProvider(row, provider) : this.toPublic(row);
				await this.entityChanged("created", { id: row.id }, ctx);
				created(ctx, "payments", row.id);
				return answer;
			},
		},

		listPayments: {
			rest: "GET /",
			responses: { 200: { description: "A page of payments, newest first", body: PageOf(PublicPaymentSchema) } },
			summary: "Your payments, newest first (super admins: everyone's, invoices' included)",
			params: {
				...PAGE_PARAMS,
				status: { type: "enum", values: PAYMENT_STATUSES, optional: true },
				orderId: { type: "uuid", optional: true },
				invoiceId: { type: "uuid", optional: true },
				$$strict: "remove",
			},
			async handler(ctx: PaymentsContext<ListParams>) {
				const { page, pageSize, status, orderId, invoiceId } = ctx.params;
				const where = {
					...(status ? { status } : {}),
					...(orderId ? { orderId: orderId.toLowerCase() } : {}),
					...(invoiceId ? { payableType: "invoice" as const, payableId: invoiceId.toLowerCase() } : {}),
				};
				return this.scoped(ctx).page({ page, pageSize, where }, (row) => this.toPublic(row));
			},
		},

		getPayment: {
			rest: "GET /:id",
			responses: { 200: { description: "The payment", body: PublicPaymentSchema } },
			summary: "One of your payments (super admins: any)",
			params: { id: "string|max:64" },
			scope: { entity: "payment", name: "Payment" },
			async handler(ctx: PaymentsContext<{ id: string }>) {
				return this.toPublic(entityOf<PaymentRow>(ctx));
			},
		},

		verifyPayment: {
			rest: "POST /:id/verify",
			responses: { 200: { description: "The settled payment (also when it already was)", body: PublicPaymentSchema } },
			errors: { 409: ["INVALID_TRANSITION", "ORDER_NOT_PAYABLE"], 422: ["METHOD_NOT_AVAILABLE"] },
			// Anonymous bank callbacks reach the permission checks; `$isBankCallback` decides for them.
			auth: "optional",
			permissions: ["super_admin", "$isBankCallback"],
			summary: "Settle a pending non-card payment (super admins, or the bank's callback with its secret)",
			description:
				"outcome `succeeded` (default) settles the payment and, through the durable saga, pays the order (or the invoice); `failed` closes a pending one so the owner can pay again. Money that arrives for a failed payment (its order was cancelled) settles too, and is refunded automatically when the order can't take it (`statusReason`).",
			params: {
				id: "string|max:64",
				outcome: { type: "enum", values: ["succeeded", "failed"], optional: true, default: "succeeded" },
				callbackSecret: { type: "string", max: 500, optional: true },
				$$strict: "remove",
			},
			async handler(ctx: PaymentsContext<{ id: string; outcome: "succeeded" | "failed" }>) {
				const before = await this.loadRow(ctx.params.id);
				if (!before) throw new EntityNotFoundError("Payment", ctx.params.id);
				// A processor's payments are settled by its webhook only (and an unconfigured one by nobody).
				if (this.providers.find(before.method)?.settledBy !== "verify") throw new UnprocessableEntityError("Card payments are not verified here", "METHOD_NOT_AVAILABLE");
				const succeeded = ctx.params.outcome === "succeeded";
				const to: PaymentStatus = succeeded ? "succeeded" : "failed";
				if (before.status === to) return this.toPublic(before);
				// Money that arrives for a failed payment (failed by its order's cancel, or too early by the bank) was
				// received all the same: it settles, and the saga refunds it if the order can't take it.
				const settle = { status: "succeeded" as const, settledAt: new Date(), statusReason: null };
				// A concurrent verify of the same outcome is a no-op.
				const noOp = (current: PaymentRow) => current.status === to;
				const { row, changed } = succeeded
					? await this.transition(before, ["pending", "failed"], settle, { channel: PAYMENT_CHANNELS.settled, noOp })
					: await this.transition(before, "pending", { status: "failed", failedAt: new Date() }, { channel: PAYMENT_CHANNELS.failed, noOp });
				return changed ? this.announce(ctx, succeeded ? PAYMENT_EVENTS.succeeded : PAYMENT_EVENTS.failed, row) : this.toPublic(row);
			},
		},

		refundPayment: {
			rest: "POST /:id/refund",
			responses: { 200: { description: "The refunded payment", body: PublicPaymentSchema } },
			errors: { 409: ["INVALID_TRANSITION"], 422: ["METHOD_NOT_AVAILABLE", "PAYMENT_PROVIDER_REJECTED"], 503: ["PAYMENT_PROVIDER_UNAVAILABLE"] },
			permissions: ["super_admin"],
			summary: "Refund a settled payment (cards: at Stripe first); the order becomes refunded through the saga",
			params: { id: "string|max:64" },
			async handler(ctx: PaymentsContext<{ id: string }>) {
				const before = await this.loadRow(ctx.params.id);
				if (!before) throw new EntityNotFoundError("Payment", ctx.params.id);
				return this.refundSettled(ctx, before, null);
			},
		},
	},

	methods: {
		/** The bank's callback: it presents the configured shared secret. No secret configured: never. */
		isBankCallback(ctx: Context<{ callbackSecret?: string }, CallerMeta>): boolean {
			const expected = this.settings.bankCallbackSecret;
			const given = ctx.params?.callbackSecret;
			if (!expected || typeof given !== "string") return false;
			const a = crypto.createHash("sha256").update(expected).digest();
			const b = crypto.createHash("sha256").update(given).digest();
			return crypto.timingSafeEqual(a, b);
		},

		present(row: PaymentRow): PublicPayment {
			return this.toPublic(row);
		},

		toPublic(row: PaymentRow): PublicPayment {
			return {
				id: row.id,
				payable: { type: row.payableType, id: row.payableId },
				orderId: row.orderId ?? null,
				userId: row.userId ?? null,
				tenantId: row.tenantId ?? null,
				amount: Number(row.amount),
				currency: row.currency,
				method: row.method,
				status: row.status,
				paymentReference: row.paymentReference,
				instructions: row.instructions,
				createdAt: iso(row.createdAt)!,
				updatedAt: iso(row.updatedAt)!,
				settledAt: iso(row.settledAt),
				failedAt: iso(row.failedAt),
				refundedAt: iso(row.refundedAt),
				providerReference: row.providerReference ?? null,
				statusReason: row.statusReason ?? null,
				failureCode: row.failureCode ?? null,
				declineCode: row.declineCode ?? null,
				failureMessage: row.failureMessage ?? null,
			};
		},

		/** `LAT-XXXX-XXXX` from a crypto-random, unambiguous alphabet. */
		newReference(): string {
			return `LAT-${randomChars(REFERENCE_ALPHABET, 4)}-${randomChars(REFERENCE_ALPHABET, 4)}`;
		},

		providerPaymentOf(row: PaymentRow): ProviderPayment {
			// An invoice's description travels in its instructions (set when it was written).
			const description = row.instructions?.description;
			return {
				id: row.id,
				method: row.method,
				reference: row.paymentReference,
				amount: Number(row.amount),
				currency: row.currency,
				payable: { type: row.payableType, id: row.payableId },
				tenantId: row.tenantId ?? null,
				description: typeof description === "string" ? description : undefined,
			};
		},

		async insertPayment(values: NewPayment): Promise<{ row: PaymentRow; replayed: boolean }> {
			const provider = this.providers.get(values.method);
			const id = crypto.randomUUID();
			for (let attempt = 0; ; attempt += 1) {
				const reference = this.newReference();
				const described: ProviderPayment = { id, method: values.method, reference, amount: values.amount, currency: values.currency, payable: values.payable, tenantId: values.tenantId, description: values.description };
				try {
					const row = (
						await this.models.payment.create({
							id,
							payableType: values.payable.type,
							payableId: values.payable.id,
							orderId: values.payable.type === "order" ? values.payable.id : null,
							userId: values.userId,
							tenantId: values.tenantId,
							amount: values.amount,
							currency: values.currency,
							method: values.method,
							status: "pending",
							paymentReference: reference,
							instructions: provider.instructions(described),
							idempotencyKey: values.idempotencyKey ?? null,
						})
					).get({ plain: true });
					return { row, replayed: false };
				} catch (err) {
					const constraint = violatedConstraint(err);
					if (constraint === undefined) throw err;
					const { type, id: payableId } = values.payable;
					if (values.idempotencyKey) {
						// The same request, concurrently (refused by the key's index or the one-pending one): its payment is the answer.
						const twin = plainRow(await this.models.payment.findOne({ where: { payableType: type, payableId, idempotencyKey: values.idempotencyKey } }));
						if (twin) return { row: twin, replayed: true };
					}
					if (constraint === "payments_one_pending_per_payable") {
						throw pendingConflict(values.payable, plainRow(await this.models.payment.findOne({ where: { payableType: type, payableId, status: "pending" } })));
					}
					// A reference collision (31^8 of them): draw again.
					if (attempt >= 3) throw err;
				}
			}
		},

		async initiateAtProvider(row: PaymentRow, provider: PaymentProvider): Promise<PublicPayment> {
			let initiated;
			try {
				initiated = await provider.initiatePayment!(this.providerPaymentOf(row));
			} catch (err) {
				await this.guardedUpdate(row.id, "pending", { status: "failed", failedAt: new Date() });
				throw err;
			}
			const instructions = { ...row.instructions, ...initiated.instructions };
			const [, rows] = await this.models.payment.update({ providerReference: initiated.providerReference, instructions }, { where: { id: row.id }, returning: true });
			const updated = plainRow(rows[0]) ?? { ...row, providerReference: initiated.providerReference, instructions };
			const payment = this.toPublic(updated);
			// E.g. the client secret that confirms the payment in the browser: answered to the payer once, never stored.
			return { ...payment, instructions: { ...payment.instructions, ...initiated.secretInstructions } };
		},
	},

	created() {
		const payments = platformConfigOf(this.broker).payments;
		this.settings.bankCallbackSecret = payments.bankCallbackSecret;
		this.providers = paymentProviders(payments, this.settings);
	},

	started() {
		this.startOutboxRelay();
	},

	async stopped() {
		await this.stopOutboxRelay();
	},
};

export default PaymentsService;
