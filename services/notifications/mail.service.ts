/**
 * Outgoing email for the platform (verification, password reset, invitations, notifications). Other
 * services call `mail.send` or `mail.sendTemplate`; neither is on the REST API.
 *
 * With SMTP_URL the message goes to that server through nodemailer. Without it (the embedded default) it
 * is kept in the outbox table and logged with its first link, so a newcomer can still verify an account.
 * Either way every message gets an outbox row: it doubles as the delivery log that `GET /mail/outbox`
 * shows a super admin.
 */
import path from "node:path";
import type { Context, Service, ServiceSchema } from "moleculer";
import { DbMixin, PAGE_PARAMS, type DbMixinLocals, type DbMixinSettings } from "../../mixins/db.mixin";
import { OutboxModel } from "../../models/notifications/mail/outbox.model";
import { platformConfigOf } from "../../lib/node";
import { ServiceUnavailableError } from "../../lib/errors";
import type { CallerMeta } from "../../lib/caller";
import { createMailTransport, type MailTransport, type MailTransportName } from "./mail-transports";
import { renderTemplate } from "./mail-templates";
import { OUTBOX_STATUSES, type MailSendParams as SendParams, type MailSendResult as SendResult, type MailSendTemplateParams as SendTemplateParams, type OutboxStatus } from "./contracts";
import { PageOf } from "../../lib/schema";
import { MailOutboxEntrySchema } from "./api-schemas";

export { OUTBOX_STATUSES };
export type { MailSendParams as SendParams, MailSendResult as SendResult, MailSendTemplateParams as SendTemplateParams, OutboxStatus } from "./contracts";

export interface OutboxParams {
	to?: string;
	status?: OutboxStatus;
	page?: number;
	pageSize?: number;
}

