/**
 * The mail service against a real SMTP server (smtp-server, parsed with mailparser) and the run's real
 * PostgreSQL: delivery, escaping, refusals that send nothing, the embedded-mode outbox, access to it, and
 * a server that is down.
 *
 * Each broker runs the mail service alone, with the real broker options and middlewares: the rest of the
 * identity domain has nothing to do with these assertions. The outbox table is shared by every test file
 * of the run, so each test reads it through a recipient address of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { ServiceBroker, type Logger as LoggerInstance } from "moleculer";
import type { ParsedMail } from "mailparser";
import { firstAddress, startSmtpServer, type SmtpFixture } from "../fixtures/smtp-server";
import { createBrokerOptions } from "../../moleculer.config";
import { loadConfig, type PlatformConfig } from "../../lib/config";
import { OutboxMailTransport } from "../../services/notifications/mail-transports";
import { renderTemplate, TEMPLATE_NAMES } from "../../services/notifications/mail-templates";
import MailService, { type OutboxPage, type SendResult, type SendTemplateParams } from "../../services/notifications/mail.service";
import { baseEnv, freePort, type EnvOverrides } from "../helpers/nodes";

const MAIL_FROM = "Lattice Tests <no-reply@lattice.test>";
const superAdmin = { user: { id: "x", persona: "super_admin" }, persona: "super_admin" };
const endUser = { user: { id: "y", persona: "end_user" }, persona: "end_user" };
/** Fresh options per call: the broker writes into the options it is given (lib/caller's SYSTEM_CALL is frozen). */
const asSystem = () => ({ meta: { $system: true } });

function address(name: string): string {
	return `${name}-${randomUUID().slice(0, 8)}@example.com`;
}

async function startMailBroker(env: EnvOverrides): Promise<ServiceBroker> {
	const config = loadConfig(baseEnv({ SERVICES: "platform", MAIL_FROM, ...env }));
	const broker = new ServiceBroker(createBrokerOptions(config));
	// What createNode() does, so platformConfigOf() finds the validated config.
	(broker as ServiceBroker & { platformConfig?: PlatformConfig }).platformConfig = config;
	broker.createService(MailService);
	await broker.start();
	return broker;
}

function sendTemplate<T extends SendTemplateParams["template"]>(broker: ServiceBroker, params: SendTemplateParams<T>): Promise<SendResult> {
	return broker.call<SendResult, SendTemplateParams<T>>("mail.sendTemplate", params, asSystem());
}

function outboxOf(broker: ServiceBroker, to: string): Promise<OutboxPage> {
	return broker.call<OutboxPage, object>("mail.outbox", { to }, { meta: superAdmin });
}

describe("templates", () => {
	const complete = {
		fullName: "Ada Lovelace",
		link: "https://app.example.com/x?token=abc",
		expiresInMinutes: 60,
		tenantName: "Analytical Engines",
		inviterName: "Charles",
		role: "admin",
		expiresInDays: 7,
		orderId: "ord_1",
		total: "€12.00",
		url: "https://hooks.example.com/in",
		reason: "5 attempts failed",
		organization: "Analytical Engines",
		planName: "Pro",
		periodEnd: "April 1, 2026",
		status: "active",
		endsAt: "April 1, 2026",
		trialEnd: "March 15, 2026",
		amount: "€49.00",
		invoiceNumber: "INV-2026-000001",
		amountDue: "€58.31",
		retryNote: "We will try again on March 18, 2026.",
		pdfLink: "https://api.example.com/api/v1/invoices/1/pdf",
		jobId: "job_1",
		source: "https://example.com/",
		error: "The page did not finish within its 30000 ms budget",
	};

	it("renders every template with a subject, a text and an HTML body and no placeholder left", () => {
		for (const name of TEMPLATE_NAMES) {
			const rendered = renderTemplate(name, complete);
			for (const part of [rendered.subject, rendered.text, rendered.html]) {
				expect(part.length).toBeGreaterThan(0);
				expect(part).not.toContain("{{");
			}
		}
	});

	it("picks the locale, then its language, then English", () => {
		expect(renderTemplate("welcome", complete, "de-AT")).toMatchObject({ locale: "de", subject: "Willkommen bei Lattice" });
		expect(renderTemplate("password-changed", complete, "de-AT")).toMatchObject({ locale: "en", subject: "Your password was changed" });
		expect(renderTemplate("welcome", complete, "EN_gb").locale).toBe("en");
	});

	it("treats blank values as missing and refuses a link that isn't http(s)", () => {
		expect(() => renderTemplate("verify-email", { fullName: "  ", link: complete.link })).toThrow(
			expect.objectContaining({ code: 422, type: "TEMPLATE_VARIABLE_MISSING", data: { template: "verify-email", variables: ["fullName"] } }),
		);
		expect(() => renderTemplate("verify-email", { fullName: "Ada", link: "javascript:alert(1)" })).toThrow(
			expect.objectContaining({ code: 422, type: "TEMPLATE_VARIABLE_INVALID" }),
		);
	});

	it("keeps a subject on one line whatever the values hold", () => {
		const rendered = renderTemplate("invitation", { ...complete, inviterName: "Eve\r\nBcc: victim@example.com" });
		expect(rendered.subject).toBe("Eve Bcc: victim@example.com invited you to Analytical Engines");
	});
});

