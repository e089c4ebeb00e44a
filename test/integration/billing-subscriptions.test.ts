/**
 * Billing through the gateway on a cluster (billing on its own node, over NATS; real PostgreSQL and
 * JetStream): a tenant subscribes with a 14-day trial and a card, the test clock passes the trial notice and
 * the trial's end (first invoice, paid by card), an upgrade mid-period is prorated to the day, and the
 * renewal invoices the new period's fee, the metered usage of the ended one (tiers), the coupon and tax;
 * invoice numbers run without gaps per tenant. A downgrade waits for the period end; cancel and resume.
 *
 * Billing's neighbours that are built elsewhere (plans, usage, payments) are the stand-ins of
 * test/helpers/billing-stubs.ts, on the gateway's node: what they answer is decided here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import type { Context } from "moleculer";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { removeStreams } from "../helpers/jetstream";
import { BillingNeighbours } from "../helpers/billing-stubs";
import { addInterval } from "../../services/billing/money";
import { BILLING_CHANNELS, type BillingMessage, type PublicInvoice, type PublicSubscription } from "../../services/billing/contracts";

const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-billing`;
const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const DAY = 86_400_000;

interface Owner {
	token: string;
	tenantId: string;
	userId: string;
}

type Page<T> = { rows: T[]; total: number };

let front: RunningNode;
let back: RunningNode;
let api: ApiClient;
let adminToken: string;
const stubs = new BillingNeighbours();
const heard: BillingMessage[] = [];
/** Broadcasts heard on the gateway's node: `<event> <tenantId>`. */
const broadcasts: string[] = [];

const free = stubs.addPlan({ code: "free", amount: 0, limits: { members: 5, storageBytes: 1024 ** 3 } });
const starter = stubs.addPlan({
	code: "starter",
	amount: 2900,
	trialDays: 14,
	limits: { members: 10, storageBytes: 10 * 1024 ** 3 },
	features: { exports: true },
	charges: [{ metric: "screenshots", model: "per_unit", freeUnits: 100, unitAmount: 5 }],
});
const pro = stubs.addPlan({
	code: "pro",
	amount: 9900,
	limits: { members: 50 },
	charges: [
		{
			metric: "screenshots",
			model: "graduated",
			freeUnits: 0,
			tiers: [
				{ upTo: 1000, unitAmount: 3, flatAmount: 0 },
				{ upTo: null, unitAmount: 1, flatAmount: 500 },
			],
		},
		{ metric: "api_calls", model: "package", freeUnits: 0, packageSize: 1000, packageAmount: 200 },
	],
});
const basic = stubs.addPlan({ code: "basic", amount: 1900, limits: { members: 8 } });
stubs.addPlan({ code: "yearly", amount: 99000, interval: "year" });
stubs.addPlan({ code: "euro", amount: 2900, currency: "EUR" });
stubs.addPlan({ code: "retired", amount: 500, status: "archived" });
stubs.addCoupon({ code: "HALF3", duration: "repeating", durationPeriods: 3, percentOffBasisPoints: 5000 });
stubs.metrics.push(
	{ code: "screenshots", name: "Screenshots", description: "", aggregation: "count", field: null, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() },
	{ code: "api_calls", name: "API calls", description: "", aggregation: "count", field: null, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() },
);

async function register(label: string): Promise<Owner> {
	const response = await api.post<{ accessToken: string; tenant: { id: string }; user: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: "correct horse battery", fullName: `${label} Owner`, organization: `${label} Inc` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id, userId: response.body.user.id };
}

