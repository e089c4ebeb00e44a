/**
 * Paying an invoice from another domain, and tenants' saved cards, on a small cluster over NATS: a full node
 * (gateway and every domain, payments with Stripe configured against the local Stripe-compatible server, which
 * sends its signed webhooks to the gateway) and a second node standing in for billing, which calls
 * `payments.payInvoice` / `payments.defaultPaymentMethod` across the transporter and consumes
 * `commerce.payment.*` on JetStream as group "billing", the way billing will.
 *
 * Saved cards go through the gateway: a tenant owner starts a set-up, Stripe.js's confirmation is played by the
 * fixture (a documented test card), Stripe's `setup_intent.succeeded` webhook saves the card as the default,
 * and it is listed and removed. Invoices are charged off-session and answered synchronously: succeeded, or
 * failed with the decline (`card_declined` / `insufficient_funds`) and a `commerce.payment.failed` message; the
 * webhook that follows and a replay of the same key change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { ServiceBroker } from "moleculer";
import { randomUUID } from "node:crypto";
import { createBrokerOptions } from "../../moleculer.config";
import { loadConfig } from "../../lib/config";
import { systemCall } from "../../lib/caller";
import { PAYMENT_ACTIONS, PAYMENT_CHANNELS, payableOf, type InvoicePaymentMessage, type PayInvoiceParams, type PaymentMessage, type PublicPayment, type PublicSavedPaymentMethod } from "../../services/commerce/contracts";
import { baseEnv, startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { sql } from "../helpers/db";
import { removeStreams } from "../helpers/jetstream";
import { startStripeApiFixture, type StripeApiFixture } from "../fixtures/stripe-api";

const testEnv = inject("testEnv");
const namespace = `${testEnv.namespace}-payinv`;
const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const SECRET_KEY = "sk_test_lattice_invoices";
const WEBHOOK_SECRET = "whsec_lattice_invoices";

interface Owner {
	token: string;
	tenantId: string;
}

interface Setup {
	provider: string;
	setupIntentId: string;
	clientSecret: string;
	code?: string;
}

let fixture: StripeApiFixture;
let node: RunningNode;
let billing: ServiceBroker;
let api: ApiClient;
let adminToken: string;
/** What billing's consumer group received, by channel. */
const received: Array<{ channel: string; message: PaymentMessage }> = [];

async function owner(label: string): Promise<Owner> {
	const response = await api.post<{ accessToken: string; tenant: { id: string } }>(
		"/auth/register",
		{ email: uniqueEmail(label), password: "correct horse battery", fullName: `${label} Owner`, organization: `${label} GmbH` },
		{ ip: uniqueIp() },
	);
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { token: response.body.accessToken, tenantId: response.body.tenant.id };
}

/** A card saved the way a browser does it: a set-up through the gateway, confirmed with a test card at "Stripe". */
async function saveCard(who: Owner, card: string): Promise<PublicSavedPaymentMethod> {
	const setup = await api.post<Setup>("/payment-methods/setup", {}, { token: who.token });
	expect(setup.status, JSON.stringify(setup.body)).toBe(200);
	await fixture.confirmSetupIntent(setup.body.setupIntentId, card);
	const listed = await api.get<PublicSavedPaymentMethod[]>("/payment-methods", { token: who.token });
	expect(listed.status).toBe(200);
	return listed.body[0];
}

function payInvoice(params: Partial<PayInvoiceParams> & Pick<PayInvoiceParams, "tenantId" | "invoiceId">): Promise<PublicPayment> {
	return billing.call(PAYMENT_ACTIONS.payInvoice, { amount: 4900, currency: "EUR", method: "credit_card", idempotencyKey: `${params.invoiceId}:1`, ...params }, systemCall());
}

