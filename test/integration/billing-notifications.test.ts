/**
 * Billing's events reach a tenant's owners and its webhooks: BillingMessages published on billing's durable
 * channels (real NATS JetStream, as billing's outbox publishes them) are consumed by the notifications node
 * (group "notifications"). Each owner the message names gets the email (real SMTP server) where the type
 * has one and an in-app entry; the tenant's webhook endpoint gets each event once, signed, however many owners
 * were told; a redelivered message (the same event id) sends nothing again.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { startNode, type RunningNode } from "../helpers/nodes";
import { removeStreams } from "../helpers/jetstream";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { firstAddress, startSmtpServer, type SmtpFixture } from "../fixtures/smtp-server";
import { BILLING_CHANNELS, BILLING_EVENT_TYPES, type BillingEventType, type BillingMessage, type PublicInvoice, type PublicSubscription } from "../../services/billing/contracts";

const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-billing-notify`;
const tag = `bn${Date.now().toString(36)}`;
const ORGANIZATION = `Billing & Co ${tag}`;
const APP_URL = "https://app.lattice.test";
const PUBLIC_URL = "https://api.lattice.test";

interface Session {
	accessToken: string;
	user: { id: string; email: string };
	tenant: { id: string };
}

interface Received {
	headers: http.IncomingHttpHeaders;
	body: string;
}

let smtp: SmtpFixture;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];
let node: RunningNode;
let api: ApiClient;
let alice: Session;
let bob: Session;
let secret: string;

async function waitUntil<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
	const started = Date.now();
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

async function register(label: string, organization?: string): Promise<Session> {
	const response = await api.post<Session>("/auth/register", { email: uniqueEmail(label), password: "correct horse battery", fullName: `${label} Owner`, organization }, { ip: uniqueIp() });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return response.body;
}

async function invitationToken(to: string): Promise<string> {
	return waitUntil(`the invitation to ${to}`, async () => {
		const rows = await sql<{ text_body: string }>("SELECT text_body FROM mail.outbox WHERE to_address = $1 AND template = 'invitation' ORDER BY created_at DESC LIMIT 1", [to]);
		const match = rows[0]?.text_body.match(/token=([A-Za-z0-9_%-]+)/);
		return match ? decodeURIComponent(match[1]) : undefined;
	});
}

const plan = {
	id: "0e0c2f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
	code: "pro",
	version: 2,
	name: "Pro",
	description: "For growing teams",
	interval: "month" as const,
	amount: 4900,
	currency: "EUR",
	trialDays: 14,
	limits: { members: 20 },
	features: {},
	charges: [],
	taxRateBasisPoints: null,
	status: "active" as const,
	createdAt: "2026-01-01T00:00:00.000Z",
};

function subscription(tenantId: string, overrides: Partial<PublicSubscription> = {}): PublicSubscription {
	return {
		id: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
		tenantId,
		plan,
		status: "trialing",
		paymentMethod: "credit_card",
		currentPeriodStart: "2026-03-01T00:00:00.000Z",
		currentPeriodEnd: "2026-03-15T00:00:00.000Z",
		trialStart: "2026-03-01T00:00:00.000Z",
		trialEnd: "2026-03-15T00:00:00.000Z",
		cancelAtPeriodEnd: false,
		canceledAt: null,
		endedAt: null,
		pendingPlan: null,
		couponCode: null,
		couponPeriodsLeft: null,
		createdAt: "2026-03-01T00:00:00.000Z",
		updatedAt: "2026-03-01T00:00:00.000Z",
		...overrides,
	};
}

function invoice(tenantId: string, overrides: Partial<PublicInvoice> = {}): PublicInvoice {
	return {
		id: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
		tenantId,
		subscriptionId: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
		number: "INV-2026-000007",
		status: "open",
		reason: "trial_end",
		currency: "EUR",
		subtotal: 4900,
		discount: 0,
		tax: 931,
		total: 5831,
		amountPaid: 0,
		taxRateBasisPoints: 1900,
		taxInclusive: false,
		periodStart: "2026-03-15T00:00:00.000Z",
		periodEnd: "2026-04-15T00:00:00.000Z",
		lines: [{ kind: "fixed_fee", description: "Pro (monthly)", metric: null, quantity: 1, amount: 4900, periodStart: "2026-03-15T00:00:00.000Z", periodEnd: "2026-04-15T00:00:00.000Z", details: {} }],
		paymentAttempts: 0,
		nextPaymentAttemptAt: null,
		issuedAt: "2026-03-15T00:00:00.000Z",
		paidAt: null,
		voidedAt: null,
		pdfUrl: null,
		createdAt: "2026-03-15T00:00:00.000Z",
		updatedAt: "2026-03-15T00:00:00.000Z",
		...overrides,
	};
}

/** One message per billing event type, as billing's outbox would publish them (each with its own event id). */
function messages(tenantId: string, ownerIds: string[]): BillingMessage[] {
	const at = (type: BillingEventType) => ({ eventId: `${tag}-${type}`, type, tenantId, ownerIds, occurredAt: "2026-03-15T00:00:00.000Z" });
	return [
		{ ...at("subscription.created"), subscription: subscription(tenantId) },
		{ ...at("subscription.updated"), subscription: subscription(tenantId, { status: "active", cancelAtPeriodEnd: true }) },
		{ ...at("subscription.canceled"), subscription: subscription(tenantId, { status: "canceled", canceledAt: "2026-04-15T00:00:00.000Z", endedAt: "2026-04-15T00:00:00.000Z" }) },
		{ ...at("subscription.trial_will_end"), subscription: subscription(tenantId) },
		{ ...at("invoice.finalized"), invoice: invoice(tenantId, { pdfUrl: "/api/v1/invoices/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a/pdf" }) },
		{ ...at("invoice.paid"), invoice: invoice(tenantId, { status: "paid", amountPaid: 5831, paidAt: "2026-03-16T00:00:00.000Z" }) },
		{ ...at("invoice.payment_failed"), invoice: invoice(tenantId, { paymentAttempts: 1, nextPaymentAttemptAt: "2026-03-18T00:00:00.000Z" }) },
		{ ...at("invoice.voided"), invoice: invoice(tenantId, { status: "void", voidedAt: "2026-03-20T00:00:00.000Z" }) },
	];
}

