/**
 * Invoices (a mixin of billing.service.ts): issuing them and what callers see of them.
 *
 * An invoice is computed first (its charge lines from plans, periods and usage; money.invoiceTotals with the
 * coupon and the tax rate: the plan's, else the tenant's billing account's), then stored and finalized in ONE
 * transaction: the draft and its lines, a number from the tenant's gapless sequence for the issue year
 * (`invoice_sequences`, taken under its row lock: a rollback gives the number back), status open (or paid at
 * once when it totals 0), and its outbox messages. A finalized invoice never changes its lines or totals;
 * only its payment state moves on (INVOICE_TRANSITIONS, every move a guarded UPDATE).
 *
 *   GET /invoices (tenant viewer+; super admins all, filterable), GET /invoices/:id (its tenant's; 404 else),
 *   POST /invoices/:id/pay (owner: try the payment now), POST /invoices/:id/void (super admin).
 */
import { INVOICE_PDF_ROUTE } from "./invoice-pdf";
import { Op, QueryTypes, type Transaction } from "sequelize";
import { INVOICE_TRANSITIONS } from "../../models/billing/billing/billing.models";
import { PAGE_PARAMS, plainRow } from "../../mixins/db.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { normalizeUuid } from "../../lib/caller";
import { ConflictError } from "../../lib/errors";
import { apiPath } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";
import { INVOICE_STATUSES, PublicInvoiceSchema, type InvoiceReason, type InvoiceStatus, type PublicInvoice, type PublicPlan } from "./contracts";
import { completeLines } from "./lines";
import { type BillingContext, type BillingHost, billingMixin, type CouponTerms, type InvoiceDraft, type InvoiceRow, type LineInput, type SubscriptionRow } from "./billing.types";

/** An invoice is its tenant's: another tenant's id answers 404, exactly like a missing one. */
const INVOICE_SCOPE = { entity: "invoice", name: "Invoice" } as const;
export const PAYABLE_INVOICE_STATUSES: readonly InvoiceStatus[] = ["open", "uncollectible"];

function iso(value: Date | string | null | undefined): string | null {
	return value ? new Date(value).toISOString() : null;
}

interface ListParams {
	page: number;
	pageSize: number;
	status?: InvoiceStatus;
	tenantId?: string;
	subscriptionId?: string;
}

