/**
 * Paying billing's invoices (a mixin of payments.service.ts): the same payments, states, providers, outbox
 * and channels as orders', with the invoice as the payable (services/commerce/README.md, "Paying an invoice
 * from another domain"). Billing calls, as platform work:
 *
 * - `payments.payInvoice { tenantId, invoiceId, amount, currency, method, description?, idempotencyKey }`:
 *   writes the invoice's payment (the tenant pays: no user). A manual method answers it pending, with its
 *   instructions, like an order's. `credit_card` charges the tenant's default saved card off-session at once
 *   and answers the outcome: `succeeded`, or `failed` with the processor's decline code in `failureCode`
 *   (`card_declined`, `insufficient_funds`, … and `payment_method_missing` when the tenant has no card). Either
 *   way the change goes out on `commerce.payment.settled|failed` (the webhook that follows changes nothing).
 *   The key names the attempt: a replay answers the same payment and never charges twice (a replay of a
 *   charge a crash or an unreachable processor left pending asks the processor again with the same
 *   idempotency key, which answers the first charge's outcome). A new attempt is a new key.
 * - `payments.voidForInvoice { invoiceId, reason: "invoice_voided" }`: fails the invoice's pending payments.
 */
import type { Context, ServiceSchema } from "moleculer";
import { plainRow } from "../../mixins/db.mixin";
import type { OutboxMethods } from "../../mixins/outbox.mixin";
import { currencyRule } from "../../lib/currency";
import { UnprocessableEntityError } from "../../lib/errors";
import { PAYMENT_CHANNELS, PAYMENT_EVENTS, PAYMENT_METHODS, type Payable, type PayInvoiceParams, type PublicPayment } from "./contracts";
import { failureColumns, savesMethods, type ChargeOutcome, type PaymentProvider } from "./payment-provider";
import type { PaymentRow, PaymentsContext, PaymentsDb, PaymentsLocals, PaymentsMethods } from "./payments.types";
import type { ReconciliationMethods } from "./payments-reconciliation";
import type { SavedMethodsMethods } from "./payments-saved-methods";
import type { PaymentStatusReason } from "../../models/commerce/payments/payment.model";

export interface InvoiceMethods {
	/** Charges the tenant's default card for a pending invoice payment and records the outcome. */
	chargeDefaultCard(ctx: Context, row: PaymentRow, provider: PaymentProvider): Promise<PublicPayment>;
	/** Records what a charge came to: settled or failed through the outbox, or the processor's reference while it processes. */
	recordCharge(ctx: Context, row: PaymentRow, outcome: ChargeOutcome, instructions: Record<string, unknown>): Promise<PublicPayment>;
}

type Host = PaymentsDb & PaymentsMethods & OutboxMethods & ReconciliationMethods & SavedMethodsMethods & InvoiceMethods & PaymentsLocals;

/** 422 IDEMPOTENCY_KEY_REUSED when a replayed key comes with another request than the one it first named. */
function assertSameRequest(row: PaymentRow, params: PayInvoiceParams & { tenantId: string }): void {
	const same = row.tenantId === params.tenantId && Number(row.amount) === params.amount && row.currency === params.currency && row.method === params.method;
	if (!same) {
		throw new UnprocessableEntityError(`Idempotency key ${params.idempotencyKey} was used for another payment of invoice ${row.payableId}`, "IDEMPOTENCY_KEY_REUSED", {
			paymentId: row.id,
		});
	}
}

