/**
 * Invoice PDFs for real: a realistic invoice (a fixed fee, a proration credit and charge, graduated, per-unit
 * and package metered charges, a coupon discount, exclusive tax) through the HTML template and Debian's
 * Chromium (Playwright), its text extracted from the PDF (unpdf) and checked line by line; then stored as a
 * system file of the tenant through the files domain on the run's S3 (s3rver), once however often the step
 * runs, and downloaded back through the presigned redirect `GET /invoices/:id/pdf` answers.
 *
 * The billing engine isn't needed: a small service on the node carries InvoicePdfMixin exactly as the
 * billing service does and exposes its methods as actions.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Context } from "moleculer";
import { extractText } from "unpdf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { formatMoney } from "../../lib/currency";
import type { CallerMeta } from "../../lib/caller";
import { InvoicePdfMixin, type InvoicePdfMethods, type InvoicePdfSubject } from "../../services/billing/invoice-pdf";
import { PdfRenderer } from "../../services/billing/pdf-renderer";
import { renderInvoiceHtml } from "../../services/billing/invoice-template";
import { invoiceTotals, priceCharge } from "../../services/billing/money";
import type { InvoiceLine, MeteredCharge, PublicInvoice } from "../../services/billing/contracts";

const CHROMIUM = process.env.BILLING_CHROMIUM_PATH ?? "/usr/bin/chromium";
const TENANT_NAME = "Acme & Sons <Ltd>";

let node: RunningNode;
let api: ApiClient;
let owner: { accessToken: string; user: { id: string }; tenant: { id: string } };
let ownerEmail: string;

const eur = (amount: number) => formatMoney(amount, "EUR");

async function pdfText(pdf: Buffer): Promise<string> {
	const { text } = await extractText(new Uint8Array(pdf), { mergePages: true });
	// One space between words whatever the layout put there, so assertions read like the document.
	return text.replace(/\s+/g, " ");
}

/** A metered line as the engine writes it: money.priceCharge's breakdown in `details`. */
function meteredLine(description: string, charge: MeteredCharge, quantity: number): InvoiceLine {
	const priced = priceCharge(charge, quantity);
	return {
		kind: "metered",
		description,
		metric: charge.metric,
		quantity,
		amount: priced.amount,
		periodStart: "2026-02-01T00:00:00.000Z",
		periodEnd: "2026-03-01T00:00:00.000Z",
		details: { model: charge.model, unitAmount: charge.unitAmount, packageSize: charge.packageSize, packageAmount: charge.packageAmount, ...priced },
	};
}

const API_CALLS: MeteredCharge = {
	metric: "api_calls",
	model: "graduated",
	freeUnits: 1000,
	tiers: [
		{ upTo: 10_000, unitAmount: 2, flatAmount: 0 },
		{ upTo: 50_000, unitAmount: 1, flatAmount: 500 },
		{ upTo: null, unitAmount: 0, flatAmount: 2000 },
	],
};
const SEATS: MeteredCharge = { metric: "seats", model: "per_unit", freeUnits: 5, unitAmount: 800 };
const SCREENSHOTS: MeteredCharge = { metric: "screenshots", model: "package", freeUnits: 0, packageSize: 100, packageAmount: 500 };