describe("outbox transport", () => {
	it("logs the subject, the recipient and the first link so a newcomer can follow it", async () => {
		const lines: string[] = [];
		const record = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
		const logger: LoggerInstance = { fatal: record, error: record, warn: record, info: record, debug: record, trace: record };
		await new OutboxMailTransport(logger).send({ from: MAIL_FROM, to: "ada@example.com", subject: "Confirm", text: "Open https://app.example.com/v?t=1 now, or https://other.example.com" });
		expect(lines).toEqual([expect.stringContaining('"Confirm" to ada@example.com | https://app.example.com/v?t=1')]);
	});
});

describe("with an SMTP server", () => {
	let smtp: SmtpFixture;
	let received: ParsedMail[];
	let broker: ServiceBroker;

	beforeAll(async () => {
		smtp = await startSmtpServer();
		received = smtp.received;
		broker = await startMailBroker({ SMTP_URL: smtp.url });
	});

	afterAll(async () => {
		// The broker first: its pooled connections would otherwise hold the server's close open.
		await broker?.stop();
		await smtp?.close();
	});

	it("delivers a rendered verify-email with the right To, From, Subject and the link in both bodies", async () => {
		const to = address("ada");
		const link = "http://localhost:3000/verify-email?token=abc123&next=%2Fhome";
		const result = await sendTemplate(broker, { to, template: "verify-email", data: { fullName: "Ada Lovelace", link } });
		expect(result).toMatchObject({ transport: "smtp", status: "sent" });
		expect(result.messageId).toEqual(expect.any(String));

		const mail = received.find((item) => firstAddress(item.to)?.address === to);
		expect(mail).toBeDefined();
		expect(firstAddress(mail?.from)).toEqual({ name: "Lattice Tests", address: "no-reply@lattice.test" });
		expect(mail?.subject).toBe("Confirm your email address");
		expect(mail?.messageId).toBe(result.messageId);
		expect(mail?.text).toContain(link);
		expect(mail?.html).toContain(`href="${link.replace(/&/g, "&amp;")}"`);
		expect(mail?.html).toContain("Ada Lovelace");

		const outbox = await outboxOf(broker, to);
		expect(outbox.total).toBe(1);
		expect(outbox.rows[0]).toMatchObject({ id: result.id, toAddress: to, template: "verify-email", transport: "smtp", status: "sent", messageId: result.messageId, error: null });
	});

	it("escapes values in the HTML body and leaves the text as written", async () => {
		const to = address("mallory");
		const fullName = `<script>alert("x")</script> & 'Co'`;
		await sendTemplate(broker, { to, template: "welcome", data: { fullName } });
		const mail = received.find((item) => firstAddress(item.to)?.address === to);
		expect(mail?.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;");
		expect(mail?.html).not.toContain("<script>");
		expect(mail?.text).toContain(fullName);
	});

	it("sends a message written by the caller", async () => {
		const to = address("raw");
		const result = await broker.call<SendResult, object>("mail.send", { to, subject: "Weekly digest", text: "Three new reviews." }, asSystem());
		expect(result).toMatchObject({ transport: "smtp", status: "sent" });
		const mail = received.find((item) => firstAddress(item.to)?.address === to);
		expect(mail).toMatchObject({ subject: "Weekly digest", html: false });
		expect(mail?.text?.trim()).toBe("Three new reviews.");
	});

	it("refuses a template with a missing variable (422) and sends and records nothing", async () => {
		const to = address("incomplete");
		const before = received.length;
		await expect(
			broker.call("mail.sendTemplate", { to, template: "password-reset", data: { fullName: "Ada", link: "https://app.example.com/reset" } }, asSystem()),
		).rejects.toMatchObject({ code: 422, type: "TEMPLATE_VARIABLE_MISSING", data: { variables: ["expiresInMinutes"] } });
		await expect(broker.call("mail.sendTemplate", { to, template: "no-such-template", data: {} }, asSystem())).rejects.toMatchObject({
			code: 422,
			type: "TEMPLATE_NOT_FOUND",
		});
		expect(received.length).toBe(before);
		expect((await outboxOf(broker, to)).total).toBe(0);
	});

	it("refuses a subject that would span lines", async () => {
		await expect(broker.call("mail.send", { to: address("header"), subject: "Hi\r\nBcc: x@example.com", text: "t" }, asSystem())).rejects.toMatchObject({
			type: "VALIDATION_ERROR",
		});
	});
});

describe("without SMTP_URL (the outbox)", () => {
	let broker: ServiceBroker;

	beforeAll(async () => {
		broker = await startMailBroker({});
	});

	afterAll(async () => {
		await broker?.stop();
	});

	it("records the message as stored and shows it to a super admin, newest first", async () => {
		const to = address("newcomer");
		const link = "http://localhost:3000/reset-password?token=xyz";
		const first = await sendTemplate(broker, { to, template: "password-reset", data: { fullName: "Ada", link, expiresInMinutes: 30 } });
		expect(first).toEqual({ id: expect.any(String), transport: "outbox", status: "stored", messageId: null });
		await new Promise((resolve) => setTimeout(resolve, 10));
		const second = await sendTemplate(broker, { to, template: "password-changed", data: { fullName: "Ada" } });

		const outbox = await outboxOf(broker, to);
		expect(outbox).toMatchObject({ total: 2, page: 1, totalPages: 1 });
		expect(outbox.rows.map((row) => row.id)).toEqual([second.id, first.id]);
		expect(outbox.rows[1]).toMatchObject({ toAddress: to, subject: "Reset your password", template: "password-reset", transport: "outbox", status: "stored", messageId: null });
		expect(outbox.rows[1].textBody).toContain(link);
		expect(outbox.rows[1].textBody).toContain("30 minutes");

		const failedOnly = await broker.call<OutboxPage, object>("mail.outbox", { to, status: "failed" }, { meta: superAdmin });
		expect(failedOnly.total).toBe(0);
	});

	it("keeps the outbox from anyone but a super admin", async () => {
		await expect(broker.call("mail.outbox", {}, { meta: endUser })).rejects.toMatchObject({ code: 403 });
		await expect(broker.call("mail.outbox", {})).rejects.toMatchObject({ code: 401 });
		await expect(broker.call("mail.send", { to: address("anon"), subject: "s", text: "t" })).rejects.toMatchObject({ code: 401 });
	});

	it("exposes no moleculer-db action that could rewrite the log", async () => {
		const actions = broker.registry.getActionList({}).map((action) => action.name);
		expect(actions.filter((name) => name.startsWith("mail."))).toEqual(expect.arrayContaining(["mail.send", "mail.sendTemplate", "mail.outbox"]));
		for (const name of ["mail.list", "mail.get", "mail.create", "mail.update", "mail.remove"]) expect(actions).not.toContain(name);
	});
});

describe("with the SMTP server down", () => {
	let broker: ServiceBroker;

	beforeAll(async () => {
		// A port that was free a moment ago: nothing answers there.
		broker = await startMailBroker({ SMTP_URL: `smtp://127.0.0.1:${await freePort()}` });
	});

	afterAll(async () => {
		await broker?.stop();
	});

	it("answers a retryable MAIL_DELIVERY_FAILED and records the message as failed", async () => {
		const to = address("unlucky");
		const error = await broker.call("mail.sendTemplate", { to, template: "welcome", data: { fullName: "Ada" } }, asSystem()).catch((err: unknown) => err);
		expect(error).toMatchObject({ code: 503, type: "MAIL_DELIVERY_FAILED", retryable: true });
		const outbox = await outboxOf(broker, to);
		expect(outbox.total).toBe(1);
		expect(outbox.rows[0]).toMatchObject({ id: (error as { data: { id: string } }).data.id, transport: "smtp", status: "failed", messageId: null });
		expect(outbox.rows[0].error).toEqual(expect.any(String));
	});
});