const deliveries = () => received.map((item) => ({ ...item, id: String(item.headers["webhook-id"]), payload: JSON.parse(item.body) as { type: string; data: Record<string, unknown> } }));
const mailsTo = (to: string, subject: RegExp) => smtp.received.filter((mail) => firstAddress(mail.to)?.address?.toLowerCase() === to.toLowerCase() && subject.test(mail.subject ?? ""));

beforeAll(async () => {
	smtp = await startSmtpServer();
	receiver = http.createServer((req, res) => {
		let body = "";
		req.on("data", (chunk: Buffer) => (body += chunk.toString()));
		req.on("end", () => {
			received.push({ headers: req.headers, body });
			res.writeHead(204).end();
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
	receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/billing-hooks`;

	node = await startNode({
		TRANSPORTER: testEnv.natsUrl,
		CACHER: testEnv.redisUrl,
		NAMESPACE: namespace,
		SERVICES: "gateway,identity,notifications",
		SMTP_URL: smtp.url,
		APP_URL,
		PUBLIC_URL,
		OUTBOUND_ALLOW_HOSTS: "127.0.0.1",
		WEBHOOK_RETRY_SCHEDULE: "1s",
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
	});
	api = apiClient(node.url);

	// A tenant with two owners: Alice, who made it, and Bob, invited as owner.
	alice = await register("alice", ORGANIZATION);
	bob = await register("bob");
	const invited = await api.post(`/tenants/${alice.tenant.id}/invitations`, { email: bob.user.email, role: "owner" }, { token: alice.accessToken });
	expect(invited.status, JSON.stringify(invited.body)).toBe(201);
	const accepted = await api.post("/invitations/accept", { token: await invitationToken(bob.user.email) }, { token: bob.accessToken });
	expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);

	const endpoint = await api.post<{ secret: string }>("/webhook-endpoints", { url: receiverUrl, events: [...BILLING_EVENT_TYPES] }, { token: alice.accessToken });
	expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
	secret = endpoint.body.secret;
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await smtp?.close();
	await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
	await removeStreams(namespace);
});

describe("billing events", () => {
	it("email and notify every owner the message names, and reach the tenant's webhook once per event", async () => {
		const tenantId = alice.tenant.id;
		const published = messages(tenantId, [alice.user.id, bob.user.id]);
		for (const message of published) await node.broker.sendToChannel(BILLING_CHANNELS[message.type], message);

		// One signed delivery per event, with the event id derived from the message's.
		const all = await waitUntil("a webhook delivery per event", () => (deliveries().length >= published.length ? deliveries() : undefined));
		expect(all.map((item) => item.id).sort()).toEqual(published.map((message) => `${message.type}:${message.eventId}`).sort());
		for (const item of all) {
			const verified = new Webhook(secret).verify(item.body, {
				"webhook-id": item.id,
				"webhook-timestamp": String(item.headers["webhook-timestamp"]),
				"webhook-signature": String(item.headers["webhook-signature"]),
			}) as { type: string; data: { organization: string; invoice?: { id: string }; subscription?: { id: string } } };
			expect(item.id.startsWith(`${verified.type}:`)).toBe(true);
			expect(verified.data.organization).toBe(ORGANIZATION);
			expect(verified.data.invoice?.id ?? verified.data.subscription?.id).toBeDefined();
		}
		const failed = all.find((item) => item.payload.type === "invoice.payment_failed")!;
		expect(failed.payload.data).toMatchObject({ invoiceNumber: "INV-2026-000007", amountDue: "€58.31", invoice: { id: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", paymentAttempts: 1 } });

		// Emails, to both owners, for the types that email by default.
		for (const owner of [alice, bob]) {
			const finalized = await smtp.waitForMail(owner.user.email, /^Invoice INV-2026-000007 for /, 20_000);
			expect(finalized.subject).toBe(`Invoice INV-2026-000007 for ${ORGANIZATION}: €58.31`);
			expect(finalized.text).toContain(`${APP_URL}/billing/invoices/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a`);
			expect(finalized.text).toContain(`Download the PDF: ${PUBLIC_URL}/api/v1/invoices/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a/pdf`);
			// The organization's name is text in the HTML body, never markup.
			expect(String(finalized.html)).toContain(`Billing &amp; Co ${tag}`);

			const paymentFailed = await smtp.waitForMail(owner.user.email, /^Payment failed for invoice INV-2026-000007/, 20_000);
			expect(paymentFailed.text).toContain("The payment of €58.31 for invoice INV-2026-000007");
			expect(paymentFailed.text).toContain("We will try again on March 18, 2026.");

			const trial = await smtp.waitForMail(owner.user.email, /^The Pro trial of .* ends on March 15, 2026$/, 20_000);
			expect(trial.text).toContain("its first invoice of €49.00 is charged");

			const canceled = await smtp.waitForMail(owner.user.email, /^The Pro subscription of .* was canceled$/, 20_000);
			expect(canceled.text).toContain("It ends on April 15, 2026");
		}

		// The in-app feed of each owner: one entry per event, in the tenant.
		for (const owner of [alice, bob]) {
			const feed = await waitUntil(`the feed of ${owner.user.email}`, async () => {
				const response = await api.get<{ rows: Array<{ type: string; title: string; body: string; tenantId: string }> }>(`/notifications?tenantId=${tenantId}&pageSize=50`, { token: owner.accessToken });
				return response.body.rows.length >= published.length ? response.body.rows : undefined;
			});
			expect(feed.map((row) => row.type).sort()).toEqual([...BILLING_EVENT_TYPES].sort());
			expect(feed.every((row) => row.tenantId === tenantId)).toBe(true);
			expect(feed.find((row) => row.type === "invoice.finalized")).toMatchObject({ title: "New invoice INV-2026-000007", body: `${ORGANIZATION} has a new invoice of €58.31.` });
			expect(feed.find((row) => row.type === "subscription.updated")?.body).toBe(`The subscription of ${ORGANIZATION} is now Pro, active, canceling at the period's end.`);
		}

		// A redelivery (billing's relay sending a row again after a crash) sends nothing twice.
		for (const message of published) await node.broker.sendToChannel(BILLING_CHANNELS[message.type], message);
		const marker: BillingMessage = { ...published[5], eventId: `${tag}-after-redelivery` };
		await node.broker.sendToChannel(BILLING_CHANNELS[marker.type], marker);
		// Messages of one channel are handled in order: once the marker is through, so is the redelivered invoice.paid.
		await waitUntil("the marker's webhook", () => (deliveries().some((item) => item.id === `invoice.paid:${marker.eventId}`) ? true : undefined));
		await new Promise((resolve) => setTimeout(resolve, 1500));
		expect(deliveries()).toHaveLength(published.length + 1);
		for (const owner of [alice, bob]) {
			expect(mailsTo(owner.user.email, /^Invoice INV-2026-000007 for /)).toHaveLength(1);
			expect(mailsTo(owner.user.email, /^Payment failed for invoice/)).toHaveLength(1);
			// Types whose default channels have no email sent none.
			expect(mailsTo(owner.user.email, /subscribed to|subscription of .* changed|Payment received for invoice|was voided/)).toEqual([]);
			const feed = await api.get<{ rows: Array<{ type: string }> }>(`/notifications?tenantId=${tenantId}&pageSize=50`, { token: owner.accessToken });
			expect(feed.body.rows).toHaveLength(published.length + 1);
		}
	}, 90_000);

	it("reaches the tenant's current owners when a message names none", async () => {
		const message: BillingMessage = { ...messages(alice.tenant.id, [])[6], eventId: `${tag}-no-owners`, invoice: invoice(alice.tenant.id, { number: "INV-2026-000008", paymentAttempts: 4 }) };
		await node.broker.sendToChannel(BILLING_CHANNELS[message.type], message);
		for (const owner of [alice, bob]) {
			const mail = await smtp.waitForMail(owner.user.email, /^Payment failed for invoice INV-2026-000008/, 20_000);
			expect(mail.text).toContain("No further automatic attempt is scheduled");
		}
		await waitUntil("its webhook", () => (deliveries().some((item) => item.id === `invoice.payment_failed:${message.eventId}`) ? true : undefined));
	}, 60_000);
});