function realisticInvoice(tenantId: string, overrides: Partial<PublicInvoice> = {}): PublicInvoice {
	const items: InvoiceLine[] = [
		{ kind: "fixed_fee", description: "Pro plan (monthly)", metric: null, quantity: 1, amount: 4900, periodStart: "2026-03-01T00:00:00.000Z", periodEnd: "2026-04-01T00:00:00.000Z", details: {} },
		{ kind: "proration_credit", description: "Unused time on Starter after Feb 17, 2026", metric: null, quantity: 12, amount: -1029, periodStart: "2026-02-17T00:00:00.000Z", periodEnd: "2026-03-01T00:00:00.000Z", details: {} },
		{ kind: "proration_charge", description: "Remaining time on Pro from Feb 17, 2026", metric: null, quantity: 12, amount: 2100, periodStart: "2026-02-17T00:00:00.000Z", periodEnd: "2026-03-01T00:00:00.000Z", details: {} },
		meteredLine("API calls", API_CALLS, 23_456),
		meteredLine("Seats", SEATS, 8),
		meteredLine("Screenshots", SCREENSHOTS, 250),
	];
	const coupon = { percentOffBasisPoints: 2500, amountOff: null };
	const totals = invoiceTotals(
		items.map((line) => line.amount),
		coupon,
		1900,
		false,
	);
	const lines: InvoiceLine[] = [
		...items,
		{ kind: "discount", description: "WELCOME25 (25 % off)", metric: null, quantity: 1, amount: -totals.discount, periodStart: null, periodEnd: null, details: { couponCode: "WELCOME25" } },
		{ kind: "tax", description: "VAT 19 %", metric: null, quantity: 1, amount: totals.tax, periodStart: null, periodEnd: null, details: {} },
	];
	return {
		id: "5b0f8a47-8d1e-4c31-9a8e-0c1b8d7f3a10",
		tenantId,
		subscriptionId: "0a7c3c9e-2f7d-4b7e-8f4e-6f1a2b3c4d5e",
		number: "INV-2026-000042",
		status: "open",
		reason: "subscription_cycle",
		currency: "EUR",
		...totals,
		amountPaid: 0,
		taxRateBasisPoints: 1900,
		taxInclusive: false,
		periodStart: "2026-02-01T00:00:00.000Z",
		periodEnd: "2026-03-01T00:00:00.000Z",
		lines,
		paymentAttempts: 0,
		nextPaymentAttemptAt: null,
		issuedAt: "2026-03-01T00:00:00.000Z",
		paidAt: null,
		voidedAt: null,
		pdfUrl: null,
		createdAt: "2026-03-01T00:00:00.000Z",
		updatedAt: "2026-03-01T00:00:00.000Z",
		...overrides,
	};
}

type TestService = InvoicePdfMethods;

/** The probe's actions are internal: called with platform rights, as the engine's steps run. */
const SYSTEM = { meta: { $system: true } };