export const PaymentsInvoices: Partial<ServiceSchema> = {
	actions: {
		/** Internal (billing): pays an invoice; see the file's comment. */
		payInvoice: {
			visibility: "public",
			permissions: ["super_admin"],
			params: {
				tenantId: "uuid",
				invoiceId: "uuid",
				amount: { type: "number", integer: true, positive: true, max: Number.MAX_SAFE_INTEGER },
				currency: currencyRule,
				method: { type: "enum", values: PAYMENT_METHODS },
				description: { type: "string", max: 200, optional: true },
				idempotencyKey: { type: "string", min: 1, max: 255 },
				$$strict: "remove",
			},
			async handler(ctx: PaymentsContext<PayInvoiceParams>): Promise<PublicPayment> {
				const params = { ...ctx.params, tenantId: ctx.params.tenantId.toLowerCase(), invoiceId: ctx.params.invoiceId.toLowerCase() };
				const provider = this.providers.get(params.method);
				const payable: Payable = { type: "invoice", id: params.invoiceId };
				let row: PaymentRow | undefined = plainRow(
					await this.models.payment.findOne({ where: { payableType: "invoice", payableId: payable.id, idempotencyKey: params.idempotencyKey } }),
				);
				if (!row) {
					const inserted: { row: PaymentRow; replayed: boolean } = await this.insertPayment({
						payable,
						userId: null,
						tenantId: params.tenantId,
						amount: params.amount,
						currency: params.currency,
						method: params.method,
						idempotencyKey: params.idempotencyKey,
						description: params.description,
					});
					row = inserted.row;
					if (!inserted.replayed) await this.entityChanged("created", { id: row.id }, ctx);
				}
				assertSameRequest(row, params);
				// Manual methods wait for the transfer; a charge already decided is answered as it is.
				if (row.status !== "pending" || provider.settledBy === "verify") return this.toPublic(row);
				return this.chargeDefaultCard(ctx, row, provider);
			},
		},

		/** Internal (billing): the invoice was voided; its pending payments fail (a processor's is cancelled there). */
		voidForInvoice: {
			visibility: "public",
			permissions: ["super_admin"],
			params: { invoiceId: "uuid", reason: { type: "enum", values: ["invoice_voided"] }, $$strict: "remove" },
			async handler(ctx: PaymentsContext<{ invoiceId: string; reason: PaymentStatusReason }>) {
				return this.voidPendingPayments(ctx, { type: "invoice", id: ctx.params.invoiceId.toLowerCase() }, ctx.params.reason);
			},
		},
	},

	methods: {
		async chargeDefaultCard(this: Host, ctx: Context, row: PaymentRow, provider: PaymentProvider): Promise<PublicPayment> {
			if (!savesMethods(provider)) throw new UnprocessableEntityError(`${row.method} can't be charged without the payer`, "METHOD_NOT_AVAILABLE", { method: row.method });
			// A replay charges the card the first attempt chose (the processor's idempotency key covers that card),
			// even if the tenant's default changed since.
			const chosen = (row.instructions.paymentMethod as { id?: string } | undefined)?.id;
			const card = (chosen ? plainRow(await this.models.savedMethod.findByPk(chosen)) : undefined) ?? (await this.defaultSavedMethod(row.tenantId!));
			if (!card) {
				return this.recordCharge(ctx, row, { status: "failed", failure: { code: "payment_method_missing", message: "The organization has no saved card" } }, row.instructions);
			}
			// Which card pays: for receipts and invoices ("Visa •••• 4242"), never the processor's id of it.
			const instructions: Record<string, unknown> = { ...row.instructions, provider: provider.name, paymentMethod: { id: card.id, brand: card.brand, last4: card.last4 } };
			if (chosen !== card.id) await this.models.payment.update({ instructions }, { where: { id: row.id, status: "pending" } });
			// Unreachable (503): thrown, the payment stays pending, and a replay with the same key asks again.
			const outcome = await provider.chargeSavedMethod(this.providerPaymentOf(row), { customerId: card.customerId, methodId: card.providerMethodId });
			if (outcome.providerReference) instructions.paymentIntentId = outcome.providerReference;
			return this.recordCharge(ctx, row, outcome, instructions);
		},

		async recordCharge(this: Host, ctx: Context, row: PaymentRow, outcome: ChargeOutcome, instructions: Record<string, unknown>): Promise<PublicPayment> {
			const reference = outcome.providerReference ? { providerReference: outcome.providerReference } : {};
			let changed: PaymentRow | undefined;
			if (outcome.status === "succeeded") {
				changed = await this.guardedUpdate(row.id, "pending", { status: "succeeded", settledAt: new Date(), statusReason: null, instructions, ...reference }, { channel: PAYMENT_CHANNELS.settled });
				if (changed) return this.announce(ctx, PAYMENT_EVENTS.succeeded, changed);
			} else if (outcome.status === "failed") {
				changed = await this.guardedUpdate(row.id, "pending", { status: "failed", failedAt: new Date(), instructions, ...failureColumns(outcome.failure), ...reference }, { channel: PAYMENT_CHANNELS.failed });
				if (changed) return this.announce(ctx, PAYMENT_EVENTS.failed, changed);
			} else {
				// Processing at the processor: its webhook settles or fails it (found by this reference).
				await this.models.payment.update({ instructions, ...reference }, { where: { id: row.id, status: "pending", providerReference: null } });
			}
			// The webhook came first (or a concurrent replay did it): the payment is as they left it.
			return this.toPublic((await this.loadRow(row.id)) ?? row);
		},
	},
};
