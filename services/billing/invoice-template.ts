/**
 * The invoice document: one HTML page per invoice (rendered to PDF by invoice-pdf.ts), from the invoice as
 * answered (PublicInvoice) and the two parties it names. Pure: no I/O, the same invoice always gives the same
 * bytes, and every value that comes from data goes through one escape (the `html` tag below), so a tenant's
 * name or a line's description can't add markup to the document.
 *
 * What it shows: the seller and the customer, the number and dates, the billing period, a table of the
 * invoice's lines (fixed fee, prorations, each metered charge with its tier breakdown from `line.details`),
 * then subtotal, discount, tax, total, paid and due, each written with lib/currency.ts `formatMoney` in the
 * invoice's currency. Discount and tax lines are shown in that summary, not in the table, so nothing is
 * counted twice.
 */
import { formatMoney } from "../../lib/currency";
import { escapeHtml } from "../../lib/html";
import type { InvoiceLine, InvoiceReason, PublicInvoice } from "./contracts";

/** A block of the document: who sells, who is billed. */
export interface InvoiceParty {
	name: string;
	/** Address, tax id, email…: one line each. */
	lines: string[];
}

export interface InvoiceDocumentOptions {
	seller: InvoiceParty;
	customer: InvoiceParty;
	/** Number and date formats (BCP 47); "en" by default. */
	locale?: string;
}

// --- Escaping: values are text unless they are SafeHtml built by the `html` tag ------------------------

class SafeHtml {
	constructor(readonly value: string) {}
}

type HtmlValue = SafeHtml | string | number | null | undefined | false | HtmlValue[];

function renderValue(value: HtmlValue): string {
	if (value instanceof SafeHtml) return value.value;
	if (Array.isArray(value)) return value.map(renderValue).join("");
	if (value === null || value === undefined || value === false) return "";
	return escapeHtml(String(value));
}

/** A template literal whose interpolations are escaped (arrays joined, SafeHtml kept as is). */
function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
	let out = strings[0];
	values.forEach((value, index) => {
		out += renderValue(value) + strings[index + 1];
	});
	return new SafeHtml(out);
}

// --- Reading line details (written by the engine from money.priceCharge) --------------------------------

/** A graduated tier as invoiced: `units` of the billable quantity at `unitAmount`, plus `flatAmount` once. */
interface TierDetail {
	upTo: number | null;
	units: number;
	unitAmount: number;
	flatAmount: number;
	amount: number;
}

const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value);

function tiersOf(details: Record<string, unknown>): TierDetail[] {
	const tiers = details.tiers;
	if (!Array.isArray(tiers)) return [];
	return tiers.filter(
		(tier): tier is TierDetail =>
			typeof tier === "object" && tier !== null && isInteger(tier.units) && isInteger(tier.unitAmount) && isInteger(tier.flatAmount) && isInteger(tier.amount) && (tier.upTo === null || isInteger(tier.upTo)),
	);
}

function integerDetail(details: Record<string, unknown>, ...names: string[]): number | undefined {
	for (const name of names) if (isInteger(details[name])) return details[name];
	return undefined;
}

// --- Formatting -----------------------------------------------------------------------------------------

const REASONS: Readonly<Record<InvoiceReason, string>> = {
	subscription_create: "New subscription",
	trial_end: "End of the trial",
	subscription_cycle: "Subscription renewal",
	subscription_update: "Plan change",
	subscription_cancel: "Cancellation",
	manual: "Manual invoice",
};

const STATUS_LABELS: Readonly<Record<PublicInvoice["status"], string | undefined>> = { draft: "Draft", open: undefined, paid: "Paid", void: "Void", uncollectible: "Uncollectible" };

interface Formats {
	money(amount: number): string;
	number(value: number): string;
	date(value: string | Date | null | undefined): string;
	period(start: string | Date | null | undefined, end: string | Date | null | undefined): string;
	percent(basisPoints: number): string;
}

function formatsFor(currency: string, locale: string): Formats {
	const numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
	const percents = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 2 });
	// Billing periods are instants on day boundaries in UTC (billing time): shown as UTC dates.
	const dates = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" });
	const date = (value: string | Date | null | undefined) => (value ? dates.format(new Date(value)) : "");
	return {
		money: (amount) => formatMoney(amount, currency, locale),
		number: (value) => numbers.format(value),
		date,
		period: (start, end) => (start && end ? `${date(start)} – ${date(end)}` : ""),
		percent: (basisPoints) => percents.format(basisPoints / 10_000),
	};
}

// --- The document ---------------------------------------------------------------------------------------

