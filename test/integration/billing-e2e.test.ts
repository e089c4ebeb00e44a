/**
 * Issue 14's "Done when", end to end through the gateway on a cluster over NATS: billing (plans, usage and the
 * billing engine) on its own node; gateway, identity, files, notifications and commerce (payments with Stripe
 * configured against the local Stripe-compatible server, which sends its signed webhooks to the gateway) on
 * another. Real PostgreSQL, NATS JetStream, S3 (the run's s3rver), SMTP (smtp-server fixture) and Chromium.
 *
 * A super admin creates a billable metric and two plans; a tenant owner saves a card (set-up → Stripe's
 * confirmation → webhook) and subscribes with a 14-day trial; the test clock passes the trial notice and the
 * trial's end (first invoice paid by card, off-session); 10,000 distinct usage events arrive in batches of 1,000
 * with replays; an upgrade mid-period is prorated to the day on its own invoice; the renewal invoices the new
 * period's fixed fee and the ended period's metered usage (graduated tiers), and its PDF says so; then the card
 * fails: past_due, a dunning email per failed attempt, retries 1, 3, 5 and 7 days after the first failure, unpaid
 * (the free plan's storage quota refuses an upload), and paying the invoice makes the subscription active again
 * (the upload goes through).
 *
 * Every amount is computed here from the plans' prices and the period's dates, independently of money.ts.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { extractText } from "unpdf";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { checkAnswer } from "../helpers/contract";
import { sql } from "../helpers/db";
import { removeStreams } from "../helpers/jetstream";
import { startStripeApiFixture, type StripeApiFixture } from "../fixtures/stripe-api";
import { firstAddress, startSmtpServer, type SmtpFixture } from "../fixtures/smtp-server";
import { formatMoney } from "../../lib/currency";
import type { PublicInvoice, PublicPlan, PublicSubscription, UsageSummary } from "../../services/billing/contracts";

const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-billing-e2e`;
const ADMIN = { email: "billing-e2e-root@lattice.test", password: "billing e2e secret 1" };
const SECRET_KEY = "sk_test_lattice_billing_e2e";
const WEBHOOK_SECRET = "whsec_lattice_billing_e2e";
const DAY = 86_400_000;
const tag = Date.now().toString(36);
const METRIC = `api_calls_${tag}`;
const STARTER = `e2e-starter-${tag}`;
const PRO = `e2e-pro-${tag}`;
/** The free plan's storage quota during this file (restored after it): tiny, so a few kB are over it. */
const FREE_STORAGE_BYTES = 2_000;
const PLAN_STORAGE_BYTES = 5_000_000;
const TAX_BASIS_POINTS = 1000;

type Page<T> = { rows: T[]; total: number };
interface Tier {
	upTo: number | null;
	unitAmount: number;
	flatAmount: number;
}

const STARTER_CHARGE = {
	metric: METRIC,
	model: "graduated",
	freeUnits: 1000,
	tiers: [
		{ upTo: 5000, unitAmount: 2, flatAmount: 0 },
		{ upTo: null, unitAmount: 1, flatAmount: 300 },
	] as Tier[],
};
const PRO_CHARGE = {
	metric: METRIC,
	model: "graduated",
	freeUnits: 2000,
	tiers: [
		{ upTo: 5000, unitAmount: 3, flatAmount: 0 },
		{ upTo: null, unitAmount: 1, flatAmount: 500 },
	] as Tier[],
};

let smtp: SmtpFixture;
let stripe: StripeApiFixture;
let front: RunningNode;
let back: RunningNode;
let api: ApiClient;
let adminToken: string;
let freeLimitsBefore: Record<string, number> | undefined;

const owner = { token: "", tenantId: "", email: "" };
/** The saved card's PaymentMethod at "Stripe" (what declineCharges names). */
let cardPm = "";
let trialStart: Date;
let periodStart: Date;
let periodEnd: Date;
let nextEnd: Date;
const usd = (amount: number) => formatMoney(amount, "USD");

