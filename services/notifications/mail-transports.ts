/**
 * Where outgoing mail goes: an SMTP server (nodemailer, pooled) when SMTP_URL is set, or nowhere but the
 * log when it isn't. The mail service records every message in its `outbox` table either way, so the
 * outbox "transport" has nothing to store: it only makes the message visible in the console, so a
 * newcomer on the embedded default can still follow a verification link.
 */
import { createTransport, type SMTPPoolSentMessageInfo, type Transporter } from "nodemailer";
import type { Logger as LoggerInstance } from "moleculer";
import type { PlatformConfig } from "../../lib/config";

export type MailConfig = PlatformConfig["mail"];
export type MailTransportName = "smtp" | "outbox";

export interface OutgoingMail {
	from: string;
	to: string;
	subject: string;
	text: string;
	html?: string;
}

export interface MailTransport {
	readonly name: MailTransportName;
	send(message: OutgoingMail): Promise<{ messageId?: string }>;
	/** Checks that the transport can reach its server; absent when there is nothing to reach. */
	verify?(): Promise<void>;
	close(): Promise<void>;
}

/**
 * Timeouts well under the broker's request timeout (10 s by default), so an unreachable or stalled server
 * becomes a recorded delivery failure rather than a caller-side timeout with no answer.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 8_000 } as const;

export class SmtpMailTransport implements MailTransport {
	readonly name = "smtp";
	private readonly transporter: Transporter<SMTPPoolSentMessageInfo>;

	constructor(smtpUrl: string) {
		// Pooled: identity and notification bursts reuse a few connections instead of one handshake per
		// message. Query options in the URL (pool=false, maxConnections=…) still take precedence.
		this.transporter = createTransport({ url: smtpUrl, pool: true, ...SMTP_TIMEOUTS });
	}

	async send(message: OutgoingMail): Promise<{ messageId?: string }> {
		const info = await this.transporter.sendMail(message);
		return { messageId: info.messageId };
	}

	async verify(): Promise<void> {
		await this.transporter.verify();
	}

	async close(): Promise<void> {
		this.transporter.close();
	}
}

const FIRST_LINK = /https?:\/\/[^\s<>"')]+/;

export class OutboxMailTransport implements MailTransport {
	readonly name = "outbox";

	constructor(private readonly logger: LoggerInstance) {}

	async send(message: OutgoingMail): Promise<{ messageId?: string }> {
		const link = FIRST_LINK.exec(message.text)?.[0];
		this.logger.info(`Mail kept in the outbox, not sent (no SMTP_URL): "${message.subject}" to ${message.to}${link ? ` | ${link}` : ""}`);
		return {};
	}

	async close(): Promise<void> {}
}

export function createMailTransport(config: MailConfig, logger: LoggerInstance): MailTransport {
	return config.smtpUrl ? new SmtpMailTransport(config.smtpUrl) : new OutboxMailTransport(logger);
}