export const Invoices = billingMixin({
	actions: {
		listInvoices: {
			rest: { method: "GET", fullPath: apiPath("invoices") },
			permissions: ["tenant:viewer"],
			summary: "The organization's invoices, newest first (super admins: everyone's, filterable by tenantId)",
			responses: { 200: { description: "A page of invoices, newest first", body: PageOf(PublicInvoiceSchema) } },
			params: {
				...PAGE_PARAMS,
				status: { type: "enum", values: INVOICE_STATUSES, optional: true },
				subscriptionId: { type: "uuid", optional: true },
				tenantId: { type: "uuid", optional: true, description: "super admins only; ignored for everyone else" },
				$$strict: "remove",
			},
			async handler(this: BillingHost, ctx: BillingContext<ListParams>) {
				const { page, pageSize, status, tenantId, subscriptionId } = ctx.params;
				// A platform caller may narrow to one tenant; for anyone else the owner condition puts their own there.
				const where = {
					...(tenantId ? { tenantId: tenantId.toLowerCase() } : {}),
					...(status ? { status } : {}),
					...(subscriptionId ? { subscriptionId: subscriptionId.toLowerCase() } : {}),
				};
				const found = await this.scoped(ctx, "invoice").page({ page, pageSize, where });
				return { ...found, rows: await this.presentInvoices(found.rows) };
			},
		},

		getInvoice: {
			rest: { method: "GET", fullPath: apiPath("invoices/:id") },
			permissions: ["tenant:viewer"],
			summary: "One of the organization's invoices (super admins: any)",
			responses: { 200: { description: "The invoice with its lines", body: PublicInvoiceSchema } },
			params: { id: "string|max:64" },
			scope: INVOICE_SCOPE,
			async handler(this: BillingHost, ctx: BillingContext<{ id: string }>) {
				return this.presentInvoice(entityOf<InvoiceRow>(ctx));
			},
		},

		getInvoicePdf: {
			rest: { method: "GET", fullPath: apiPath("invoices/:id/pdf") },
			permissions: ["tenant:viewer"],
			summary: "The invoice's PDF: a redirect to a short-lived download URL",
			...INVOICE_PDF_ROUTE,
			params: { id: "string|max:64" },
			scope: INVOICE_SCOPE,
			async handler(this: BillingHost, ctx: BillingContext<{ id: string }>) {
				return this.invoicePdfRedirect(ctx, entityOf<InvoiceRow>(ctx));
			},
		},

		payOpenInvoice: {
			rest: { method: "POST", fullPath: apiPath("invoices/:id/pay") },
			permissions: ["tenant:owner"],
			summary: "Try to collect an open invoice now (the subscription's payment method)",
			description:
				"A card is charged at once: the answer is the invoice paid, or still open with one more failed attempt (`paymentAttempts`). A manual method answers the invoice open while its payment awaits the transfer. A paid invoice makes a past_due or unpaid subscription active again.",
			responses: { 200: { description: "The invoice after the attempt", body: PublicInvoiceSchema } },
			errors: { 409: ["INVOICE_NOT_PAYABLE"] },
			params: { id: "string|max:64" },
			scope: INVOICE_SCOPE,
			async handler(this: BillingHost, ctx: BillingContext<{ id: string }>) {
				const invoice = entityOf<InvoiceRow>(ctx);
				if (!PAYABLE_INVOICE_STATUSES.includes(invoice.status)) {
					throw new ConflictError(`Invoice ${invoice.id} is ${invoice.status}: there is nothing to pay`, "INVOICE_NOT_PAYABLE", { invoiceId: invoice.id, status: invoice.status });
				}
				return this.presentInvoice(await this.collectInvoice(invoice, "manual"));
			},
		},

		voidInvoice: {
			rest: { method: "POST", fullPath: apiPath("invoices/:id/void") },
			permissions: ["super_admin"],
			summary: "Void an open invoice: nothing is owed on it any more",
			description: "Its pending payments fail and its retries stop; a past_due or unpaid subscription with nothing else owed is active again.",
			responses: { 200: { description: "The voided invoice", body: PublicInvoiceSchema } },
			errors: { 409: ["INVALID_TRANSITION"] },
			params: { id: "string|max:64" },
			scope: INVOICE_SCOPE,
			async handler(this: BillingHost, ctx: BillingContext<{ id: string }>) {
				return this.presentInvoice(await this.voidOpenInvoice(entityOf<InvoiceRow>(ctx)));
			},
		},
	},

	methods: {
		async loadInvoice(this: BillingHost, id: string, transaction?: Transaction): Promise<InvoiceRow | undefined> {
			const uuid = normalizeUuid(id);
			return uuid ? plainRow(await this.models.invoice.findByPk(uuid, { transaction })) : undefined;
		},

		async moveInvoice(this: BillingHost, transaction: Transaction, id: string, from: readonly InvoiceStatus[], changes: { status: InvoiceStatus } & Record<string, unknown>) {
			for (const status of from) if (!INVOICE_TRANSITIONS[status].includes(changes.status)) throw new Error(`No invoice transition ${status} → ${changes.status}`);
			const [count, rows] = await this.models.invoice.update(changes, { where: { id, status: [...from] }, returning: true, transaction });
			return count === 1 ? rows[0].get({ plain: true }) : undefined;
		},

		async draftFor(this: BillingHost, subscription: SubscriptionRow, plan: PublicPlan, reason: InvoiceReason, lines: LineInput[], period: { start: Date; end: Date } | null, coupon: CouponTerms | null): Promise<InvoiceDraft> {
			const account = await this.account(subscription.tenantId);
			return {
				tenantId: subscription.tenantId,
				subscriptionId: subscription.id,
				reason,
				currency: plan.currency,
				lines,
				coupon,
				taxRateBasisPoints: plan.taxRateBasisPoints ?? account.taxRateBasisPoints,
				taxInclusive: account.taxInclusive,
				periodStart: period?.start ?? null,
				periodEnd: period?.end ?? null,
			};
		},

		async issueInvoice(this: BillingHost, transaction: Transaction, draft: InvoiceDraft, owners: string[], issuedAt: Date): Promise<InvoiceRow> {
			const { lines, totals } = completeLines(draft.lines, draft.coupon, draft.taxRateBasisPoints, draft.taxInclusive);
			const stored = (
				await this.models.invoice.create(
					{
						tenantId: draft.tenantId,
						subscriptionId: draft.subscriptionId,
						status: "draft",
						reason: draft.reason,
						currency: draft.currency,
						subtotal: totals.subtotal,
						discount: totals.discount,
						tax: totals.tax,
						total: totals.total,
						amountPaid: 0,
						taxRateBasisPoints: draft.taxRateBasisPoints,
						taxInclusive: draft.taxInclusive,
						periodStart: draft.periodStart,
						periodEnd: draft.periodEnd,
					},
					{ transaction },
				)
			).get({ plain: true });
			await this.models.invoiceLine.bulkCreate(
				lines.map((line, position) => ({ ...line, invoiceId: stored.id, position })),
				{ transaction },
			);
			// The number is taken last, under the sequence row's lock, which the transaction holds until it commits.
			const year = issuedAt.getUTCFullYear();
			const [sequence] = await this.adapter.db.query<{ lastNumber: number }>(
				`INSERT INTO "billing".invoice_sequences AS s (tenant_id, year, last_number) VALUES (:tenantId, :year, 1)
				 ON CONFLICT (tenant_id, year) DO UPDATE SET last_number = s.last_number + 1 RETURNING last_number AS "lastNumber"`,
				{ replacements: { tenantId: draft.tenantId, year }, type: QueryTypes.SELECT, transaction },
			);
			const number = `INV-${year}-${String(sequence.lastNumber).padStart(6, "0")}`;
			const open = (await this.moveInvoice(transaction, stored.id, ["draft"], { status: "open", number, issuedAt }))!;
			await this.announceBilling(transaction, "invoice.finalized", draft.tenantId, owners, issuedAt, { invoice: await this.presentInvoice(open, transaction) });
			if (totals.total > 0) return open;
			// Nothing to collect (credits covered it, or it was free): paid as it is issued.
			const paid = (await this.moveInvoice(transaction, stored.id, ["open"], { status: "paid", paidAt: issuedAt }))!;
			await this.announceBilling(transaction, "invoice.paid", draft.tenantId, owners, issuedAt, { invoice: await this.presentInvoice(paid, transaction) });
			return paid;
		},

		/** open|uncollectible → void, its retries stopped, in one transaction with invoice.voided; then payments fails its pending payments. */
		async voidOpenInvoice(this: BillingHost, before: InvoiceRow): Promise<InvoiceRow> {
			const owners = await this.membersAdapter.owners(before.tenantId);
			const at = await this.billingNow(before.tenantId);
			const { invoice, restored } = await this.adapter.db.transaction(async (transaction) => {
				const voided = await this.moveInvoice(transaction, before.id, PAYABLE_INVOICE_STATUSES, { status: "void", voidedAt: at, nextPaymentAttemptAt: null });
				if (!voided) {
					const current = (await this.loadInvoice(before.id, transaction)) ?? before;
					if (current.status === "void") return { invoice: current, restored: undefined };
					throw new ConflictError(`Invoice ${current.id} can't go from ${current.status} to void`, "INVALID_TRANSITION", { invoiceId: current.id, from: current.status, to: "void" });
				}
				await this.cancelJobs(transaction, voided.id, ["payment_retry"]);
				await this.announceBilling(transaction, "invoice.voided", voided.tenantId, owners, at, { invoice: await this.presentInvoice(voided, transaction) });
				return { invoice: voided, restored: await this.restoreSubscription(transaction, voided, owners, at) };
			});
			if (restored) await this.subscriptionChanged(invoice.tenantId);
			// A transfer still on its way for this invoice must not be taken: payments fails what is pending.
			await this.paymentsAdapter.voidForInvoice(invoice.id).catch((err: Error) => this.logger.warn(`Invoice ${invoice.id} voided; its pending payments could not be failed now: ${err.message}`));
			return invoice;
		},

		/**
		 * Renders a finalized invoice's PDF once and records its file (`storeInvoicePdf` answers the same file when
		 * run again). The hook the invoice-pdf mixin plugs into; a no-op while the service has no such method.
		 */
		async attachInvoicePdf(this: BillingHost, invoiceId: string): Promise<void> {
			const row = await this.loadInvoice(invoiceId);
			if (!row || row.status === "draft" || row.pdfFileId) return;
			const fileId = await this.storeInvoicePdf(await this.presentInvoice(row));
			await this.models.invoice.update({ pdfFileId: fileId }, { where: { id: row.id, pdfFileId: null } });
		},

		async presentInvoice(this: BillingHost, row: InvoiceRow, transaction?: Transaction): Promise<PublicInvoice> {
			return (await this.presentInvoices([row], transaction))[0];
		},

		async presentInvoices(this: BillingHost, rows: InvoiceRow[], transaction?: Transaction): Promise<PublicInvoice[]> {
			if (rows.length === 0) return [];
			const lines = (await this.models.invoiceLine.findAll({ where: { invoiceId: { [Op.in]: rows.map((row) => row.id) } }, order: [["position", "ASC"]], transaction })).map((line) =>
				line.get({ plain: true }),
			);
			return rows.map((row) => ({
				id: row.id,
				tenantId: row.tenantId,
				subscriptionId: row.subscriptionId,
				number: row.number,
				status: row.status,
				reason: row.reason,
				currency: row.currency,
				subtotal: Number(row.subtotal),
				discount: Number(row.discount),
				tax: Number(row.tax),
				total: Number(row.total),
				amountPaid: Number(row.amountPaid),
				taxRateBasisPoints: row.taxRateBasisPoints,
				taxInclusive: row.taxInclusive,
				periodStart: iso(row.periodStart),
				periodEnd: iso(row.periodEnd),
				lines: lines
					.filter((line) => line.invoiceId === row.id)
					.map((line) => ({
						kind: line.kind,
						description: line.description,
						metric: line.metric,
						quantity: Number(line.quantity),
						amount: Number(line.amount),
						periodStart: iso(line.periodStart),
						periodEnd: iso(line.periodEnd),
						details: line.details,
					})),
				paymentAttempts: row.paymentAttempts,
				nextPaymentAttemptAt: iso(row.nextPaymentAttemptAt),
				issuedAt: iso(row.issuedAt),
				paidAt: iso(row.paidAt),
				voidedAt: iso(row.voidedAt),
				pdfUrl: row.pdfFileId ? apiPath(`invoices/${row.id}/pdf`) : null,
				createdAt: iso(row.createdAt)!,
				updatedAt: iso(row.updatedAt)!,
			}));
		},
	},
});