/** Graduated price of `quantity` after `freeUnits`, written out here (not money.ts): each tier's units at its price plus its flat fee. */
function graduated(charge: { freeUnits: number; tiers: Tier[] }, quantity: number): { amount: number; billable: number; tiers: Array<{ units: number; amount: number }> } {
	const billable = Math.max(0, quantity - charge.freeUnits);
	const tiers: Array<{ units: number; amount: number }> = [];
	let floor = 0;
	for (const tier of charge.tiers) {
		if (billable <= floor) break;
		const units = Math.min(billable, tier.upTo ?? Infinity) - floor;
		tiers.push({ units, amount: units * tier.unitAmount + tier.flatAmount });
		floor = tier.upTo ?? Infinity;
	}
	return { amount: tiers.reduce((sum, tier) => sum + tier.amount, 0), billable, tiers };
}

/** amount × part / whole, half away from zero (every value here is positive, where Math.round does that). */
function share(amount: number, part: number, whole: number): number {
	return Math.round((amount * part) / whole);
}

async function waitUntil<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
	const started = Date.now();
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

async function advance(body: Record<string, unknown>): Promise<{ now: string; ran: number }> {
	const response = await api.post<{ tenantId: string; now: string; ran: number }>("/billing/test-clocks/advance", { tenantId: owner.tenantId, ...body }, { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body;
}

async function current(): Promise<PublicSubscription> {
	const response = await api.get<PublicSubscription>("/subscriptions/current", { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body;
}

/** Newest first. */
async function invoices(): Promise<PublicInvoice[]> {
	const response = await api.get<Page<PublicInvoice>>("/invoices?pageSize=100", { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body.rows;
}

async function invoice(id: string): Promise<PublicInvoice> {
	const response = await api.get<PublicInvoice>(`/invoices/${id}`, { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body;
}

/** What gapless numbering gives the tenant's invoices (oldest first): 1, 2, 3 … within each year of issue. */
function expectedNumbers(oldestFirst: PublicInvoice[]): string[] {
	const counts = new Map<number, number>();
	return oldestFirst.map((item) => {
		const year = new Date(item.issuedAt!).getUTCFullYear();
		counts.set(year, (counts.get(year) ?? 0) + 1);
		return `INV-${year}-${String(counts.get(year)).padStart(6, "0")}`;
	});
}

/** POST /files (multipart) as the owner: the status and problem code files answers. */
async function upload(name: string, bytes: number): Promise<{ status: number; code?: string }> {
	const form = new FormData();
	form.append("file", new Blob([Buffer.from("x".repeat(bytes))], { type: "text/plain" }), name);
	const response = await fetch(`${front.url}/api/v1/files`, { method: "POST", headers: { Authorization: `Bearer ${owner.token}`, "X-Forwarded-For": uniqueIp() }, body: form });
	const body = (await response.json()) as { code?: string };
	return { status: response.status, code: body.code };
}

/** The tenant's effective limits as files sees them (tenants.checkLimit's source), once billing's broadcast has reached tenants. */
async function limitsBecome(plan: string, status: string): Promise<Record<string, number>> {
	return waitUntil(`limits of ${plan} (${status})`, async () => {
		const response = await api.get<{ plan: string; subscriptionStatus: string | null; limits: Record<string, number> }>(`/tenants/${owner.tenantId}/limits`, { token: owner.token });
		expect(response.status).toBe(200);
		return response.body.plan === plan && response.body.subscriptionStatus === status ? response.body.limits : undefined;
	});
}

const paymentFailedMails = (number: string) =>
	smtp.received.filter((mail) => firstAddress(mail.to)?.address?.toLowerCase() === owner.email.toLowerCase() && (mail.subject ?? "").startsWith(`Payment failed for invoice ${number} `));

async function pdfText(pdf: ArrayBuffer): Promise<string> {
	const { text } = await extractText(new Uint8Array(pdf), { mergePages: true });
	return text.replace(/\s+/g, " ");
}

beforeAll(async () => {
	smtp = await startSmtpServer();
	stripe = await startStripeApiFixture({ secretKey: SECRET_KEY });
	const cluster = { TRANSPORTER: testEnv.natsUrl, NAMESPACE: namespace, TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000" };
	front = await startNode({
		...cluster,
		SERVICES: "gateway,platform,identity,files,notifications,commerce",
		BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
		BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
		SMTP_URL: smtp.url,
		APP_URL: "https://app.lattice.test",
		PUBLIC_URL: "https://api.lattice.test",
		STRIPE_SECRET_KEY: SECRET_KEY,
		STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
		STRIPE_API_BASE: stripe.url,
	});
	stripe.sendWebhooksTo(`${front.url}/api/v1/webhooks/stripe`, WEBHOOK_SECRET);
	// Billing's domain (plans, usage, the engine) on a node of its own.
	back = await startNode({ ...cluster, SERVICES: "billing" });
	await front.broker.waitForServices(["billing", "plans", "usage", "payments", "files", "tenants", "notifications"], 30_000);
	api = apiClient(front.url);
	adminToken = await loginWhenReady(api, ADMIN);
	// The gateway learns the billing node's routes when it joins.
	await waitUntil("billing's routes at the gateway", async () => {
		const probes = await Promise.all(["/subscriptions/current", "/usage", "/billable-metrics"].map((path) => fetch(`${front.url}/api/v1${path}`).then((response) => response.status)));
		return probes.every((status) => status === 401) ? true : undefined;
	});

	// The free plan's storage quota made tiny for this file (a new version of the free plan; restored after it).
	const free = await api.get<PublicPlan>("/plans/free");
	expect(free.status).toBe(200);
	freeLimitsBefore = free.body.limits;
	const tiny = await api.put<PublicPlan>("/plans/free", { limits: { ...free.body.limits, storageBytes: FREE_STORAGE_BYTES } }, { token: adminToken });
	expect(tiny.status, JSON.stringify(tiny.body)).toBe(200);
	expect(tiny.body.limits.storageBytes).toBe(FREE_STORAGE_BYTES);
}, 90_000);

afterAll(async () => {
	if (freeLimitsBefore && adminToken) await api.put("/plans/free", { limits: freeLimitsBefore }, { token: adminToken });
	await back?.stop();
	await front?.stop();
	await stripe?.close();
	await smtp?.close();
	await removeStreams(namespace);
});

describe("billing end to end", () => {
	it("a super admin creates a metric and plans; an owner saves a card and subscribes with a 14-day trial", async () => {
		const metric = await api.post("/billable-metrics", { code: METRIC, name: "API calls", aggregation: "count" }, { token: adminToken });
		expect(metric.status, JSON.stringify(metric.body)).toBe(201);
		const starter = await api.post<PublicPlan>(
			"/plans",
			{ code: STARTER, name: "Starter", interval: "month", amount: 2900, currency: "USD", trialDays: 14, limits: { storageBytes: PLAN_STORAGE_BYTES, members: 10 }, charges: [STARTER_CHARGE] },
			{ token: adminToken },
		);
		expect(starter.status, JSON.stringify(starter.body)).toBe(201);
		const pro = await api.post<PublicPlan>(
			"/plans",
			{ code: PRO, name: "Pro", interval: "month", amount: 9900, currency: "USD", limits: { storageBytes: PLAN_STORAGE_BYTES, members: 50 }, charges: [PRO_CHARGE] },
			{ token: adminToken },
		);
		expect(pro.status, JSON.stringify(pro.body)).toBe(201);
		expect((await api.get<PublicPlan>(`/plans/${STARTER}`)).body).toMatchObject({ code: STARTER, trialDays: 14, charges: [{ metric: METRIC, model: "graduated", freeUnits: 1000 }] });

		owner.email = uniqueEmail("e2e-owner");
		const registered = await api.post<{ accessToken: string; tenant: { id: string } }>(
			"/auth/register",
			{ email: owner.email, password: "correct horse battery", fullName: "Erin Owner", organization: `E2E Billing ${tag}` },
			{ ip: uniqueIp() },
		);
		expect(registered.status, JSON.stringify(registered.body)).toBe(201);
		owner.token = registered.body.accessToken;
		owner.tenantId = registered.body.tenant.id;
		const tax = await api.put("/billing/account", { tenantId: owner.tenantId, taxRateBasisPoints: TAX_BASIS_POINTS }, { token: adminToken });
		expect(tax.status, JSON.stringify(tax.body)).toBe(200);

		// The card, saved as a browser does it: a set-up, Stripe.js's confirmation (the fixture), Stripe's webhook.
		const setup = await api.post<{ setupIntentId: string }>("/payment-methods/setup", {}, { token: owner.token });
		expect(setup.status, JSON.stringify(setup.body)).toBe(200);
		await stripe.confirmSetupIntent(setup.body.setupIntentId, "pm_card_visa");
		cardPm = stripe.setupIntents.get(setup.body.setupIntentId)!.payment_method!;
		const cards = await api.get<Array<{ last4: string; isDefault: boolean }>>("/payment-methods", { token: owner.token });
		expect(cards.body.map((card) => [card.last4, card.isDefault])).toEqual([["4242", true]]);

		const created = await api.post<PublicSubscription>("/subscriptions", { planCode: STARTER, paymentMethod: "credit_card" }, { token: owner.token });
		expect(created.status, JSON.stringify(created.body)).toBe(201);
		expect(created.body).toMatchObject({ status: "trialing", paymentMethod: "credit_card", plan: { code: STARTER }, trialStart: created.body.currentPeriodStart, trialEnd: created.body.currentPeriodEnd });
		trialStart = new Date(created.body.currentPeriodStart);
		expect(new Date(created.body.currentPeriodEnd).getTime() - trialStart.getTime()).toBe(14 * DAY);
		expect(await invoices()).toEqual([]);
	});

	it("the test clock passes the trial: the notice three days before, then the first invoice paid by card off-session", async () => {
		expect((await advance({ days: 11 })).ran).toBe(1);
		const types = await sql<{ type: string }>("SELECT payload->>'type' AS type FROM billing.outbox WHERE payload->>'tenantId' = $1 ORDER BY created_at, id", [owner.tenantId]);
		expect(types.map((row) => row.type)).toEqual(["subscription.created", "subscription.trial_will_end"]);
		const notice = await smtp.waitForMail(owner.email, /^The Starter trial of .* ends on /, 20_000);
		expect(notice.text).toContain(`its first invoice of ${usd(2900)} is charged`);
		expect((await current()).status).toBe("trialing");

		expect((await advance({ days: 3 })).ran).toBe(1);
		const subscription = await current();
		periodStart = new Date(subscription.currentPeriodStart);
		periodEnd = new Date(subscription.currentPeriodEnd);
		expect(subscription.status).toBe("active");
		expect(periodStart.getTime()).toBe(trialStart.getTime() + 14 * DAY);
		const [first] = await invoices();
		const tax = share(2900, TAX_BASIS_POINTS, 10_000);
		expect(first).toMatchObject({ reason: "trial_end", status: "paid", subtotal: 2900, discount: 0, tax, total: 2900 + tax, amountPaid: 2900 + tax, paymentAttempts: 0 });
		expect(first.lines.map((line) => [line.kind, line.amount])).toEqual([
			["fixed_fee", 2900],
			["tax", tax],
		]);
		// Charged off-session at "Stripe" with the saved card, for exactly the invoice's total.
		const intent = [...stripe.intents.values()].find((item) => item.metadata.payableId === first.id)!;
		expect(intent).toMatchObject({ status: "succeeded", amount: 2900 + tax, currency: "usd", payment_method: cardPm, metadata: { payableType: "invoice" } });
	});

	it("records 10,000 distinct usage events in batches of 1,000, replays counted once; GET /usage shows the count and its price", async () => {
		const id = (n: number) => `e2e-${tag}-${n}`;
		const batch = (ids: number[]) => ({ events: ids.map((n) => ({ transactionId: id(n), metric: METRIC })) });
		const range = (from: number, count: number) => Array.from({ length: count }, (_, index) => from + index);
		const batches: Array<[number[], number]> = [
			...range(0, 9).map((b): [number[], number] => [range(b * 1000, 1000), 1000]),
			// Half a replay of batch 0, half new.
			[[...range(0, 500), ...range(9000, 500)], 500],
			// Half new, half a replay of batch 4.
			[[...range(9500, 500), ...range(4000, 500)], 500],
			// Batch 2 again, whole.
			[range(2000, 1000), 0],
		];
		let recorded = 0;
		for (const [ids, fresh] of batches) {
			const response = await api.post<{ accepted: number; recorded: number; duplicates: number }>("/usage-events", batch(ids), { token: owner.token });
			expect(response.status, JSON.stringify(response.body)).toBe(202);
			expect(response.body).toEqual({ accepted: 1000, recorded: fresh, duplicates: 1000 - fresh });
			recorded += response.body.recorded;
		}
		expect(recorded).toBe(10_000);

		const usage = await api.get<UsageSummary>("/usage", { token: owner.token });
		expect(usage.status, JSON.stringify(usage.body)).toBe(200);
		const price = graduated(STARTER_CHARGE, 10_000);
		expect(price.amount).toBe(5000 * 2 + (4000 * 1 + 300));
		expect(usage.body).toMatchObject({ tenantId: owner.tenantId, periodStart: periodStart.toISOString(), periodEnd: periodEnd.toISOString(), currency: "USD" });
		expect(usage.body.metrics).toEqual([{ metric: METRIC, aggregation: "count", quantity: 10_000, included: 1000, billable: 9000, estimatedAmount: price.amount, hardLimit: null }]);
	});

	it("upgrades mid-period at once, prorated to the day on a subscription_update invoice paid by card", async () => {
		await advance({ to: new Date(periodStart.getTime() + 10 * DAY).toISOString() });
		const response = await api.put<PublicSubscription>("/subscriptions/current", { planCode: PRO }, { token: owner.token });
		expect(response.status, JSON.stringify(response.body)).toBe(200);
		expect(response.body).toMatchObject({ status: "active", plan: { code: PRO }, currentPeriodStart: periodStart.toISOString(), currentPeriodEnd: periodEnd.toISOString() });

		const periodDays = Math.round((periodEnd.getTime() - periodStart.getTime()) / DAY);
		expect([28, 29, 30, 31]).toContain(periodDays);
		const remaining = periodDays - 10;
		const credit = share(2900, remaining, periodDays);
		const charge = share(9900, remaining, periodDays);
		const subtotal = charge - credit;
		const tax = share(subtotal, TAX_BASIS_POINTS, 10_000);
		const [update] = await invoices();
		expect(update).toMatchObject({ reason: "subscription_update", status: "paid", subtotal, discount: 0, tax, total: subtotal + tax, amountPaid: subtotal + tax, periodEnd: periodEnd.toISOString() });
		expect(update.lines.map((line) => [line.kind, line.quantity, line.amount])).toEqual([
			["proration_credit", remaining, -credit],
			["proration_charge", remaining, charge],
			["tax", 1, tax],
		]);
		expect(update.lines[0].description).toBe(`Unused time on Starter (${remaining} of ${periodDays} days)`);
		expect(update.lines[1].description).toBe(`Remaining time on Pro (${remaining} of ${periodDays} days)`);
		expect([...stripe.intents.values()].find((item) => item.metadata.payableId === update.id)).toMatchObject({ status: "succeeded", amount: subtotal + tax });

		// The period's usage is now priced by Pro's charge.
		const usage = await api.get<UsageSummary>("/usage", { token: owner.token });
		expect(usage.body.metrics).toEqual([{ metric: METRIC, aggregation: "count", quantity: 10_000, included: 2000, billable: 8000, estimatedAmount: graduated(PRO_CHARGE, 10_000).amount, hardLimit: null }]);
	});

	it("renews at the period end: the new period's fixed fee and the ended period's metered usage, exact; its PDF says so", async () => {
		expect((await advance({ to: periodEnd.toISOString() })).ran).toBe(1);
		const subscription = await current();
		nextEnd = new Date(subscription.currentPeriodEnd);
		expect(subscription).toMatchObject({ status: "active", plan: { code: PRO }, currentPeriodStart: periodEnd.toISOString() });

		const price = graduated(PRO_CHARGE, 10_000);
		expect(price).toEqual({ amount: 5000 * 3 + (3000 * 1 + 500), billable: 8000, tiers: [{ units: 5000, amount: 15_000 }, { units: 3000, amount: 3500 }] });
		const subtotal = 9900 + price.amount;
		const tax = share(subtotal, TAX_BASIS_POINTS, 10_000);
		const all = await invoices();
		const cycle = all[0];
		expect(cycle).toMatchObject({
			reason: "subscription_cycle",
			status: "paid",
			currency: "USD",
			subtotal,
			discount: 0,
			tax,
			total: subtotal + tax,
			amountPaid: subtotal + tax,
			periodStart: periodStart.toISOString(),
			periodEnd: periodEnd.toISOString(),
		});
		// The design puts the proration on the upgrade's own invoice (charged at once), not on the renewal.
		expect(cycle.lines.map((line) => [line.kind, line.metric, line.quantity, line.amount])).toEqual([
			["fixed_fee", null, 1, 9900],
			["metered", METRIC, 10_000, price.amount],
			["tax", null, 1, tax],
		]);
		expect(cycle.lines[0]).toMatchObject({ description: "Pro (monthly fee)", periodStart: periodEnd.toISOString(), periodEnd: nextEnd.toISOString() });
		expect(cycle.lines[1]).toMatchObject({ periodStart: periodStart.toISOString(), periodEnd: periodEnd.toISOString() });
		expect(cycle.lines[1].details).toMatchObject({ model: "graduated", freeUnits: 2000, included: 2000, billable: 8000, tiers: price.tiers.map((tier) => expect.objectContaining(tier)) });
		expect(cycle.lines.reduce((sum, line) => sum + line.amount, 0)).toBe(cycle.total);
		// Numbered without gaps per year of issue, oldest first: trial end, upgrade, renewal.
		const oldestFirst = [...all].reverse();
		expect(oldestFirst.map((item) => item.reason)).toEqual(["trial_end", "subscription_update", "subscription_cycle"]);
		expect(oldestFirst.map((item) => item.number)).toEqual(expectedNumbers(oldestFirst));

		// The PDF: rendered by billing's durable consumer, stored through files, downloaded through the redirect.
		const withPdf = await waitUntil("the renewal's PDF", async () => {
			const read = await invoice(cycle.id);
			return read.pdfUrl ? read : undefined;
		});
		expect(withPdf.pdfUrl).toBe(`/api/v1/invoices/${cycle.id}/pdf`);
		const url = `${front.url}/api/v1/invoices/${cycle.id}/pdf`;
		const redirect = await fetch(url, { headers: { Authorization: `Bearer ${owner.token}` }, redirect: "manual" });
		await checkAnswer(front.url, "GET", url, redirect.status, redirect.headers, "");
		expect(redirect.status).toBe(302);
		const download = await fetch(redirect.headers.get("location")!);
		expect(download.status).toBe(200);
		expect(download.headers.get("content-type")).toBe("application/pdf");
		const text = await pdfText(await download.arrayBuffer());
		expect(text).toContain(cycle.number!);
		expect(text).toContain(`E2E Billing ${tag}`);
		expect(text).toContain(`Pro (monthly fee)`);
		expect(text).toContain(`${usd(9900)} ${usd(9900)}`);
		expect(text).toContain(`API calls: 10000 (2000 included) ${METRIC}`);
		expect(text).toContain(`10,000 ${usd(price.amount)}`);
		expect(text).toContain(`Included in the plan: 2,000 units 2,000 ${usd(0)} ${usd(0)}`);
		expect(text).toContain(`Tier 1 – 5,000 5,000 ${usd(3)} ${usd(15_000)}`);
		expect(text).toContain(`Tier 5,001 and above + ${usd(500)} flat 3,000 ${usd(1)} ${usd(3500)}`);
		expect(text).toContain(`Subtotal ${usd(subtotal)}`);
		expect(text).toContain(usd(tax));
		expect(text).toContain(`Total ${usd(subtotal + tax)}`);
	});

	it("the card fails at the next renewal: past_due, a dunning email per failure, retries on schedule, then unpaid and the free plan's quota", async () => {
		stripe.declineCharges(cardPm, "insufficient_funds");
		expect((await advance({ to: nextEnd.toISOString() })).ran).toBe(1);
		expect((await current()).status).toBe("past_due");
		const [open] = await invoices();
		const total = 9900 + share(9900, TAX_BASIS_POINTS, 10_000);
		expect(open).toMatchObject({ reason: "subscription_cycle", status: "open", total, amountPaid: 0, paymentAttempts: 1 });
		expect(open.lines.map((line) => [line.kind, line.quantity, line.amount])).toEqual([
			["fixed_fee", 1, 9900],
			["metered", 0, 0],
			["tax", 1, total - 9900],
		]);
		const intent = [...stripe.intents.values()].find((item) => item.metadata.payableId === open.id)!;
		expect(intent).toMatchObject({ status: "requires_payment_method", amount: total, last_payment_error: { decline_code: "insufficient_funds" } });
		const anchor = new Date(open.nextPaymentAttemptAt!).getTime() - DAY;
		expect(Math.abs(anchor - new Date(open.issuedAt!).getTime())).toBeLessThan(60_000);
		const first = await waitUntil("the first dunning email", () => paymentFailedMails(open.number!)[0]);
		expect(first.text).toContain(`The payment of ${usd(total)} for invoice ${open.number}`);
		expect(first.text).toContain("We will try again on");

		// past_due keeps the plan's limits: an upload over the free plan's quota still goes through.
		expect((await limitsBecome(PRO, "past_due")).storageBytes).toBe(PLAN_STORAGE_BYTES);
		expect(await upload("before.txt", 3000)).toMatchObject({ status: 201 });

		for (const [days, attempts, nextDay] of [
			[1, 2, 3],
			[2, 3, 5],
			[2, 4, 7],
		] as const) {
			expect((await advance({ days })).ran).toBe(1);
			const after = await invoice(open.id);
			expect(after).toMatchObject({ status: "open", paymentAttempts: attempts });
			expect(new Date(after.nextPaymentAttemptAt!).getTime()).toBe(anchor + nextDay * DAY);
			expect((await current()).status).toBe("past_due");
			await waitUntil(`dunning email ${attempts}`, () => (paymentFailedMails(open.number!).length >= attempts ? true : undefined));
		}
		expect((await advance({ days: 2 })).ran).toBe(1);
		expect(await invoice(open.id)).toMatchObject({ status: "open", paymentAttempts: 5, nextPaymentAttemptAt: null });
		expect((await current()).status).toBe("unpaid");
		const mails = await waitUntil("the fifth dunning email", () => (paymentFailedMails(open.number!).length >= 5 ? paymentFailedMails(open.number!) : undefined));
		expect(mails).toHaveLength(5);
		expect(mails[4].text).toContain("No further automatic attempt is scheduled");
		expect([...stripe.intents.values()].filter((item) => item.metadata.payableId === open.id).map((item) => item.status)).toEqual(Array(5).fill("requires_payment_method"));

		// Unpaid: the free plan's limits, whose storage quota the 3,000 bytes stored already exceed.
		expect((await limitsBecome("free", "unpaid")).storageBytes).toBe(FREE_STORAGE_BYTES);
		expect(await upload("refused.txt", 100)).toEqual({ status: 413, code: "QUOTA_EXCEEDED" });
	});

	it("paying the open invoice (the card works again) makes the subscription active at once, and the upload goes through", async () => {
		stripe.declineCharges(cardPm, null);
		const [open] = await invoices();
		const paid = await api.post<PublicInvoice>(`/invoices/${open.id}/pay`, {}, { token: owner.token });
		expect(paid.status, JSON.stringify(paid.body)).toBe(200);
		expect(paid.body).toMatchObject({ status: "paid", amountPaid: open.total, nextPaymentAttemptAt: null });
		expect((await current()).status).toBe("active");
		expect((await limitsBecome(PRO, "active")).storageBytes).toBe(PLAN_STORAGE_BYTES);
		expect(await upload("after.txt", 100)).toMatchObject({ status: 201 });
		const pending = await sql("SELECT id FROM billing.jobs WHERE tenant_id = $1 AND kind = 'payment_retry' AND status = 'pending'", [owner.tenantId]);
		expect(pending).toEqual([]);
	});
});