const ITEM_KINDS: ReadonlySet<InvoiceLine["kind"]> = new Set(["fixed_fee", "proration_credit", "proration_charge", "metered"]);

function quantityOf(line: InvoiceLine, f: Formats): string {
	if (line.kind === "proration_credit" || line.kind === "proration_charge") return `${f.number(line.quantity)} ${line.quantity === 1 ? "day" : "days"}`;
	return f.number(line.quantity);
}

/** The unit price column: what one unit costs where that is one number. */
function unitPriceOf(line: InvoiceLine, f: Formats): string {
	if (line.kind === "fixed_fee") return line.quantity > 0 ? f.money(Math.round(line.amount / line.quantity)) : "";
	if (line.kind !== "metered") return "";
	const unitAmount = integerDetail(line.details, "unitAmount");
	if (line.details.model === "per_unit" && unitAmount !== undefined) return f.money(unitAmount);
	const packageSize = integerDetail(line.details, "packageSize");
	const packageAmount = integerDetail(line.details, "packageAmount");
	if (line.details.model === "package" && packageSize !== undefined && packageAmount !== undefined) return `${f.money(packageAmount)} / ${f.number(packageSize)}`;
	return "";
}

/** Sub-rows of a metered line: the free units, then each graduated tier the quantity reached. */
function meteredBreakdown(line: InvoiceLine, f: Formats): SafeHtml[] {
	const rows: SafeHtml[] = [];
	const included = integerDetail(line.details, "included", "freeUnits");
	if (included !== undefined && included > 0) {
		rows.push(html`<tr class="detail"><td colspan="2">Included in the plan: ${f.number(included)} units</td><td class="num">${f.number(included)}</td><td class="num">${f.money(0)}</td><td class="num">${f.money(0)}</td></tr>`);
	}
	let floor = 0;
	for (const tier of tiersOf(line.details)) {
		const range = tier.upTo === null ? `${f.number(floor + 1)} and above` : `${f.number(floor + 1)} – ${f.number(tier.upTo)}`;
		const flat = tier.flatAmount !== 0 ? html` + ${f.money(tier.flatAmount)} flat` : "";
		rows.push(html`<tr class="detail"><td colspan="2">Tier ${range}${flat}</td><td class="num">${f.number(tier.units)}</td><td class="num">${f.money(tier.unitAmount)}</td><td class="num">${f.money(tier.amount)}</td></tr>`);
		if (tier.upTo !== null) floor = tier.upTo;
	}
	return rows;
}

function lineRows(line: InvoiceLine, f: Formats): SafeHtml {
	const metric = line.kind === "metered" && line.metric ? html`<div class="sub">${line.metric}</div>` : "";
	const main = html`<tr class="item"><td>${line.description}${metric}</td><td>${f.period(line.periodStart, line.periodEnd)}</td><td class="num">${quantityOf(line, f)}</td><td class="num">${unitPriceOf(line, f)}</td><td class="num">${f.money(line.amount)}</td></tr>`;
	return html`${main}${line.kind === "metered" ? meteredBreakdown(line, f) : []}`;
}

function party(title: string, block: InvoiceParty): SafeHtml {
	return html`<div class="party"><h2>${title}</h2><div class="name">${block.name}</div>${block.lines.map((line) => html`<div>${line}</div>`)}</div>`;
}

function summary(invoice: PublicInvoice, f: Formats): SafeHtml {
	const discountLine = invoice.lines.find((line) => line.kind === "discount");
	const taxLine = invoice.lines.find((line) => line.kind === "tax");
	const taxLabel = taxLine?.description ?? `${invoice.taxInclusive ? "Tax included" : "Tax"} (${f.percent(invoice.taxRateBasisPoints)})`;
	const due = Math.max(0, invoice.total - invoice.amountPaid);
	const rows: SafeHtml[] = [html`<tr><th>Subtotal</th><td class="num">${f.money(invoice.subtotal)}</td></tr>`];
	if (invoice.discount !== 0) rows.push(html`<tr><th>${discountLine?.description ?? "Discount"}</th><td class="num">${f.money(-invoice.discount)}</td></tr>`);
	if (invoice.tax !== 0 || invoice.taxRateBasisPoints > 0) rows.push(html`<tr><th>${taxLabel}</th><td class="num">${f.money(invoice.tax)}</td></tr>`);
	rows.push(html`<tr class="total"><th>Total</th><td class="num">${f.money(invoice.total)}</td></tr>`);
	if (invoice.amountPaid !== 0) rows.push(html`<tr><th>Amount paid</th><td class="num">${f.money(-invoice.amountPaid)}</td></tr>`);
	rows.push(html`<tr class="due"><th>Amount due</th><td class="num">${f.money(due)}</td></tr>`);
	return html`<table class="summary">${rows}</table>`;
}

