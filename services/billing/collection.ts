/**
 * Collecting invoices (a mixin of billing.service.ts). Every payment of an invoice goes through
 * `collectInvoice`: it asks payments for the money (payments.payInvoice, through the payments adapter, with
 * the idempotency key `<invoiceId>:<attempt>`, so a repeated run never charges twice) and applies what
 * payments answers:
 *
 * - succeeded → the invoice is paid; a past_due or unpaid subscription with nothing else owed is active
 *   again at once (limits restored: caches cleaned, BILLING_EVENTS.limitsChanged); invoice.paid.
 * - failed (or refused: no card, the provider said no) → one more failed attempt, the subscription past_due,
 *   invoice.payment_failed, and the dunning schedule (dunning.ts) sets the next retry, or after the last
 *   one the subscription goes unpaid (the free plan's limits apply). The invoice stays open: paying it later
 *   still restores the subscription.
 * - pending (a manual method: bank transfer, virtual account, e-wallet; a card the processor is still on), or
 *   409 PAYMENT_PENDING (an earlier attempt's payment still is) → nothing yet; the outcome reaches billing on the
 *   durable channels commerce.payment.settled / failed.
 * - payments unreachable (or a 5xx) → nothing is recorded and the error propagates: a job runs again after
 *   its back-off, a request answers 503.
 *
 * The durable channels commerce.payment.settled and commerce.payment.failed are consumed too (group
 * "billing", only messages whose payable is an invoice), so an outcome that arrives later, or from a
 * manual verification, applies as well. Outcomes are idempotent by payment id (`payment_outcomes`): the
 * synchronous answer and the message about the same payment count once.
 */
import { Op, QueryTypes, type Transaction } from "sequelize";
import { isFinalRefusal } from "../../lib/errors";
import { plainRow } from "../../mixins/db.mixin";
import { type BillingHost, billingMixin, type CollectionSource, type InvoiceRow, type JobRow, type PaymentFailure, type SubscriptionRow } from "./billing.types";
import { PAYABLE_INVOICE_STATUSES } from "./invoices";

async function completeAlone(host: BillingHost, job: JobRow | undefined): Promise<void> {
	if (job) await host.adapter.db.transaction((transaction) => host.completeJob(transaction, job));
}

/**
 * The start of every transaction that applies a payment's outcome: the invoice's row lock first, then the
 * outcome's row (once per payment id), then — only when this path is the first to apply it — the job that
 * collected it. Bug fix (found by test/integration/billing-e2e.test.ts): the synchronous answer (a job's run:
 * job row, then outcome row) and commerce.payment.failed|settled about the same payment (outcome row, then the
 * invoice, then cancelJobs on that job row) took the two rows in opposite orders and deadlocked (409
 * CONCURRENT_UPDATE from a test-clock advance); and when the message won outright, it had canceled the running
 * job, so the run's completeJob threw. Now both queue on the invoice's lock, and a run whose outcome was
 * applied by the message only releases its job (done if it still holds it; canceled is fine).
 * Answers the locked invoice and whether this path applies the outcome.
 */
async function beginOutcome(host: BillingHost, transaction: Transaction, invoiceId: string, paymentId: string | null, outcome: "succeeded" | "failed", job: JobRow | undefined): Promise<{ current: InvoiceRow | undefined; first: boolean }> {
	const current = plainRow<InvoiceRow>(await host.models.invoice.findByPk(invoiceId, { transaction, lock: transaction.LOCK.UPDATE }));
	const first = paymentId === null || (await host.recordOutcome(transaction, paymentId, invoiceId, outcome));
	if (job) {
		if (first) await host.completeJob(transaction, job);
		else await host.completeJobIfLeased(transaction, job);
	}
	return { current, first };
}

