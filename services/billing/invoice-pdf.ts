/**
 * Invoice PDFs, a mixin of the billing service: render a finalized invoice (invoice-template.ts → Chromium
 * through pdf-renderer.ts), keep it as a file of the tenant (files.storeSystemFile, one per invoice), and
 * answer `GET /invoices/:id/pdf` with a redirect to a short-lived presigned URL of it.
 *
 * The engine calls `storeInvoicePdf` from a durable step after finalization (a channel consumer or a due
 * job, never inline in a request) and records the answered file id on the invoice. The step may run again
 * (a redelivery, a crash after the store): the file is keyed by the invoice (`invoice:<id>`), so a second
 * run answers the file stored first. One browser per node, launched by the first rendering and closed when
 * the service stops.
 */
import { Readable } from "node:stream";
import type { Context, Service, ServiceSchema } from "moleculer";
import { systemCall, type CallerMeta } from "../../lib/caller";
import { ConflictError } from "../../lib/errors";
import { platformConfigOf } from "../../lib/node";
import type { PresignedDownload, PublicFile, SystemFileParams } from "../files/contracts";
import type { InvoiceStatus, PublicInvoice } from "./contracts";
import { renderInvoiceHtml, type InvoiceParty } from "./invoice-template";
import { PdfRenderer } from "./pdf-renderer";

/** What `GET /invoices/:id/pdf` needs of an invoice row. */
export interface InvoicePdfSubject {
	id: string;
	status: InvoiceStatus;
	/** The stored PDF (files), once the durable step has rendered it. */
	pdfFileId: string | null;
}

export interface InvoicePdfMethods {
	/** The invoice as an A4 PDF. */
	renderInvoicePdf(invoice: PublicInvoice): Promise<Buffer>;
	/** Renders a finalized invoice and stores it as a system file of its tenant; answers the file id (the same one when run again). */
	storeInvoicePdf(invoice: PublicInvoice): Promise<string>;
	/** The logic of `GET /invoices/:id/pdf` once the invoice is loaded in the caller's scope: 302 to a presigned URL of the PDF. */
	invoicePdfRedirect(ctx: Context<unknown, CallerMeta>, invoice: InvoicePdfSubject): Promise<null>;
	/** Who is billed, as the document names them: the tenant's name and its owners' addresses. */
	invoiceCustomer(tenantId: string): Promise<InvoiceParty>;
}

interface InvoicePdfLocals {
	pdfRenderer: PdfRenderer;
}

type InvoicePdfThis = Service & InvoicePdfMethods & InvoicePdfLocals;

/** The file key of an invoice's PDF: one file per invoice and tenant. */
export function invoicePdfFileKey(invoiceId: string): string {
	return `invoice:${invoiceId}`;
}

/** `responses` and `errors` of the `GET /invoices/:id/pdf` action, to spread into its declaration. */
export const INVOICE_PDF_ROUTE = {
	responses: {
		302: { description: "Location is a presigned URL of the invoice's PDF, valid for FILES_PRESIGN_TTL_SECONDS", headers: { Location: "A presigned URL of the PDF" } },
	},
	errors: { 409: ["INVOICE_NOT_FINALIZED", "INVOICE_PDF_PENDING"] },
} as const;

/** Owners named on the document, at most. */
const BILLED_OWNERS = 3;

interface TenantMember {
	userId: string;
	role: string;
	email: string | null;
	fullName: string | null;
}

export const InvoicePdfMixin: Partial<ServiceSchema> = {
	methods: {
		async renderInvoicePdf(this: InvoicePdfThis, invoice: PublicInvoice): Promise<Buffer> {
			const { seller } = platformConfigOf(this.broker).invoicePdf;
			const customer = await this.invoiceCustomer(invoice.tenantId);
			const html = renderInvoiceHtml(invoice, { seller: { name: seller.name, lines: seller.addressLines }, customer });
			return this.pdfRenderer.render(html);
		},

		async storeInvoicePdf(this: InvoicePdfThis, invoice: PublicInvoice): Promise<string> {
			if (invoice.status === "draft" || !invoice.number) throw new ConflictError("A draft invoice has no PDF: finalize it first", "INVOICE_NOT_FINALIZED");
			const pdf = await this.renderInvoicePdf(invoice);
			const params: SystemFileParams = { tenantId: invoice.tenantId, name: `${invoice.number}.pdf`, contentType: "application/pdf", key: invoicePdfFileKey(invoice.id) };
			const file = await this.broker.call<PublicFile, SystemFileParams>("files.storeSystemFile", params, { ...systemCall(), stream: Readable.from([pdf], { objectMode: false }) });
			return file.id;
		},

		async invoicePdfRedirect(this: InvoicePdfThis, ctx: Context<unknown, CallerMeta>, invoice: InvoicePdfSubject): Promise<null> {
			if (invoice.status === "draft") throw new ConflictError("A draft invoice has no PDF yet: it is rendered once the invoice is finalized", "INVOICE_NOT_FINALIZED");
			if (!invoice.pdfFileId) throw new ConflictError("The invoice's PDF is being rendered: try again in a few seconds", "INVOICE_PDF_PENDING");
			// The invoice was loaded in the caller's scope; its file is read with platform rights (broker.call, so they don't merge into ctx).
			const { url } = await this.broker.call<PresignedDownload, { id: string }>("files.presignDownload", { id: invoice.pdfFileId }, systemCall());
			ctx.meta.$statusCode = 302;
			ctx.meta.$location = url;
			// The redirect is as short-lived as the URL it points at.
			ctx.meta.$responseHeaders = { "Cache-Control": "no-store" };
			return null;
		},

		async invoiceCustomer(this: InvoicePdfThis, tenantId: string): Promise<InvoiceParty> {
			const [tenant, members] = await Promise.all([
				this.broker.call<{ name: string }, { id: string }>("tenants.details", { id: tenantId }, systemCall()),
				this.broker.call<TenantMember[], { id: string }>("tenants.members", { id: tenantId }, systemCall()),
			]);
			const owners = members.filter((member) => member.role === "owner" && member.email).slice(0, BILLED_OWNERS);
			return { name: tenant.name, lines: owners.flatMap((owner) => (owner.fullName ? [owner.fullName, owner.email!] : [owner.email!])) };
		},
	},

	created() {
		const service = this as unknown as InvoicePdfThis;
		const { chromiumPath, concurrency, timeoutMs } = platformConfigOf(service.broker).invoicePdf;
		// Nothing is launched yet: the first rendering starts the browser.
		service.pdfRenderer = new PdfRenderer({ executablePath: chromiumPath, concurrency, timeoutMs });
	},

	async stopped() {
		await (this as unknown as InvoicePdfThis).pdfRenderer.close();
	},
};