const STYLE = `
@page { size: A4; margin: 18mm 16mm 20mm; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt; color: #1f2328; line-height: 1.4; }
header { display: flex; justify-content: space-between; align-items: flex-start; margin-bottom: 8mm; }
h1 { font-size: 22pt; margin: 0 0 2mm; letter-spacing: 0.5pt; }
h2 { font-size: 8pt; text-transform: uppercase; color: #57606a; margin: 0 0 1.5mm; letter-spacing: 0.5pt; }
.stamp { display: inline-block; border: 1.5pt solid #cf222e; color: #cf222e; padding: 1mm 3mm; font-weight: bold; text-transform: uppercase; }
.stamp.paid { border-color: #1a7f37; color: #1a7f37; }
.meta { border-collapse: collapse; }
.meta th { text-align: left; font-weight: normal; color: #57606a; padding: 0.6mm 4mm 0.6mm 0; }
.meta td { padding: 0.6mm 0; }
.parties { display: flex; gap: 12mm; margin-bottom: 8mm; }
.party { flex: 1; }
.party .name { font-weight: bold; }
table.lines { width: 100%; border-collapse: collapse; margin-bottom: 6mm; }
table.lines th { text-align: left; font-size: 8pt; text-transform: uppercase; color: #57606a; border-bottom: 1pt solid #d0d7de; padding: 1.5mm 2mm; }
table.lines td { padding: 1.5mm 2mm; vertical-align: top; }
table.lines tr.item td { border-top: 0.5pt solid #eaeef2; }
table.lines tr.detail td { color: #57606a; font-size: 8.5pt; padding-top: 0.3mm; padding-bottom: 0.3mm; }
table.lines tr.detail td:first-child { padding-left: 6mm; }
tr { break-inside: avoid; }
.sub { color: #57606a; font-size: 8pt; }
.num { text-align: right; white-space: nowrap; }
table.lines th.num { text-align: right; }
table.summary { margin-left: auto; border-collapse: collapse; min-width: 75mm; }
table.summary th { text-align: left; font-weight: normal; padding: 1mm 6mm 1mm 0; }
table.summary td { padding: 1mm 0; }
table.summary tr.total th, table.summary tr.total td { border-top: 1pt solid #d0d7de; font-weight: bold; }
table.summary tr.due th, table.summary tr.due td { font-weight: bold; font-size: 11pt; }
footer { margin-top: 10mm; color: #57606a; font-size: 8pt; }
`;

/** The invoice as a complete HTML document (no scripts, no external resources). */
export function renderInvoiceHtml(invoice: PublicInvoice, options: InvoiceDocumentOptions): string {
	const locale = options.locale ?? "en";
	const f = formatsFor(invoice.currency, locale);
	const status = STATUS_LABELS[invoice.status];
	const title = invoice.number ? `Invoice ${invoice.number}` : "Draft invoice";
	const items = invoice.lines.filter((line) => ITEM_KINDS.has(line.kind));
	const meta: Array<[string, string]> = [
		["Invoice number", invoice.number ?? "Draft"],
		["Date of issue", f.date(invoice.issuedAt) || "Not issued"],
		["Billing period", f.period(invoice.periodStart, invoice.periodEnd)],
		["Reason", REASONS[invoice.reason] ?? invoice.reason],
		["Customer ID", invoice.tenantId],
	];
	if (invoice.paidAt) meta.push(["Paid on", f.date(invoice.paidAt)]);
	if (invoice.voidedAt) meta.push(["Voided on", f.date(invoice.voidedAt)]);
	const document = html`<!doctype html>
<html lang="${locale}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${title}</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<header>
<div><h1>Invoice</h1>${status ? html`<span class="stamp ${invoice.status}">${status}</span>` : ""}</div>
<table class="meta">${meta.filter(([, value]) => value).map(([label, value]) => html`<tr><th>${label}</th><td>${value}</td></tr>`)}</table>
</header>
<section class="parties">${party("From", options.seller)}${party("Bill to", options.customer)}</section>
<table class="lines">
<thead><tr><th>Description</th><th>Period</th><th class="num">Qty</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
<tbody>${items.map((line) => lineRows(line, f))}</tbody>
</table>
${summary(invoice, f)}
<footer>Amounts in ${invoice.currency}. Each line is rounded once, half away from zero, to the currency's minor unit; totals add the rounded lines.${invoice.taxInclusive ? " Prices include tax." : ""} Invoice ID ${invoice.id}.</footer>
</body>
</html>
`;
	return document.value;
}