export const Collection = billingMixin({
	methods: {
		async collectInvoice(this: BillingHost, invoice: InvoiceRow, source: CollectionSource, job?: JobRow): Promise<InvoiceRow> {
			const due = Number(invoice.total) - Number(invoice.amountPaid);
			if (!PAYABLE_INVOICE_STATUSES.includes(invoice.status) || due <= 0) {
				await completeAlone(this, job);
				return invoice;
			}
			const subscription = invoice.subscriptionId ? await this.loadRow(invoice.subscriptionId) : undefined;
			const attempt = invoice.paymentAttempts + 1;
			let payment;
			try {
				payment = await this.paymentsAdapter.payInvoice({
					tenantId: invoice.tenantId,
					invoiceId: invoice.id,
					amount: due,
					currency: invoice.currency,
					method: subscription?.paymentMethod ?? "bank_transfer",
					description: `Invoice ${invoice.number}`,
					idempotencyKey: `${invoice.id}:${attempt}`,
				});
			} catch (err) {
				// Payments' own refusal is an answer (no card, declined at once); anything else is tried again later.
				if (!isFinalRefusal(err)) throw err;
				const error = err as Error & { type?: string };
				// An earlier attempt's payment is still under way (a transfer, a card the processor is still on): its outcome will come.
				if (error.type === "PAYMENT_PENDING") {
					await completeAlone(this, job);
					return invoice;
				}
				this.logger.info(`Invoice ${invoice.id} (${source}): payments refused attempt ${attempt}: ${error.type ?? error.message}`);
				return (await this.recordPaymentFailure(invoice.id, { paymentId: null, code: error.type ?? "PAYMENT_REFUSED", message: error.message }, job)) ?? invoice;
			}
			if (payment.status === "succeeded") return (await this.markInvoicePaid(invoice.id, payment.id, job)) ?? invoice;
			if (payment.status === "failed") {
				const failure = { paymentId: payment.id, code: payment.failureCode ?? "payment_failed", message: payment.failureMessage ?? "The payment failed" };
				return (await this.recordPaymentFailure(invoice.id, failure, job)) ?? invoice;
			}
			// Pending: a manual method's instructions are out; commerce.payment.settled pays the invoice.
			await completeAlone(this, job);
			return invoice;
		},

		async markInvoicePaid(this: BillingHost, invoiceId: string, paymentId: string, job?: JobRow): Promise<InvoiceRow | undefined> {
			const before = await this.loadInvoice(invoiceId);
			if (!before) {
				this.logger.warn(`Payment ${paymentId} is for invoice ${invoiceId}, which billing doesn't have; ignored`);
				await completeAlone(this, job);
				return undefined;
			}
			const owners = await this.membersAdapter.owners(before.tenantId);
			const at = await this.billingNow(before.tenantId);
			const { invoice, restored } = await this.adapter.db.transaction(async (transaction) => {
				const { current: locked, first } = await beginOutcome(this, transaction, before.id, paymentId, "succeeded", job);
				if (!first) return { invoice: locked ?? before, restored: undefined };
				const paid = await this.moveInvoice(transaction, before.id, PAYABLE_INVOICE_STATUSES, { status: "paid", amountPaid: before.total, paidAt: at, paymentId, nextPaymentAttemptAt: null });
				if (!paid) {
					const current = (await this.loadInvoice(before.id, transaction)) ?? before;
					// Money for an invoice that no longer takes it (voided, paid otherwise): a refund is a human's call for now.
					this.logger.warn(`Payment ${paymentId} settled for invoice ${current.id}, which is ${current.status}${current.paymentId ? ` (paid by ${current.paymentId})` : ""}; not applied`);
					return { invoice: current, restored: undefined };
				}
				await this.cancelJobs(transaction, paid.id, ["payment_retry"]);
				await this.announceBilling(transaction, "invoice.paid", paid.tenantId, owners, at, { invoice: await this.presentInvoice(paid, transaction) });
				return { invoice: paid, restored: await this.restoreSubscription(transaction, paid, owners, at) };
			});
			if (restored) await this.subscriptionChanged(invoice.tenantId);
			return invoice;
		},

		async recordPaymentFailure(this: BillingHost, invoiceId: string, failure: PaymentFailure, job?: JobRow): Promise<InvoiceRow | undefined> {
			const before = await this.loadInvoice(invoiceId);
			if (!before) {
				this.logger.warn(`A failed payment${failure.paymentId ? ` (${failure.paymentId})` : ""} is for invoice ${invoiceId}, which billing doesn't have; ignored`);
				await completeAlone(this, job);
				return undefined;
			}
			const owners = await this.membersAdapter.owners(before.tenantId);
			const at = await this.billingNow(before.tenantId);
			const subscription = before.subscriptionId ? await this.loadRow(before.subscriptionId) : undefined;
			const { invoice, changed } = await this.adapter.db.transaction(async (transaction) => {
				// Failures of one invoice count one at a time (its row lock, taken first).
				const { current, first } = await beginOutcome(this, transaction, before.id, failure.paymentId, "failed", job);
				if (!first) return { invoice: current ?? before, changed: undefined };
				if (!current || !PAYABLE_INVOICE_STATUSES.includes(current.status)) return { invoice: current ?? before, changed: undefined };
				const attempts = current.paymentAttempts + 1;
				const next = this.nextRetryAt(current, attempts, at);
				const [, rows] = await this.models.invoice.update({ paymentAttempts: attempts, nextPaymentAttemptAt: next }, { where: { id: current.id }, returning: true, transaction });
				const updated = rows[0].get({ plain: true });
				await this.cancelJobs(transaction, current.id, ["payment_retry"]);
				if (next) await this.scheduleJob(transaction, "payment_retry", current.tenantId, current.id, next);
				await this.announceBilling(transaction, "invoice.payment_failed", current.tenantId, owners, at, { invoice: await this.presentInvoice(updated, transaction) });
				const moved = subscription ? await this.subscriptionAfterFailure(transaction, subscription, next === null, owners, at) : undefined;
				return { invoice: updated, changed: moved };
			});
			this.logger.info(`Invoice ${invoice.id}: payment attempt ${invoice.paymentAttempts} failed (${failure.code}); next attempt ${invoice.nextPaymentAttemptAt ? new Date(invoice.nextPaymentAttemptAt).toISOString() : "none"}`);
			if (changed) await this.subscriptionChanged(invoice.tenantId);
			return invoice;
		},

		/** active|trialing → past_due on a failure; past_due → unpaid when no retry is left. Answers the row when it moved. */
		async subscriptionAfterFailure(this: BillingHost, transaction: Transaction, subscription: SubscriptionRow, exhausted: boolean, owners: string[], at: Date): Promise<SubscriptionRow | undefined> {
			const current = (await this.loadRow(subscription.id)) ?? subscription;
			let moved: SubscriptionRow | undefined;
			if (current.status === "active" || current.status === "trialing") {
				moved = await this.guardedUpdate(current.id, [current.status], { status: "past_due" }, { transaction });
			}
			if (exhausted && (moved ?? current).status === "past_due") {
				moved = (await this.guardedUpdate(current.id, ["past_due"], { status: "unpaid" }, { transaction })) ?? moved;
			}
			if (moved) await this.announceBilling(transaction, "subscription.updated", moved.tenantId, owners, at, { subscription: await this.presentSubscription(moved) });
			return moved;
		},

		/**
		 * After an invoice stopped being owed (paid, voided): a past_due or unpaid subscription that owes no other
		 * invoice it failed to pay is active again. Answers the row when it moved.
		 */
		async restoreSubscription(this: BillingHost, transaction: Transaction, invoice: InvoiceRow, owners: string[], at: Date): Promise<SubscriptionRow | undefined> {
			if (!invoice.subscriptionId) return undefined;
			const subscription = await this.loadRow(invoice.subscriptionId);
			if (!subscription || (subscription.status !== "past_due" && subscription.status !== "unpaid")) return undefined;
			const stillOwed = await this.models.invoice.count({
				where: { subscriptionId: subscription.id, id: { [Op.ne]: invoice.id }, status: [...PAYABLE_INVOICE_STATUSES], paymentAttempts: { [Op.gt]: 0 } },
				transaction,
			});
			if (stillOwed > 0) return undefined;
			const row = await this.guardedUpdate(subscription.id, ["past_due", "unpaid"], { status: "active" }, { transaction });
			if (row) await this.announceBilling(transaction, "subscription.updated", row.tenantId, owners, at, { subscription: await this.presentSubscription(row) });
			return row;
		},

		/** True the first time this payment's outcome is applied; false for a replay (the other path already did). */
		async recordOutcome(this: BillingHost, transaction: Transaction, paymentId: string, invoiceId: string, outcome: "succeeded" | "failed"): Promise<boolean> {
			const rows = await this.adapter.db.query(
				`INSERT INTO "billing".payment_outcomes (payment_id, invoice_id, outcome) VALUES (:paymentId, :invoiceId, :outcome) ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id`,
				{ replacements: { paymentId, invoiceId, outcome }, type: QueryTypes.SELECT, transaction },
			);
			return rows.length === 1;
		},
	},
});