export interface OutboxMessage {
	id: string;
	toAddress: string;
	subject: string;
	textBody: string;
	htmlBody: string | null;
	template: string | null;
	transport: MailTransportName;
	status: OutboxStatus;
	messageId: string | null;
	error: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export interface OutboxPage {
	rows: OutboxMessage[];
	total: number;
	page: number;
	pageSize: number;
	totalPages: number;
}

type MailSettings = DbMixinSettings;

interface MailMethods {
	deliver(mail: SendParams): Promise<SendResult>;
	listOutbox(ctx: Context, params: OutboxParams): Promise<OutboxPage>;
}

interface MailLocals extends DbMixinLocals<typeof OutboxModel> {
	transport: MailTransport;
	mailFrom: string;
}

/** The moleculer-db method used here (its own typings declare it synchronous). */
interface DbListing {
	_list(
		ctx: Context,
		params: { page: number; pageSize: number; limit: number; offset: number; sort: string[]; query: Record<string, unknown> },
	): Promise<OutboxPage>;
}

type MailThis = Service<MailSettings> & MailMethods & MailLocals & DbListing;

const recipient = { type: "email", max: 320 } as const;

const MailService: ServiceSchema<MailSettings, MailMethods & DbListing, MailLocals> = {
	name: "mail",
	mixins: [
		DbMixin({
			schema: "mail",
			migrations: path.join(__dirname, "../../models/notifications/mail/migrations"),
			entityName: "Outbox message",
			model: OutboxModel,
		}),
	],

	settings: {
		fields: ["id", "toAddress", "subject", "textBody", "htmlBody", "template", "transport", "status", "messageId", "error", "createdAt", "updatedAt"],
	},

	actions: {
		// The outbox is a delivery log: nothing in the cluster gets to create, edit or delete its rows directly.
		find: false,
		count: false,
		list: false,
		create: false,
		insert: false,
		get: false,
		update: false,
		remove: false,

		send: {
			visibility: "public",
			summary: "Send one email (or keep it in the outbox when no SMTP server is configured)",
			params: {
				to: recipient,
				// One header line: a line break would let the subject add headers of its own.
				subject: { type: "string", min: 1, max: 998, pattern: /^[^\r\n]*$/ },
				text: { type: "string", min: 1 },
				html: { type: "string", optional: true },
				template: { type: "string", optional: true, max: 100 },
			},
			handler(this: MailThis, ctx: Context<SendParams, CallerMeta>): Promise<SendResult> {
				return this.deliver(ctx.params);
			},
		},

		sendTemplate: {
			visibility: "public",
			summary: "Render a mail template and send it",
			params: {
				to: recipient,
				template: { type: "string", min: 1, max: 100 },
				data: { type: "object" },
				locale: { type: "string", optional: true, max: 35 },
			},
			handler(this: MailThis, ctx: Context<SendTemplateParams, CallerMeta>): Promise<SendResult> {
				const { to, template, data, locale } = ctx.params;
				const rendered = renderTemplate(template, data as unknown as Record<string, unknown>, locale);
				return this.deliver({ to, subject: rendered.subject, text: rendered.text, html: rendered.html, template: rendered.template });
			},
		},

		outbox: {
			rest: "GET /outbox",
			responses: { 200: { description: "A page of the mail outbox, newest first", body: PageOf(MailOutboxEntrySchema) } },
			permissions: ["super_admin"],
			summary: "Messages the platform sent or kept, newest first",
			params: {
				to: { ...recipient, optional: true },
				status: { type: "enum", values: [...OUTBOX_STATUSES], optional: true },
				...PAGE_PARAMS,
			},
			handler(this: MailThis, ctx: Context<OutboxParams, CallerMeta>): Promise<OutboxPage> {
				return this.listOutbox(ctx, ctx.params);
			},
		},
	},

	methods: {
		/**
		 * Hands the message to the transport, then records the outcome. A refused message is recorded as
		 * failed and answered with a retryable 503: the caller decides whether to try again, since a send
		 * that timed out on the caller's side may still have gone out.
		 */
		async deliver(this: MailThis, mail: SendParams): Promise<SendResult> {
			const transport = this.transport;
			let messageId: string | null = null;
			let failure: Error | undefined;
			try {
				const sent = await transport.send({ from: this.mailFrom, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
				messageId = sent.messageId ?? null;
			} catch (err) {
				failure = err instanceof Error ? err : new Error(String(err));
			}

			const status: OutboxStatus = failure ? "failed" : transport.name === "smtp" ? "sent" : "stored";
			const row = await this.model.create({
				toAddress: mail.to,
				subject: mail.subject,
				textBody: mail.text,
				htmlBody: mail.html ?? null,
				template: mail.template ?? null,
				transport: transport.name,
				status,
				messageId,
				error: failure?.message ?? null,
			});
			const { id } = row.get({ plain: true });

			if (failure) {
				// The SMTP server's words stay in the log and the outbox row; the caller gets the row id.
				this.logger.warn(`Mail ${id} could not be delivered: ${failure.message}`);
				throw new ServiceUnavailableError("The mail server did not accept the message; try again later", "MAIL_DELIVERY_FAILED", { id });
			}
			return { id, transport: transport.name, status, messageId };
		},

		listOutbox(this: MailThis, ctx: Context, params: OutboxParams): Promise<OutboxPage> {
			const page = params.page ?? 1;
			const pageSize = params.pageSize ?? this.settings.pageSize ?? 20;
			const query: Record<string, unknown> = {};
			if (params.to) query.toAddress = params.to;
			if (params.status) query.status = params.status;
			return this._list(ctx, { page, pageSize, limit: pageSize, offset: (page - 1) * pageSize, sort: ["-createdAt"], query });
		},
	},

	created(this: MailThis) {
		const config = platformConfigOf(this.broker);
		this.mailFrom = config.mail.from;
		this.transport = createMailTransport(config.mail, this.logger);
		if (this.transport.name === "outbox" && config.env === "production") {
			this.logger.warn("SMTP_URL is not set: mail is kept in the outbox and the log, and nobody receives it");
		}
	},

	async started(this: MailThis) {
		// A wrong SMTP_URL is reported at start rather than at the first sign-up, without holding the start
		// up: mail is not needed to serve, and the server may come up later.
		void this.transport.verify?.().then(
			() => this.logger.info("SMTP server reachable"),
			(err: Error) => this.logger.warn(`SMTP server not reachable yet: ${err.message}`),
		);
	},

	async stopped(this: MailThis) {
		await this.transport.close();
	},
};

export default MailService;