async function advance(owner: Owner, body: Record<string, unknown>): Promise<{ now: string; ran: number }> {
	const response = await api.post<{ tenantId: string; now: string; ran: number }>("/billing/test-clocks/advance", { tenantId: owner.tenantId, ...body }, { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	expect(response.body.tenantId).toBe(owner.tenantId);
	return response.body;
}

async function current(owner: Owner): Promise<PublicSubscription> {
	const response = await api.get<PublicSubscription>("/subscriptions/current", { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body;
}

async function invoices(owner: Owner): Promise<PublicInvoice[]> {
	const response = await api.get<Page<PublicInvoice>>("/invoices?pageSize=100", { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body.rows;
}

/** The tenant's billing messages in the order they were written (the outbox keeps what it published). */
async function messages(tenantId: string): Promise<BillingMessage[]> {
	const rows = await sql<{ payload: BillingMessage; channel: string }>("SELECT channel, payload FROM billing.outbox WHERE payload->>'tenantId' = $1 ORDER BY created_at, id", [tenantId]);
	for (const row of rows) expect(row.channel).toBe(BILLING_CHANNELS[row.payload.type]);
	return rows.map((row) => row.payload);
}

async function subscribe(owner: Owner, body: Record<string, unknown>): Promise<PublicSubscription> {
	const response = await api.post<PublicSubscription>("/subscriptions", body, { token: owner.token });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	expect(response.headers.get("location")).toBe("/api/v1/subscriptions/current");
	return response.body;
}

/** What gapless numbering gives invoices (newest first, as listed), oldest first: 1, 2, 3 … within each year of issue. */
function expectedNumbers(newestFirst: PublicInvoice[]): string[] {
	const counts = new Map<number, number>();
	return [...newestFirst].reverse().map((invoice) => {
		const year = new Date(invoice.issuedAt!).getUTCFullYear();
		counts.set(year, (counts.get(year) ?? 0) + 1);
		return `INV-${year}-${String(counts.get(year)).padStart(6, "0")}`;
	});
}

/** Half away from zero, as billing rounds (amounts here are positive, where Math.round does the same). */
function share(amount: number, part: number, whole: number): number {
	return Math.round((amount * part) / whole);
}

beforeAll(async () => {
	const cluster = { TRANSPORTER: testEnv.natsUrl, NAMESPACE: namespace, TRUST_PROXY: "true", RATE_LIMIT_MAX: "100000" };
	front = await startNode({ ...cluster, SERVICES: "gateway,identity,platform", BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password });
	stubs.install(front.broker);
	front.broker.createService({
		name: "billing-test-listener",
		events: {
			"billing.limitsChanged"(ctx: Context<{ tenantId: string }>) {
				broadcasts.push(`${ctx.eventName} ${ctx.params.tenantId}`);
			},
			"billing.periodChanged"(ctx: Context<{ tenantId: string }>) {
				broadcasts.push(`${ctx.eventName} ${ctx.params.tenantId}`);
			},
		},
		channels: {
			[BILLING_CHANNELS["subscription.trial_will_end"]]: {
				group: "billing-test",
				handler(message: BillingMessage) {
					heard.push(message);
				},
			},
		},
	});
	// Only the billing service of the domain: its neighbours are the stand-ins above.
	back = await startNode({ ...cluster, SERVICES: "billing/billing" });
	await front.broker.waitForServices(["billing", "plans", "usage", "payments", "tenants"]);
	api = apiClient(front.url);
	adminToken = await loginWhenReady(api, ADMIN);
	// The gateway learns billing's routes when the billing node joins.
	for (let attempt = 0; attempt < 100; attempt += 1) {
		const probe = await fetch(`${front.url}/api/v1/subscriptions/current`);
		if (probe.status === 401) break;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}, 90_000);

afterAll(async () => {
	await back?.stop();
	await front?.stop();
	await removeStreams(namespace);
});

describe("a subscription's life through the test clock", () => {
	let owner: Owner;
	let trialStart: Date;
	let periodStart: Date;
	let periodEnd: Date;

	it("refuses a card subscription without a saved card, then subscribes with a 14-day trial and a coupon", async () => {
		owner = await register("trial");
		const tax = await api.put("/billing/account", { tenantId: owner.tenantId, taxRateBasisPoints: 1000 }, { token: adminToken });
		expect(tax.status, JSON.stringify(tax.body)).toBe(200);
		expect(tax.body).toMatchObject({ tenantId: owner.tenantId, taxRateBasisPoints: 1000, taxInclusive: false });

		const noCard = await api.post("/subscriptions", { planCode: "starter", paymentMethod: "credit_card" }, { token: owner.token });
		expect(noCard.status).toBe(422);
		expect(noCard.body).toMatchObject({ code: "PAYMENT_METHOD_REQUIRED" });
		stubs.cards.set(owner.tenantId, "succeed");

		const subscription = await subscribe(owner, { planCode: "starter", paymentMethod: "credit_card", couponCode: "HALF3" });
		trialStart = new Date(subscription.currentPeriodStart);
		expect(subscription).toMatchObject({
			tenantId: owner.tenantId,
			status: "trialing",
			paymentMethod: "credit_card",
			plan: { id: starter.id, code: "starter" },
			trialStart: subscription.currentPeriodStart,
			trialEnd: subscription.currentPeriodEnd,
			cancelAtPeriodEnd: false,
			pendingPlan: null,
			couponCode: "HALF3",
			couponPeriodsLeft: 3,
		});
		expect(new Date(subscription.currentPeriodEnd).getTime() - trialStart.getTime()).toBe(14 * DAY);
		expect(await current(owner)).toMatchObject({ id: subscription.id, status: "trialing" });
		expect(await invoices(owner)).toEqual([]);

		const again = await api.post("/subscriptions", { planCode: "basic", paymentMethod: "credit_card" }, { token: owner.token });
		expect(again.status).toBe(409);
		expect(again.body).toMatchObject({ code: "SUBSCRIPTION_EXISTS" });

		const created = await messages(owner.tenantId);
		expect(created.map((message) => message.type)).toEqual(["subscription.created"]);
		expect(created[0]).toMatchObject({ tenantId: owner.tenantId, ownerIds: [owner.userId], subscription: { id: subscription.id } });
	});

	it("announces the trial's end three days before it, through the outbox and its channel", async () => {
		const moved = await advance(owner, { days: 12 });
		expect(moved.ran).toBe(1);
		expect(new Date(moved.now).getTime() - trialStart.getTime()).toBeGreaterThanOrEqual(12 * DAY);
		expect((await messages(owner.tenantId)).map((message) => message.type)).toEqual(["subscription.created", "subscription.trial_will_end"]);
		for (let attempt = 0; attempt < 100 && !heard.some((message) => message.tenantId === owner.tenantId); attempt += 1) await new Promise((resolve) => setTimeout(resolve, 100));
		const notice = heard.find((message) => message.tenantId === owner.tenantId);
		expect(notice).toMatchObject({ type: "subscription.trial_will_end", ownerIds: [owner.userId], subscription: { status: "trialing" } });
		// Billing time when the job ran: its due time, three days before the trial ends (and the milliseconds it took).
		expect(new Date(notice!.occurredAt).getTime() - trialStart.getTime()).toBeGreaterThanOrEqual(11 * DAY);
		expect(new Date(notice!.occurredAt).getTime() - trialStart.getTime()).toBeLessThan(11 * DAY + 60_000);
		expect((await current(owner)).status).toBe("trialing");
		// The clock jumped: whoever keeps the tenant's period or billing time drops it.
		expect(broadcasts).toContain(`billing.periodChanged ${owner.tenantId}`);
	});

	it("ends the trial: the first period starts and its invoice (fee, coupon, tax) is paid by card", async () => {
		// The trial's end (its invoice's first payment attempt runs inside it).
		const moved = await advance(owner, { days: 3 });
		expect(moved.ran).toBe(1);
		const subscription = await current(owner);
		periodStart = new Date(subscription.currentPeriodStart);
		periodEnd = new Date(subscription.currentPeriodEnd);
		expect(periodStart.getTime()).toBe(trialStart.getTime() + 14 * DAY);
		expect(periodEnd.toISOString()).toBe(addInterval(periodStart, "month").toISOString());
		expect(subscription).toMatchObject({ status: "active", couponPeriodsLeft: 2 });

		const [invoice] = await invoices(owner);
		const year = new Date(invoice.issuedAt!).getUTCFullYear();
		expect(invoice).toMatchObject({
			number: `INV-${year}-000001`,
			status: "paid",
			reason: "trial_end",
			currency: "USD",
			subtotal: 2900,
			discount: 1450,
			tax: 145,
			total: 1595,
			amountPaid: 1595,
			taxRateBasisPoints: 1000,
			taxInclusive: false,
			paymentAttempts: 0,
			periodStart: periodStart.toISOString(),
			periodEnd: periodEnd.toISOString(),
		});
		expect(invoice.lines.map((line) => [line.kind, line.amount])).toEqual([
			["fixed_fee", 2900],
			["discount", -1450],
			["tax", 145],
		]);
		expect(invoice.lines[0]).toMatchObject({ description: "Starter (monthly fee)", quantity: 1, periodStart: periodStart.toISOString(), periodEnd: periodEnd.toISOString() });
		expect(new Date(invoice.issuedAt!).getTime() - periodStart.getTime()).toBeGreaterThanOrEqual(0);
		expect(new Date(invoice.issuedAt!).getTime() - periodStart.getTime()).toBeLessThan(60_000);
		const charge = stubs.payCalls.filter((call) => call.invoiceId === invoice.id);
		expect(charge).toEqual([{ tenantId: owner.tenantId, invoiceId: invoice.id, amount: 1595, currency: "USD", method: "credit_card", description: `Invoice ${invoice.number}`, idempotencyKey: `${invoice.id}:1` }]);
		expect(stubs.aggregateCalls.filter((call) => call.tenantId === owner.tenantId)).toEqual([]);
		expect((await messages(owner.tenantId)).map((message) => message.type).slice(2)).toEqual(["subscription.updated", "invoice.finalized", "invoice.paid"]);

		const byId = await api.get<PublicInvoice>(`/invoices/${invoice.id}`, { token: owner.token });
		expect(byId.status).toBe(200);
		expect(byId.body).toEqual(invoice);
	});

	it("upgrades mid-period at once, prorated to the day, and charges the difference", async () => {
		await advance(owner, { to: new Date(periodStart.getTime() + 10 * DAY).toISOString() });
		const response = await api.put<PublicSubscription>("/subscriptions/current", { planCode: "pro" }, { token: owner.token });
		expect(response.status, JSON.stringify(response.body)).toBe(200);
		expect(response.body).toMatchObject({ status: "active", plan: { id: pro.id }, pendingPlan: null, couponPeriodsLeft: 2 });

		const periodDays = Math.round((periodEnd.getTime() - periodStart.getTime()) / DAY);
		const remaining = periodDays - 10;
		const credit = share(2900, remaining, periodDays);
		const charge = share(9900, remaining, periodDays);
		const subtotal = charge - credit;
		const discount = share(subtotal, 5000, 10_000);
		const tax = share(subtotal - discount, 1000, 10_000);
		const [update] = await invoices(owner);
		expect(update).toMatchObject({ reason: "subscription_update", status: "paid", subtotal, discount, tax, total: subtotal - discount + tax, periodEnd: periodEnd.toISOString() });
		expect(update.number).toBe(expectedNumbers(await invoices(owner)).at(-1));
		expect(update.lines.map((line) => [line.kind, line.quantity, line.amount])).toEqual([
			["proration_credit", remaining, -credit],
			["proration_charge", remaining, charge],
			["discount", 1, -discount],
			["tax", 1, tax],
		]);
		expect(update.lines[0]).toMatchObject({ description: `Unused time on Starter (${remaining} of ${periodDays} days)`, details: { remainingDays: remaining, periodDays, fullAmount: 2900 } });
		expect(update.lines[1]).toMatchObject({ description: `Remaining time on Pro (${remaining} of ${periodDays} days)`, details: { planId: pro.id } });

		const limits = await front.broker.call<{ planCode: string; limits: Record<string, number> }, { tenantId: string }>("billing.limits", { tenantId: owner.tenantId }, { meta: { $system: true } });
		expect(limits).toMatchObject({ planCode: "pro", limits: { members: 50, storageBytes: 1024 ** 3 } });
		expect(broadcasts).toContain(`billing.limitsChanged ${owner.tenantId}`);
	});

	it("renews at the period end: the new period's fee in advance, the ended period's usage in arrears with its tiers, the coupon and tax", async () => {
		stubs.usage.set(owner.tenantId, { screenshots: 1600, api_calls: 2500 });
		const moved = await advance(owner, { to: periodEnd.toISOString() });
		expect(moved.ran).toBe(1);
		const nextEnd = addInterval(periodEnd, "month");
		expect(await current(owner)).toMatchObject({ status: "active", currentPeriodStart: periodEnd.toISOString(), currentPeriodEnd: nextEnd.toISOString(), couponPeriodsLeft: 1 });
		expect(stubs.aggregateCalls.filter((call) => call.tenantId === owner.tenantId)).toEqual([
			{ tenantId: owner.tenantId, from: periodStart.toISOString(), to: periodEnd.toISOString(), metrics: ["screenshots", "api_calls"] },
		]);

		const [cycle] = await invoices(owner);
		expect(cycle).toMatchObject({ reason: "subscription_cycle", status: "paid", subtotal: 14_600, discount: 7300, tax: 730, total: 8030, periodStart: periodStart.toISOString(), periodEnd: periodEnd.toISOString() });
		expect(cycle.number).toBe(expectedNumbers(await invoices(owner)).at(-1));
		expect(cycle.lines.map((line) => [line.kind, line.metric, line.quantity, line.amount])).toEqual([
			["fixed_fee", null, 1, 9900],
			["metered", "screenshots", 1600, 4100],
			["metered", "api_calls", 2500, 600],
			["discount", null, 1, -7300],
			["tax", null, 1, 730],
		]);
		expect(cycle.lines[0]).toMatchObject({ periodStart: periodEnd.toISOString(), periodEnd: nextEnd.toISOString() });
		expect(cycle.lines[1]).toMatchObject({
			description: "Screenshots: 1600",
			periodStart: periodStart.toISOString(),
			periodEnd: periodEnd.toISOString(),
			details: {
				model: "graduated",
				billable: 1600,
				tiers: [
					{ upTo: 1000, units: 1000, unitAmount: 3, flatAmount: 0, amount: 3000 },
					{ upTo: null, units: 600, unitAmount: 1, flatAmount: 500, amount: 1100 },
				],
			},
		});
		expect(cycle.lines[2]).toMatchObject({ details: { model: "package", packageSize: 1000, packageAmount: 200 } });
	});

	it("numbers each tenant's invoices without gaps, per year of their issue, from 1 for every tenant", async () => {
		const issued = await invoices(owner);
		expect(issued.map((invoice) => invoice.number).reverse()).toEqual(expectedNumbers(issued));
		const other = await register("numbers");
		stubs.cards.set(other.tenantId, "succeed");
		await subscribe(other, { planCode: "basic", paymentMethod: "credit_card" });
		const [first] = await invoices(other);
		expect(first).toMatchObject({ reason: "subscription_create", status: "paid", total: 1900, number: `INV-${new Date(first.issuedAt!).getUTCFullYear()}-000001` });
		const sequences = await sql<{ last_number: number }>("SELECT last_number FROM billing.invoice_sequences WHERE tenant_id = $1", [owner.tenantId]);
		expect(sequences.reduce((sum, row) => sum + row.last_number, 0)).toBe(3);
	});
});

describe("plan changes that wait, cancel and resume", () => {
	let owner: Owner;

	it("subscribes without a trial: the first period is invoiced and charged at once", async () => {
		owner = await register("changes");
		stubs.cards.set(owner.tenantId, "succeed");
		const subscription = await subscribe(owner, { planCode: "pro", paymentMethod: "credit_card" });
		expect(subscription).toMatchObject({ status: "active", plan: { code: "pro" }, trialStart: null, trialEnd: null });
		expect(subscription.currentPeriodEnd).toBe(addInterval(new Date(subscription.currentPeriodStart), "month").toISOString());
		const [invoice] = await invoices(owner);
		expect(invoice).toMatchObject({ reason: "subscription_create", status: "paid", total: 9900, tax: 0, lines: [{ kind: "fixed_fee", amount: 9900 }] });
	});

	it("keeps a downgrade for the period end; asking for the current plan again undoes it", async () => {
		const down = await api.put<PublicSubscription>("/subscriptions/current", { planCode: "basic" }, { token: owner.token });
		expect(down.status, JSON.stringify(down.body)).toBe(200);
		expect(down.body).toMatchObject({ plan: { code: "pro" }, pendingPlan: { code: "basic" } });
		const undo = await api.put<PublicSubscription>("/subscriptions/current", { planCode: "pro" }, { token: owner.token });
		expect(undo.body).toMatchObject({ plan: { code: "pro" }, pendingPlan: null });
		const same = await api.put("/subscriptions/current", { planCode: "pro" }, { token: owner.token });
		expect(same.status).toBe(409);
		expect(same.body).toMatchObject({ code: "ALREADY_ON_PLAN" });
		expect((await api.put<PublicSubscription>("/subscriptions/current", { planCode: "basic" }, { token: owner.token })).body).toMatchObject({ pendingPlan: { code: "basic" } });
		expect(await invoices(owner)).toHaveLength(1);
		expect(await front.broker.call("billing.plansInUse", { planIds: [basic.id, free.id] }, { meta: { $system: true } })).toEqual({ inUse: [basic.id] });
	});

	it("cancels at the period end and resumes", async () => {
		const cancel = await api.delete<PublicSubscription>("/subscriptions/current", { token: owner.token });
		expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
		expect(cancel.body).toMatchObject({ status: "active", cancelAtPeriodEnd: true });
		expect(cancel.body.canceledAt).not.toBeNull();
		const resume = await api.post<PublicSubscription>("/subscriptions/current/resume", {}, { token: owner.token });
		expect(resume.status).toBe(200);
		expect(resume.body).toMatchObject({ status: "active", cancelAtPeriodEnd: false, canceledAt: null });
		const again = await api.post("/subscriptions/current/resume", {}, { token: owner.token });
		expect(again.status).toBe(409);
		expect(again.body).toMatchObject({ code: "CANCELLATION_NOT_PENDING" });
	});

	it("applies the downgrade at the period end: the cheaper plan's fee, the ended period's usage at the old plan's prices", async () => {
		const before = await current(owner);
		const moved = await advance(owner, { to: before.currentPeriodEnd });
		expect(moved.ran).toBe(1);
		const after = await current(owner);
		expect(after).toMatchObject({ plan: { code: "basic" }, pendingPlan: null, currentPeriodStart: before.currentPeriodEnd });
		const [cycle] = await invoices(owner);
		expect(cycle.lines.map((line) => [line.kind, line.metric, line.amount])).toEqual([
			["fixed_fee", null, 1900],
			["metered", "screenshots", 0],
			["metered", "api_calls", 0],
		]);
		expect(cycle).toMatchObject({ total: 1900, status: "paid" });
		const limits = await front.broker.call<{ planCode: string; limits: Record<string, number> }, { tenantId: string }>("billing.limits", { tenantId: owner.tenantId }, { meta: { $system: true } });
		expect(limits).toMatchObject({ planCode: "basic", limits: { members: 8 } });
		expect(await front.broker.call("billing.plansInUse", { planIds: [pro.id] }, { meta: { $system: true } })).toEqual({ inUse: [pro.id] });
	});

	it("cancels immediately: the subscription ends, the history keeps it, and a new one may start", async () => {
		const cancel = await api.delete<PublicSubscription>("/subscriptions/current?immediately=true", { token: owner.token });
		expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
		expect(cancel.body).toMatchObject({ status: "canceled", cancelAtPeriodEnd: false });
		expect(cancel.body.endedAt).not.toBeNull();
		const none = await api.get("/subscriptions/current", { token: owner.token });
		expect(none.status).toBe(404);
		expect(none.body).toMatchObject({ code: "SUBSCRIPTION_NOT_FOUND" });
		const history = await api.get<Page<PublicSubscription>>("/subscriptions", { token: owner.token });
		expect(history.body.rows.map((row) => row.status)).toEqual(["canceled"]);
		expect((await messages(owner.tenantId)).map((message) => message.type)).toContain("subscription.canceled");
		const limits = await front.broker.call<{ planCode: string; subscriptionStatus: string | null }, { tenantId: string }>("billing.limits", { tenantId: owner.tenantId }, { meta: { $system: true } });
		expect(limits).toMatchObject({ planCode: "free", subscriptionStatus: null });
		const plan = await front.broker.call<{ plan: { code: string }; periodStart: string; periodEnd: string; now: string }, { tenantId: string }>(
			"billing.currentPlan",
			{ tenantId: owner.tenantId },
			{ meta: { $system: true } },
		);
		const now = new Date(plan.now);
		expect(plan).toMatchObject({
			plan: { id: free.id },
			periodStart: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString(),
			periodEnd: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
		});
		await subscribe(owner, { planCode: "basic", paymentMethod: "credit_card" });
	});
});

describe("a trial", () => {
	it("changes plan at once, a downgrade too, without an invoice; canceled at its end, it ends without one", async () => {
		const owner = await register("trial-change");
		stubs.cards.set(owner.tenantId, "succeed");
		await subscribe(owner, { planCode: "starter", paymentMethod: "credit_card" });
		const down = await api.put<PublicSubscription>("/subscriptions/current", { planCode: "basic" }, { token: owner.token });
		expect(down.status, JSON.stringify(down.body)).toBe(200);
		expect(down.body).toMatchObject({ status: "trialing", plan: { code: "basic" }, pendingPlan: null });
		expect((await api.delete<PublicSubscription>("/subscriptions/current", { token: owner.token })).body).toMatchObject({ status: "trialing", cancelAtPeriodEnd: true });
		// The notice three days before, then the trial's end.
		expect((await advance(owner, { days: 14 })).ran).toBe(2);
		expect((await api.get("/subscriptions/current", { token: owner.token })).status).toBe(404);
		const [ended] = (await api.get<Page<PublicSubscription>>("/subscriptions", { token: owner.token })).body.rows;
		expect(ended).toMatchObject({ status: "canceled", plan: { code: "basic" }, endedAt: ended.trialEnd });
		expect(await invoices(owner)).toEqual([]);
		expect((await messages(owner.tenantId)).map((message) => message.type)).toEqual([
			"subscription.created",
			"subscription.updated",
			"subscription.updated",
			"subscription.trial_will_end",
			"subscription.canceled",
		]);
	});
});

describe("caller mistakes and other tenants", () => {
	let owner: Owner;
	let stranger: Owner;

	beforeAll(async () => {
		owner = await register("mistakes");
		stranger = await register("stranger");
		stubs.cards.set(owner.tenantId, "succeed");
	});

	it("answers 4xx for what a subscriber gets wrong, and changes nothing", async () => {
		const cases: Array<[Record<string, unknown>, number, string]> = [
			[{ planCode: "nope", paymentMethod: "credit_card" }, 422, "UNKNOWN_PLAN"],
			[{ planCode: "retired", paymentMethod: "credit_card" }, 422, "PLAN_NOT_AVAILABLE"],
			[{ planCode: "basic", paymentMethod: "cash" }, 400, "VALIDATION_ERROR"],
			[{ paymentMethod: "credit_card" }, 400, "VALIDATION_ERROR"],
			[{ planCode: "basic", paymentMethod: "credit_card", couponCode: "NOSUCH" }, 422, "COUPON_INVALID"],
		];
		for (const [body, status, code] of cases) {
			const response = await api.post("/subscriptions", body, { token: owner.token });
			expect(response.status, JSON.stringify(body)).toBe(status);
			expect(response.body).toMatchObject({ code });
		}
		expect((await api.get("/subscriptions/current", { token: owner.token })).status).toBe(404);
		const noSubscription = await api.put("/subscriptions/current", { planCode: "pro" }, { token: owner.token });
		expect(noSubscription.status).toBe(404);
		expect((await api.delete("/subscriptions/current", { token: owner.token })).status).toBe(404);
		expect((await api.post("/subscriptions/current/resume", {}, { token: owner.token })).status).toBe(404);
		expect(await sql("SELECT id FROM billing.subscriptions WHERE tenant_id = $1", [owner.tenantId])).toEqual([]);

		await subscribe(owner, { planCode: "basic", paymentMethod: "credit_card" });
		for (const [planCode, code] of [
			["euro", "CURRENCY_MISMATCH"],
			["yearly", "INTERVAL_MISMATCH"],
			["retired", "PLAN_NOT_AVAILABLE"],
		]) {
			const response = await api.put("/subscriptions/current", { planCode }, { token: owner.token });
			expect(response.status, planCode).toBe(422);
			expect(response.body).toMatchObject({ code });
		}
		expect((await current(owner)).plan.code).toBe("basic");
	});

	it("keeps invoices to their tenant: another tenant's, a missing and a malformed id all answer 404", async () => {
		const [invoice] = await invoices(owner);
		for (const id of [invoice.id, "00000000-0000-4000-8000-000000000000", "not-an-id"]) {
			const response = await api.get(`/invoices/${id}`, { token: stranger.token });
			expect(response.status, id).toBe(404);
			expect((await api.post(`/invoices/${id}/pay`, {}, { token: stranger.token })).status).toBe(404);
		}
		expect(await invoices(stranger)).toEqual([]);
		const all = await api.get<Page<PublicInvoice>>(`/invoices?tenantId=${owner.tenantId}`, { token: adminToken });
		expect(all.body.rows.map((row) => row.id)).toEqual([invoice.id]);
		const paid = await api.post(`/invoices/${invoice.id}/pay`, {}, { token: owner.token });
		expect(paid.status).toBe(409);
		expect(paid.body).toMatchObject({ code: "INVOICE_NOT_PAYABLE" });
		expect((await api.post(`/invoices/${invoice.id}/void`, {}, { token: owner.token })).status).toBe(403);
		const voidPaid = await api.post(`/invoices/${invoice.id}/void`, {}, { token: adminToken });
		expect(voidPaid.status).toBe(409);
		expect(voidPaid.body).toMatchObject({ code: "INVALID_TRANSITION" });
	});

	it("answers 4xx for test-clock and billing-account mistakes", async () => {
		const clock = (body: Record<string, unknown>, token = owner.token) => api.post("/billing/test-clocks/advance", body, { token });
		expect((await clock({ tenantId: owner.tenantId })).status).toBe(400);
		expect((await clock({ tenantId: owner.tenantId, days: 1, seconds: 5 })).status).toBe(400);
		expect((await clock({ tenantId: owner.tenantId, days: 0 })).status).toBe(400);
		expect((await clock({ tenantId: owner.tenantId, to: "yesterday-ish" })).status).toBe(400);
		const back = await clock({ tenantId: owner.tenantId, to: new Date(Date.now() - DAY).toISOString() });
		expect(back.status).toBe(422);
		expect(back.body).toMatchObject({ code: "CLOCK_CANNOT_GO_BACK" });
		expect((await clock({ tenantId: stranger.tenantId, days: 1 })).status).toBe(404);
		expect((await clock({ tenantId: "00000000-0000-4000-8000-000000000000", days: 1 }, adminToken)).status).toBe(404);
		const byAdmin = await clock({ tenantId: stranger.tenantId, seconds: 60 }, adminToken);
		expect(byAdmin.status).toBe(200);
		expect(byAdmin.body).toMatchObject({ tenantId: stranger.tenantId, ran: 0 });

		expect((await api.put("/billing/account", { tenantId: owner.tenantId, taxRateBasisPoints: 500 }, { token: owner.token })).status).toBe(403);
		expect((await api.put("/billing/account", { tenantId: owner.tenantId, taxRateBasisPoints: 10_001 }, { token: adminToken })).status).toBe(400);
		expect((await api.put("/billing/account", { tenantId: "00000000-0000-4000-8000-000000000000", taxRateBasisPoints: 5 }, { token: adminToken })).status).toBe(404);
		const account = await api.get("/billing/account", { token: stranger.token });
		expect(account.status).toBe(200);
		expect(account.body).toMatchObject({ tenantId: stranger.tenantId, taxRateBasisPoints: 0, taxInclusive: false });
		expect(new Date(String(account.body.now)).getTime()).toBeGreaterThan(Date.now() + 50_000);
	});
});


describe("a card that fails: dunning, unpaid, and paying again", () => {
	let owner: Owner;
	let invoiceId: string;

	const limitsOf = (tenantId: string) =>
		front.broker.call<{ planCode: string; subscriptionStatus: string | null; limits: Record<string, number> }, { tenantId: string }>("billing.limits", { tenantId }, { meta: { $system: true } });

	async function invoice(): Promise<PublicInvoice> {
		const response = await api.get<PublicInvoice>(`/invoices/${invoiceId}`, { token: owner.token });
		expect(response.status).toBe(200);
		return response.body;
	}

	it("goes past_due when the first charge fails, with the first retry a day later", async () => {
		owner = await register("dunning");
		stubs.cards.set(owner.tenantId, "fail");
		const subscription = await subscribe(owner, { planCode: "basic", paymentMethod: "credit_card" });
		expect(subscription.status).toBe("past_due");
		const [open] = await invoices(owner);
		invoiceId = open.id;
		expect(open).toMatchObject({ status: "open", reason: "subscription_create", total: 1900, amountPaid: 0, paymentAttempts: 1, paidAt: null });
		const firstRetry = new Date(open.nextPaymentAttemptAt!).getTime() - new Date(open.issuedAt!).getTime();
		expect(firstRetry).toBeGreaterThanOrEqual(DAY);
		expect(firstRetry).toBeLessThan(DAY + 60_000);
		expect((await messages(owner.tenantId)).map((message) => message.type)).toEqual([
			"subscription.created",
			"invoice.finalized",
			"invoice.payment_failed",
			"subscription.updated",
		]);
		expect(await limitsOf(owner.tenantId)).toMatchObject({ planCode: "basic", subscriptionStatus: "past_due", limits: { members: 8 } });
	});

	it("retries 1, 3, 5 and 7 days after the first failure, then the subscription is unpaid and the free plan's limits apply", async () => {
		const anchor = new Date((await invoice()).nextPaymentAttemptAt!).getTime() - DAY;
		for (const [days, attempts, nextDay] of [
			[1, 2, 3],
			[2, 3, 5],
			[2, 4, 7],
		] as const) {
			expect((await advance(owner, { days })).ran).toBe(1);
			const after = await invoice();
			expect(after).toMatchObject({ status: "open", paymentAttempts: attempts });
			expect(new Date(after.nextPaymentAttemptAt!).getTime()).toBe(anchor + nextDay * DAY);
			expect((await current(owner)).status).toBe("past_due");
		}
		expect((await advance(owner, { days: 2 })).ran).toBe(1);
		expect(await invoice()).toMatchObject({ status: "open", paymentAttempts: 5, nextPaymentAttemptAt: null });
		expect((await current(owner)).status).toBe("unpaid");
		expect(stubs.payCalls.filter((call) => call.invoiceId === invoiceId).map((call) => call.idempotencyKey)).toEqual([1, 2, 3, 4, 5].map((n) => `${invoiceId}:${n}`));
		expect(await limitsOf(owner.tenantId)).toMatchObject({ planCode: "free", subscriptionStatus: "unpaid", limits: { members: 5 } });
		const unpaid = await api.put("/subscriptions/current", { planCode: "basic" }, { token: owner.token });
		expect(unpaid.status).toBe(409);
		expect(unpaid.body).toMatchObject({ code: "SUBSCRIPTION_UNPAID" });
		const pending = await sql("SELECT id FROM billing.jobs WHERE subject_id = $1 AND status = 'pending'", [invoiceId]);
		expect(pending).toEqual([]);
	});

	it("counts a payment's failure once, however often it is heard (the synchronous answer, then the channel)", async () => {
		const first = stubs.paymentFor(`${invoiceId}:1`)!;
		await front.broker.sendToChannel("commerce.payment.failed", { paymentId: first.id, orderId: null, payable: { type: "invoice", id: invoiceId }, payment: first });
		await new Promise((resolve) => setTimeout(resolve, 1500));
		expect((await invoice()).paymentAttempts).toBe(5);
	});

	it("paying the open invoice makes the subscription active again at once, with its plan's limits", async () => {
		const stillFailing = await api.post<PublicInvoice>(`/invoices/${invoiceId}/pay`, {}, { token: owner.token });
		expect(stillFailing.status).toBe(200);
		expect(stillFailing.body).toMatchObject({ status: "open", paymentAttempts: 6, nextPaymentAttemptAt: null });
		expect((await current(owner)).status).toBe("unpaid");
		stubs.cards.set(owner.tenantId, "succeed");
		const paid = await api.post<PublicInvoice>(`/invoices/${invoiceId}/pay`, {}, { token: owner.token });
		expect(paid.status, JSON.stringify(paid.body)).toBe(200);
		expect(paid.body).toMatchObject({ status: "paid", amountPaid: 1900, paymentAttempts: 6, nextPaymentAttemptAt: null });
		expect(stubs.payCalls.at(-1)).toMatchObject({ invoiceId, idempotencyKey: `${invoiceId}:7` });
		expect((await current(owner)).status).toBe("active");
		expect(await limitsOf(owner.tenantId)).toMatchObject({ planCode: "basic", subscriptionStatus: "active", limits: { members: 8 } });
		expect((await messages(owner.tenantId)).map((message) => message.type).slice(-3)).toEqual(["invoice.payment_failed", "invoice.paid", "subscription.updated"]);
		expect(await sql("SELECT id FROM billing.jobs WHERE tenant_id = $1 AND kind = 'payment_retry' AND status = 'pending'", [owner.tenantId])).toEqual([]);
	});
});

describe("manual payment methods and voiding", () => {
	async function invoiceOf(owner: Owner, status: string, timeoutMs = 15_000): Promise<PublicInvoice> {
		const started = Date.now();
		let last: PublicInvoice | undefined;
		while (Date.now() - started < timeoutMs) {
			[last] = await invoices(owner);
			if (last?.status === status) return last;
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
		throw new Error(`The invoice did not become ${status} (last: ${JSON.stringify(last)})`);
	}

	it("a bank transfer leaves the invoice open until payments' settled message pays it (once)", async () => {
		const owner = await register("transfer");
		const subscription = await subscribe(owner, { planCode: "basic", paymentMethod: "bank_transfer" });
		expect(subscription.status).toBe("active");
		const open = await invoiceOf(owner, "open");
		expect(open.paymentAttempts).toBe(0);
		const call = stubs.payCalls.find((item) => item.invoiceId === open.id)!;
		expect(call).toMatchObject({ method: "bank_transfer", amount: 1900, currency: "USD" });
		const payment = stubs.paymentFor(call.idempotencyKey)!;
		// An order's payment on the same channel is not billing's.
		await front.broker.sendToChannel("commerce.payment.settled", { paymentId: payment.id, orderId: open.id, payable: { type: "order", id: open.id } });
		const settled = { paymentId: payment.id, orderId: null, payable: { type: "invoice", id: open.id }, payment: { ...payment, status: "succeeded" } };
		await front.broker.sendToChannel("commerce.payment.settled", settled);
		const paid = await invoiceOf(owner, "paid");
		expect(paid).toMatchObject({ amountPaid: 1900, paymentAttempts: 0 });
		await front.broker.sendToChannel("commerce.payment.settled", settled);
		await new Promise((resolve) => setTimeout(resolve, 1500));
		expect((await messages(owner.tenantId)).filter((message) => message.type === "invoice.paid")).toHaveLength(1);
		const [stored] = await sql<{ payment_id: string }>("SELECT payment_id FROM billing.invoices WHERE id = $1", [open.id]);
		expect(stored.payment_id).toBe(payment.id);
	});

	it("a super admin voids an open invoice: its retries stop and payments fails what is pending", async () => {
		const owner = await register("void");
		await subscribe(owner, { planCode: "basic", paymentMethod: "bank_transfer" });
		const open = await invoiceOf(owner, "open");
		const voided = await api.post<PublicInvoice>(`/invoices/${open.id}/void`, {}, { token: adminToken });
		expect(voided.status, JSON.stringify(voided.body)).toBe(200);
		expect(voided.body).toMatchObject({ status: "void", number: open.number, total: open.total, lines: open.lines });
		expect(voided.body.voidedAt).not.toBeNull();
		expect(stubs.voided).toContain(open.id);
		expect((await messages(owner.tenantId)).map((message) => message.type)).toContain("invoice.voided");
		expect((await api.post(`/invoices/${open.id}/pay`, {}, { token: owner.token })).status).toBe(409);
	});
});

describe("due jobs without the test clock's help", () => {
	it("the background loop runs a job once it is due in the tenant's billing time (its clock offset included)", async () => {
		const owner = await register("loop");
		stubs.cards.set(owner.tenantId, "fail");
		await subscribe(owner, { planCode: "basic", paymentMethod: "credit_card" });
		const [open] = await invoices(owner);
		expect(open.paymentAttempts).toBe(1);
		// An hour ahead of the wall clock: only the offset makes the job below due.
		await advance(owner, { seconds: 3600 });
		const account = await api.get<{ now: string }>("/billing/account", { token: owner.token });
		const soon = new Date(new Date(account.body.now).getTime() + 1500);
		await sql("UPDATE billing.jobs SET due_at = $2 WHERE subject_id = $1 AND kind = 'payment_retry' AND status = 'pending'", [open.id, soon]);
		let attempts = 1;
		for (let waited = 0; waited < 15_000 && attempts < 2; waited += 200) {
			await new Promise((resolve) => setTimeout(resolve, 200));
			attempts = (await api.get<PublicInvoice>(`/invoices/${open.id}`, { token: owner.token })).body.paymentAttempts;
		}
		expect(attempts).toBe(2);
		const [job] = await sql<{ status: string }>("SELECT status FROM billing.jobs WHERE subject_id = $1 AND kind = 'payment_retry' AND due_at = $2", [open.id, soon]);
		expect(job.status).toBe("done");
	});
});
