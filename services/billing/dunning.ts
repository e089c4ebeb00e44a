/**
 * Dunning (a mixin of billing.service.ts): when a failed invoice payment is tried again, and what an
 * attempt due as a job does.
 *
 * Retries fall BILLING_DUNNING_DAYS days (default 1, 3, 5, 7) after the invoice's first failed payment, as
 * `payment_retry` jobs in billing time. Every failed attempt counts, a manual one (POST /invoices/:id/pay)
 * included: after the n-th failure the next attempt is the n-th retry day, so a manual failure between two
 * retries moves the next one to the following day of the schedule rather than adding one. After the last
 * retry fails there is none (`nextRetryAt` → null) and the subscription goes unpaid.
 *
 * The same job kind makes an invoice's first attempt, written due "now" in the transaction that finalizes
 * the invoice, so a node that dies before collecting leaves the attempt to the next one.
 *
 * Hook for the dunning work still to come (emails per failure go through notifications, which consumes
 * billing.invoice.payment_failed; smarter schedules, uncollectible after a grace period): `nextRetryAt`
 * decides the schedule, `runPaymentRetry` what a due attempt does.
 */
import { type BillingHost, billingMixin, type InvoiceRow, type JobRow } from "./billing.types";
import { PAYABLE_INVOICE_STATUSES } from "./invoices";

const DAY_MS = 86_400_000;
/** A retry is never due sooner than this after a failure (a schedule that slipped behind doesn't fire at once, over and over). */
const MIN_RETRY_GAP_MS = 3_600_000;

export const Dunning = billingMixin({
	methods: {
		/**
		 * The next attempt after the `failedAttempts`-th failure at `failedAt`, or null when the schedule is
		 * spent. Later retries keep to the days counted from the first failure: that moment is recovered from
		 * the retry the invoice was waiting for (`nextPaymentAttemptAt`, the (n-1)-th day of the schedule).
		 */
		nextRetryAt(this: BillingHost, invoice: InvoiceRow, failedAttempts: number, failedAt: Date): Date | null {
			const days = this.billingConfig.dunningDays;
			if (failedAttempts > days.length) return null;
			const anchor =
				failedAttempts === 1 || !invoice.nextPaymentAttemptAt ? failedAt.getTime() : new Date(invoice.nextPaymentAttemptAt).getTime() - days[failedAttempts - 2] * DAY_MS;
			return new Date(Math.max(anchor + days[failedAttempts - 1] * DAY_MS, failedAt.getTime() + MIN_RETRY_GAP_MS));
		},

		async runPaymentRetry(this: BillingHost, job: JobRow): Promise<void> {
			const invoice = await this.loadInvoice(job.subjectId);
			if (!invoice || !PAYABLE_INVOICE_STATUSES.includes(invoice.status)) {
				await this.adapter.db.transaction((transaction) => this.completeJob(transaction, job));
				return;
			}
			await this.collectInvoice(invoice, invoice.paymentAttempts === 0 ? "initial" : "retry", job);
		},
	},
});