async function until<T>(find: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
	const started = Date.now();
	for (;;) {
		const found = await find();
		if (found !== undefined) return found;
		if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

function messagesOf(paymentId: string, channel?: string) {
	return received.filter((entry) => entry.message.paymentId === paymentId && (!channel || entry.channel === channel));
}

async function outboxRows(paymentId: string): Promise<Array<{ channel: string }>> {
	return sql<{ channel: string }>("SELECT channel FROM payments.outbox WHERE payload->>'paymentId' = $1 ORDER BY created_at", [paymentId]);
}

beforeAll(async () => {
	fixture = await startStripeApiFixture({ secretKey: SECRET_KEY });
	const cluster = { TRANSPORTER: testEnv.natsUrl, NAMESPACE: namespace };
	node = await startNode({
		...cluster,
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
		BOOTSTRAP_ADMIN_EMAIL: ADMIN.email,
		BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
		STRIPE_SECRET_KEY: SECRET_KEY,
		STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
		STRIPE_API_BASE: fixture.url,
	});
	fixture.sendWebhooksTo(`${node.url}/api/v1/webhooks/stripe`, WEBHOOK_SECRET);
	billing = new ServiceBroker(createBrokerOptions(loadConfig(baseEnv({ ...cluster, SERVICES: "platform" }))));
	const record = (channel: string) => ({
		group: "billing",
		handler(message: PaymentMessage) {
			// As billing will: its own payable type only.
			if (payableOf(message).type === "invoice") received.push({ channel, message });
		},
	});
	billing.createService({
		name: "billing-stand-in",
		channels: Object.fromEntries(Object.values(PAYMENT_CHANNELS).map((channel) => [channel, record(channel)])),
	});
	await billing.start();
	await billing.waitForServices(["payments"], 30_000);
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
}, 90_000);

afterAll(async () => {
	await billing?.stop();
	await node?.stop();
	await fixture?.close();
	await removeStreams(namespace);
});

describe("saved cards per tenant", () => {
	it("setup → Stripe's confirmation and signed webhook → listed as the default; a second card takes over; removing it detaches it at Stripe", async () => {
		const ada = await owner("ada");
		expect((await api.post("/payment-methods/setup", {})).status).toBe(401);
		expect((await api.get("/payment-methods")).status).toBe(401);

		const setup = await api.post<Setup>("/payment-methods/setup", {}, { token: ada.token });
		expect(setup.status, JSON.stringify(setup.body)).toBe(200);
		expect(setup.body).toMatchObject({ provider: "stripe", setupIntentId: expect.stringMatching(/^seti_/) });
		const intent = fixture.setupIntents.get(setup.body.setupIntentId)!;
		expect(setup.body.clientSecret).toBe(intent.client_secret);
		expect(intent).toMatchObject({ usage: "off_session", metadata: { tenantId: ada.tenantId } });
		const customer = fixture.customers.get(intent.customer!)!;
		expect(customer.metadata).toEqual({ tenantId: ada.tenantId });
		// A second set-up reuses the tenant's customer.
		const again = await api.post<Setup>("/payment-methods/setup", {}, { token: ada.token });
		expect(fixture.setupIntents.get(again.body.setupIntentId)!.customer).toBe(customer.id);
		expect([...fixture.customers.values()].filter((c) => c.metadata.tenantId === ada.tenantId)).toHaveLength(1);
		// Nothing saved until Stripe says so.
		expect((await api.get<PublicSavedPaymentMethod[]>("/payment-methods", { token: ada.token })).body).toEqual([]);

		await fixture.confirmSetupIntent(setup.body.setupIntentId, "pm_card_visa");
		const delivered = fixture.deliveries.find((d) => d.event.type === "setup_intent.succeeded" && (d.event.data.object as { id: string }).id === setup.body.setupIntentId)!;
		expect(delivered.status, delivered.body).toBe(200);
		const visa = (await api.get<PublicSavedPaymentMethod[]>("/payment-methods", { token: ada.token })).body;
		expect(visa).toEqual([{ id: expect.any(String), tenantId: ada.tenantId, type: "card", brand: "visa", last4: "4242", expMonth: 12, expYear: expect.any(Number), isDefault: true, createdAt: expect.any(String) }]);
		expect(JSON.parse(delivered.body)).toEqual({ received: true, paymentMethodId: visa[0].id });
		const visaPm = fixture.setupIntents.get(setup.body.setupIntentId)!.payment_method!;
		expect(JSON.stringify(visa)).not.toContain(visaPm);

		// Stripe delivers the same event again: acknowledged, nothing changes.
		const payload = JSON.stringify(delivered.event);
		const redelivered = await fetch(`${node.url}/api/v1/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": fixture.signEvent(payload, WEBHOOK_SECRET) }, body: payload });
		expect(await redelivered.json()).toEqual({ received: true, duplicate: true });

		// A second card becomes the default; billing reads it from its own node.
		await fixture.confirmSetupIntent(again.body.setupIntentId, "5555555555554444");
		const both = (await api.get<PublicSavedPaymentMethod[]>("/payment-methods", { token: ada.token })).body;
		expect(both.map((m) => [m.brand, m.last4, m.isDefault])).toEqual([
			["mastercard", "4444", true],
			["visa", "4242", false],
		]);
		const viaBilling = await billing.call<PublicSavedPaymentMethod | null, { tenantId: string }>(PAYMENT_ACTIONS.defaultPaymentMethod, { tenantId: ada.tenantId }, systemCall());
		expect(viaBilling).toEqual(both[0]);

		// Someone else's card is 404, like a missing one; its owner removes it: detached at Stripe, the visa is the default again.
		const bob = await owner("bob");
		expect((await api.delete(`/payment-methods/${both[0].id}`, { token: bob.token })).status).toBe(404);
		expect((await api.delete("/payment-methods/not-a-uuid", { token: ada.token })).status).toBe(404);
		const removed = await api.delete(`/payment-methods/${both[0].id}`, { token: ada.token });
		expect(removed.status).toBe(204);
		const masterPm = fixture.setupIntents.get(again.body.setupIntentId)!.payment_method!;
		expect(fixture.paymentMethods.get(masterPm)!.customer).toBeNull();
		expect(fixture.requests.some((r) => r.path === `/v1/payment_methods/${masterPm}/detach`)).toBe(true);
		const left = (await api.get<PublicSavedPaymentMethod[]>("/payment-methods", { token: ada.token })).body;
		expect(left.map((m) => [m.last4, m.isDefault])).toEqual([["4242", true]]);
		expect(await billing.call(PAYMENT_ACTIONS.defaultPaymentMethod, { tenantId: bob.tenantId }, systemCall())).toBeNull();
	}, 60_000);
});

describe("paying an invoice through payments.payInvoice", () => {
	it("charges the default card off-session: succeeded at once, commerce.payment.settled names the invoice; the webhook and a replay change nothing", async () => {
		const tenant = await owner("carla");
		const card = await saveCard(tenant, "pm_card_visa");
		const invoiceId = randomUUID();
		const requestsBefore = fixture.requests.length;
		const paid = await payInvoice({ tenantId: tenant.tenantId, invoiceId, amount: 4900, currency: "eur", description: "Invoice INV-2026-000001", idempotencyKey: `${invoiceId}:1` });
		expect(paid).toMatchObject({
			payable: { type: "invoice", id: invoiceId },
			orderId: null,
			userId: null,
			tenantId: tenant.tenantId,
			amount: 4900,
			currency: "EUR",
			method: "credit_card",
			status: "succeeded",
			providerReference: expect.stringMatching(/^pi_/),
			failureCode: null,
			instructions: { type: "credit_card", description: "Invoice INV-2026-000001", provider: "stripe", paymentMethod: { id: card.id, brand: "visa", last4: "4242" } },
		});
		const intent = fixture.intents.get(paid.providerReference!)!;
		expect(intent).toMatchObject({ status: "succeeded", amount: 4900, currency: "eur", customer: expect.stringMatching(/^cus_/), description: "Invoice INV-2026-000001", metadata: { paymentId: paid.id, payableType: "invoice", payableId: invoiceId } });
		expect(fixture.requests.slice(requestsBefore).filter((r) => r.path === "/v1/payment_intents")).toEqual([{ method: "POST", path: "/v1/payment_intents", idempotencyKey: paid.id }]);

		const settled = await until(() => messagesOf(paid.id, PAYMENT_CHANNELS.settled)[0], "commerce.payment.settled");
		expect(settled.message).toMatchObject({ paymentId: paid.id, orderId: null, payable: { type: "invoice", id: invoiceId }, payment: { status: "succeeded", tenantId: tenant.tenantId } });
		const typed: InvoicePaymentMessage = settled.message as InvoicePaymentMessage;
		expect(typed.payment.amount).toBe(4900);

		// Stripe's payment_intent.succeeded follows: answered, nothing changes (one outbox row).
		await fixture.webhooksDelivered();
		const webhook = fixture.deliveries.find((d) => d.event.type === "payment_intent.succeeded" && (d.event.data.object as { id: string }).id === paid.providerReference)!;
		expect(webhook.status, webhook.body).toBe(200);

		expect(JSON.parse(webhook.body)).toMatchObject({ received: true, paymentId: paid.id, status: "succeeded" });
		expect(await outboxRows(paid.id)).toEqual([{ channel: PAYMENT_CHANNELS.settled }]);

		// A replay of the same key: the same payment, no second charge.
		const replayed = await payInvoice({ tenantId: tenant.tenantId, invoiceId, amount: 4900, currency: "EUR", idempotencyKey: `${invoiceId}:1` });
		expect(replayed).toMatchObject({ id: paid.id, status: "succeeded" });
		expect(fixture.requests.slice(requestsBefore).filter((r) => r.path === "/v1/payment_intents")).toHaveLength(1);
		// The same key for another request is a caller's mistake.
		await expect(payInvoice({ tenantId: tenant.tenantId, invoiceId, amount: 5000, idempotencyKey: `${invoiceId}:1` })).rejects.toMatchObject({ code: 422, type: "IDEMPOTENCY_KEY_REUSED" });
		// Super admins see invoices' payments; the tenant's users don't have them as theirs.
		const listed = await api.get<{ rows: PublicPayment[] }>(`/payments?invoiceId=${invoiceId}`, { token: adminToken });
		expect(listed.body.rows.map((row) => row.id)).toEqual([paid.id]);
		expect((await api.get(`/payments/${paid.id}`, { token: tenant.token })).status).toBe(404);
		await new Promise((resolve) => setTimeout(resolve, 300));
		expect(messagesOf(paid.id)).toHaveLength(1);
	}, 60_000);

	it("a declined card: failed at once with the decline reason and commerce.payment.failed; the webhook and a replay change nothing; a new attempt succeeds", async () => {
		const tenant = await owner("dora");
		// Stripe's 4000000000000341: saved fine, every charge declined.
		await saveCard(tenant, "4000000000000341");
		const invoiceId = randomUUID();
		const declined = await payInvoice({ tenantId: tenant.tenantId, invoiceId, amount: 12_000, currency: "USD" });
		expect(declined).toMatchObject({ status: "failed", failureCode: "card_declined", declineCode: "generic_decline", failureMessage: "Your card was declined.", providerReference: expect.stringMatching(/^pi_/), failedAt: expect.any(String) });
		const failed = await until(() => messagesOf(declined.id, PAYMENT_CHANNELS.failed)[0], "commerce.payment.failed");
		expect(failed.message).toMatchObject({ payable: { type: "invoice", id: invoiceId }, payment: { status: "failed", failureCode: "card_declined", declineCode: "generic_decline" } });
		await fixture.webhooksDelivered();
		const webhook = fixture.deliveries.find((d) => d.event.type === "payment_intent.payment_failed" && (d.event.data.object as { id: string }).id === declined.providerReference)!;
		expect(webhook.status, webhook.body).toBe(200);
		expect(await outboxRows(declined.id)).toEqual([{ channel: PAYMENT_CHANNELS.failed }]);
		const charges = fixture.requests.filter((r) => r.path === "/v1/payment_intents").length;
		expect(await payInvoice({ tenantId: tenant.tenantId, invoiceId, amount: 12_000, currency: "USD" })).toMatchObject({ id: declined.id, status: "failed", failureCode: "card_declined" });
		expect(fixture.requests.filter((r) => r.path === "/v1/payment_intents")).toHaveLength(charges);

		// The tenant saves a working card; billing's next attempt (a new key) pays the same invoice.
		await saveCard(tenant, "pm_card_visa");
		const retried = await payInvoice({ tenantId: tenant.tenantId, invoiceId, amount: 12_000, currency: "USD", idempotencyKey: `${invoiceId}:2` });
		expect(retried).toMatchObject({ status: "succeeded", instructions: { paymentMethod: { last4: "4242" } } });
		expect(retried.id).not.toBe(declined.id);
		await until(() => messagesOf(retried.id, PAYMENT_CHANNELS.settled)[0], "commerce.payment.settled of the retry");
	}, 60_000);

	it("a saved card that runs out of funds: insufficient_funds; a tenant without a card: payment_method_missing", async () => {
		const tenant = await owner("emil");
		await saveCard(tenant, "pm_card_visa");
		const invoiceId = randomUUID();
		expect((await payInvoice({ tenantId: tenant.tenantId, invoiceId, idempotencyKey: `${invoiceId}:1` })).status).toBe("succeeded");
		const pm = [...fixture.paymentMethods.values()].find((m) => m.customer && fixture.customers.get(m.customer)?.metadata.tenantId === tenant.tenantId)!;
		fixture.declineCharges(pm.id, "insufficient_funds");
		const next = randomUUID();
		const broke = await payInvoice({ tenantId: tenant.tenantId, invoiceId: next });
		expect(broke).toMatchObject({ status: "failed", failureCode: "card_declined", declineCode: "insufficient_funds", failureMessage: "Your card has insufficient funds." });
		const message = await until(() => messagesOf(broke.id, PAYMENT_CHANNELS.failed)[0], "commerce.payment.failed");
		expect(message.message.payment).toMatchObject({ declineCode: "insufficient_funds" });
		fixture.declineCharges(pm.id, null);

		const cardless = await owner("fritz");
		const missing = await payInvoice({ tenantId: cardless.tenantId, invoiceId: randomUUID() });
		expect(missing).toMatchObject({ status: "failed", failureCode: "payment_method_missing", declineCode: null, providerReference: null });
		await until(() => messagesOf(missing.id, PAYMENT_CHANNELS.failed)[0], "commerce.payment.failed without a card");
	}, 60_000);

	it("concurrent requests with one key make one payment and one charge", async () => {
		const tenant = await owner("greta");
		await saveCard(tenant, "pm_card_visa");
		const invoiceId = randomUUID();
		const answers = await Promise.all([1, 2, 3].map(() => payInvoice({ tenantId: tenant.tenantId, invoiceId, idempotencyKey: "same-key" })));
		expect(new Set(answers.map((answer) => answer.id)).size).toBe(1);
		await until(async () => ((await sql<{ status: string }>("SELECT status FROM payments.payments WHERE payable_id = $1", [invoiceId]))[0]?.status === "succeeded" ? true : undefined), "the charge");
		const [count] = await sql<{ n: number }>("SELECT count(*)::int AS n FROM payments.payments WHERE payable_id = $1", [invoiceId]);
		expect(count.n).toBe(1);
		expect([...fixture.intents.values()].filter((intent) => intent.metadata.payableId === invoiceId)).toHaveLength(1);
	}, 60_000);

	it("a bank transfer answers pending with instructions; verify settles it for billing; voidForInvoice fails a pending one", async () => {
		const tenant = await owner("hanna");
		const invoiceId = randomUUID();
		const pending = await payInvoice({ tenantId: tenant.tenantId, invoiceId, method: "bank_transfer", description: "Invoice INV-2026-000007" });
		expect(pending).toMatchObject({ status: "pending", method: "bank_transfer", payable: { type: "invoice", id: invoiceId }, instructions: { type: "bank_transfer", amount: 4900, currency: "EUR", description: "Invoice INV-2026-000007", iban: expect.any(String) } });
		expect(pending.instructions.reference).toBe(pending.paymentReference);
		// One pending payment per invoice.
		await expect(payInvoice({ tenantId: tenant.tenantId, invoiceId, method: "e_wallet", idempotencyKey: `${invoiceId}:other` })).rejects.toMatchObject({ code: 409, type: "PAYMENT_PENDING", data: { invoiceId, paymentId: pending.id } });
		const verified = await api.post<PublicPayment>(`/payments/${pending.id}/verify`, {}, { token: adminToken });
		expect(verified.status, JSON.stringify(verified.body)).toBe(200);
		const settled = await until(() => messagesOf(pending.id, PAYMENT_CHANNELS.settled)[0], "commerce.payment.settled of the transfer");
		expect(settled.message.payable).toEqual({ type: "invoice", id: invoiceId });

		const voidable = randomUUID();
		const waiting = await payInvoice({ tenantId: tenant.tenantId, invoiceId: voidable, method: "virtual_account" });
		const voided = await billing.call<PublicPayment[], object>(PAYMENT_ACTIONS.voidForInvoice, { invoiceId: voidable, reason: "invoice_voided" }, systemCall());
		expect(voided).toMatchObject([{ id: waiting.id, status: "failed", statusReason: "invoice_voided" }]);
		await expect(billing.call(PAYMENT_ACTIONS.payInvoice, { tenantId: tenant.tenantId, invoiceId: voidable, amount: 0, currency: "EUR", method: "bank_transfer", idempotencyKey: "x" }, systemCall())).rejects.toMatchObject({ name: "ValidationError" });
	}, 60_000);
});