beforeAll(async () => {
	node = await startNode({
		SERVICES: "gateway,identity,files",
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
		BILLING_CHROMIUM_PATH: CHROMIUM,
		BILLING_SELLER_NAME: "Lattice GmbH",
		BILLING_SELLER_ADDRESS: "Hauptstraße 1;10115 Berlin;VAT DE123456789",
	});
	api = apiClient(node.url);
	ownerEmail = uniqueEmail("billing-owner");
	const registered = await api.post<typeof owner>("/auth/register", { email: ownerEmail, password: "correct horse battery", fullName: "Olga Owner", organization: TENANT_NAME }, { ip: uniqueIp() });
	expect(registered.status, JSON.stringify(registered.body)).toBe(201);
	owner = registered.body;
	// The billing service's PDF part, as the billing service mixes it in.
	node.broker.createService({
		name: "invoice-pdf-probe",
		mixins: [InvoicePdfMixin],
		actions: {
			render: {
				visibility: "public",
				handler(this: TestService, ctx: Context<{ invoice: PublicInvoice }>) {
					return this.renderInvoicePdf(ctx.params.invoice);
				},
			},
			store: {
				visibility: "public",
				handler(this: TestService, ctx: Context<{ invoice: PublicInvoice }>) {
					return this.storeInvoicePdf(ctx.params.invoice);
				},
			},
			redirect: {
				visibility: "public",
				async handler(this: TestService, ctx: Context<InvoicePdfSubject, CallerMeta>) {
					await this.invoicePdfRedirect(ctx, ctx.params);
					return { status: ctx.meta.$statusCode, location: ctx.meta.$location, headers: ctx.meta.$responseHeaders };
				},
			},
		},
	});
	await node.broker.waitForServices(["invoice-pdf-probe"], 10_000);
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

describe("an invoice's PDF", () => {
	it("shows the seller, the customer, the number, every line with its tiers, and the totals", async () => {
		const invoice = realisticInvoice(owner.tenant.id);
		const pdf = await node.broker.call<Buffer, object>("invoice-pdf-probe.render", { invoice }, SYSTEM);
		expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
		const text = await pdfText(pdf);

		expect(text).toContain("Invoice");
		expect(text).toContain("INV-2026-000042");
		expect(text).toContain("Mar 1, 2026");
		expect(text).toContain("Feb 1, 2026 – Mar 1, 2026");
		expect(text).toContain("Subscription renewal");
		// The parties: the configured seller, the tenant's name as written (escaped in HTML, literal in the PDF) and its owner.
		expect(text).toContain("Lattice GmbH");
		expect(text).toContain("VAT DE123456789");
		expect(text).toContain(TENANT_NAME);
		expect(text).toContain(`Olga Owner ${ownerEmail}`);
		expect(text).toContain(`Customer ID ${owner.tenant.id}`);

		// Fixed fee and prorations.
		expect(text).toContain(`Pro plan (monthly) Mar 1, 2026 – Apr 1, 2026 1 ${eur(4900)} ${eur(4900)}`);
		expect(text).toContain(`Unused time on Starter after Feb 17, 2026 Feb 17, 2026 – Mar 1, 2026 12 days ${eur(-1029)}`);
		expect(text).toContain(`Remaining time on Pro from Feb 17, 2026 Feb 17, 2026 – Mar 1, 2026 12 days ${eur(2100)}`);
		// Graduated: 23,456 calls, 1,000 free; of the 22,456 billable, 10,000 at €0.02, then 12,456 at €0.01 plus €5.00 once.
		const calls = priceCharge(API_CALLS, 23_456);
		expect(calls.amount).toBe(10_000 * 2 + 12_456 * 1 + 500);
		expect(text).toContain(`API calls api_calls Feb 1, 2026 – Mar 1, 2026 23,456 ${eur(calls.amount)}`);
		expect(text).toContain(`Included in the plan: 1,000 units 1,000 ${eur(0)} ${eur(0)}`);
		expect(text).toContain(`Tier 1 – 10,000 10,000 ${eur(2)} ${eur(20_000)}`);
		expect(text).toContain(`Tier 10,001 – 50,000 + ${eur(500)} flat 12,456 ${eur(1)} ${eur(12_956)}`);
		// Per unit and package.
		expect(text).toContain(`Seats seats Feb 1, 2026 – Mar 1, 2026 8 ${eur(800)} ${eur(2400)} Included in the plan: 5 units`);
		expect(text).toContain(`Screenshots screenshots Feb 1, 2026 – Mar 1, 2026 250 ${eur(500)} / 100 ${eur(1500)}`);

		// The totals, as money.ts computed them.
		expect(text).toContain(`Subtotal ${eur(invoice.subtotal)}`);
		expect(text).toContain(`WELCOME25 (25 % off) ${eur(-invoice.discount)}`);
		expect(text).toContain(`VAT 19 % ${eur(invoice.tax)}`);
		expect(text).toContain(`Total ${eur(invoice.total)}`);
		expect(text).toContain(`Amount due ${eur(invoice.total)}`);
		expect(invoice.subtotal).toBe(4900 - 1029 + 2100 + calls.amount + 2400 + 1500);
		expect(invoice.total).toBe(invoice.subtotal - invoice.discount + invoice.tax);
		// Discount and tax are in the summary only, not lines of the table as well.
		expect(text.match(/WELCOME25/g)).toHaveLength(1);
	}, 60_000);

	it("writes every value as text: markup in data can't reach the document", () => {
		const invoice = realisticInvoice(owner.tenant.id, {
			lines: [{ kind: "fixed_fee", description: `<img src="http://127.0.0.1:1/x"><script>alert(1)</script>`, metric: null, quantity: 1, amount: 100, periodStart: null, periodEnd: null, details: {} }],
		});
		const html = renderInvoiceHtml(invoice, { seller: { name: "S\"eller", lines: [] }, customer: { name: "<b>Bold</b> & co", lines: ["'quoted'"] } });
		expect(html).not.toContain("<img");
		expect(html).not.toContain("<script");
		expect(html).toContain("&lt;img src=&quot;http://127.0.0.1:1/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
		expect(html).toContain("&lt;b&gt;Bold&lt;/b&gt; &amp; co");
		expect(html).toContain("S&quot;eller");
		expect(html).toContain("&#39;quoted&#39;");
	});

	it("is stored once as a file of the tenant and downloaded back through the presigned redirect", async () => {
		const invoice = realisticInvoice(owner.tenant.id, { id: "7d3e2f10-4c5b-4a69-8e7f-1a2b3c4d5e6f", number: "INV-2026-000043" });
		const fileId = await node.broker.call<string, object>("invoice-pdf-probe.store", { invoice }, SYSTEM);
		// The durable step may run again: the same file, nothing stored twice.
		expect(await node.broker.call<string, object>("invoice-pdf-probe.store", { invoice }, SYSTEM)).toBe(fileId);
		const rows = await sql<{ id: string; name: string; content_type: string; system_key: string; uploader_kind: string }>(
			"SELECT id, name, content_type, system_key, uploader_kind FROM files.files WHERE tenant_id = $1 AND system_key = $2",
			[owner.tenant.id, `invoice:${invoice.id}`],
		);
		expect(rows).toEqual([{ id: fileId, name: "INV-2026-000043.pdf", content_type: "application/pdf", system_key: `invoice:${invoice.id}`, uploader_kind: "system" }]);

		const answer = await node.broker.call<{ status: number; location: string; headers: Record<string, string> }, InvoicePdfSubject>("invoice-pdf-probe.redirect", { id: invoice.id, status: "open", pdfFileId: fileId }, SYSTEM);
		expect(answer.status).toBe(302);
		expect(answer.headers).toEqual({ "Cache-Control": "no-store" });
		const download = await fetch(answer.location);
		expect(download.status).toBe(200);
		expect(download.headers.get("content-type")).toBe("application/pdf");
		expect(download.headers.get("content-disposition")).toContain("INV-2026-000043.pdf");
		const text = await pdfText(Buffer.from(await download.arrayBuffer()));
		expect(text).toContain("INV-2026-000043");
		expect(text).toContain(`Total ${eur(invoice.total)}`);

		// The tenant sees it among its files, and can't delete it.
		const file = await api.get<{ name: string; contentType: string }>(`/files/${fileId}`, { token: owner.accessToken });
		expect(file.body).toMatchObject({ name: "INV-2026-000043.pdf", contentType: "application/pdf" });
		expect((await api.delete(`/files/${fileId}`, { token: owner.accessToken })).status).toBe(409);
	}, 60_000);

	it("answers 409 while the invoice is a draft or its PDF is still being rendered", async () => {
		await expect(node.broker.call("invoice-pdf-probe.redirect", { id: "7d3e2f10-4c5b-4a69-8e7f-1a2b3c4d5e6f", status: "draft", pdfFileId: null }, SYSTEM)).rejects.toMatchObject({ code: 409, type: "INVOICE_NOT_FINALIZED" });
		await expect(node.broker.call("invoice-pdf-probe.redirect", { id: "7d3e2f10-4c5b-4a69-8e7f-1a2b3c4d5e6f", status: "open", pdfFileId: null }, SYSTEM)).rejects.toMatchObject({ code: 409, type: "INVOICE_PDF_PENDING" });
		const draft = realisticInvoice(owner.tenant.id, { status: "draft", number: null });
		await expect(node.broker.call("invoice-pdf-probe.store", { invoice: draft }, SYSTEM)).rejects.toMatchObject({ code: 409, type: "INVOICE_NOT_FINALIZED" });
	});
});

describe("the PDF renderer", () => {
	it("lets a page reach nothing, renders several at once in one browser, and refuses work once closed", async () => {
		const requests: string[] = [];
		const server = http.createServer((req, res) => {
			requests.push(req.url ?? "");
			res.end("x");
		});
		await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
		const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
		const renderer = new PdfRenderer({ executablePath: CHROMIUM, concurrency: 2, timeoutMs: 20_000 });
		try {
			const page = (n: number) =>
				`<!doctype html><html><head><link rel="stylesheet" href="${origin}/style.css"><link rel="prefetch" href="${origin}/prefetch"></head><body><h1>Page ${n}</h1><img src="${origin}/image.png"><iframe src="${origin}/frame"></iframe><script src="${origin}/script.js"></script></body></html>`;
			const pdfs = await Promise.all([1, 2, 3, 4, 5].map((n) => renderer.render(page(n))));
			for (const [index, pdf] of pdfs.entries()) expect(await pdfText(pdf)).toContain(`Page ${index + 1}`);
			// Give anything that slipped out time to arrive.
			await new Promise((resolve) => setTimeout(resolve, 300));
			expect(requests).toEqual([]);
		} finally {
			await renderer.close();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		}
		await expect(renderer.render("<p>late</p>")).rejects.toMatchObject({ code: 503, type: "PDF_RENDERER_UNAVAILABLE" });
	}, 60_000);

	it("says which Chromium it could not start", async () => {
		const renderer = new PdfRenderer({ executablePath: "/nonexistent/chromium", concurrency: 1, timeoutMs: 5_000 });
		await expect(renderer.render("<p>x</p>")).rejects.toMatchObject({ code: 503, type: "PDF_RENDERER_UNAVAILABLE", message: expect.stringContaining("/nonexistent/chromium") });
		await renderer.close();
	});
});
