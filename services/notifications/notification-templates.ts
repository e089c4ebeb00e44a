/**
 * What each notification type says, per locale: a title and a short body for the in-app feed and the
 * realtime push, and the mail template (services/notifications/mail-templates.ts) its email is rendered from. The same
 * `{{variable}}` rules as mail apply: a missing variable is a 422 at send time, before any channel is
 * used, never a blank in a message.
 */
import { fillTemplate, PART_ENCODERS, renderTemplate, resolveLocale, type RenderedMail, type TemplateName } from "./mail-templates";
import type { NotificationType } from "./catalog";

interface FeedTemplate {
	title: string;
	body: string;
}

interface NotificationTemplate {
	/** Per locale; "en" is required and is the fallback. */
	feed: { en: FeedTemplate } & Record<string, FeedTemplate>;
	/** The mail template; chosen by the data where a variant needs a value only some sends have (a PDF link). */
	email?: TemplateName | ((data: Record<string, unknown>) => TemplateName);
}

const NOTIFICATION_TEMPLATES: Record<NotificationType, NotificationTemplate> = {
	"account.welcome": {
		feed: {
			en: { title: "Welcome to Lattice", body: "Hi {{fullName}}, your account is ready." },
			de: { title: "Willkommen bei Lattice", body: "Hallo {{fullName}}, dein Konto ist bereit." },
		},
		email: "welcome",
	},
	"account.verify_email": {
		// Email only (see the catalog): the link is a credential and never lands in a feed.
		feed: { en: { title: "Confirm your email address", body: "We sent a confirmation link to your email address." } },
		email: "verify-email",
	},
	"security.password_changed": {
		feed: { en: { title: "Your password was changed", body: "If it wasn't you, reset your password at once." } },
		email: "password-changed",
	},
	"order.paid": {
		feed: {
			en: { title: "Payment received", body: "We received {{total}} for order {{orderId}}." },
			de: { title: "Zahlung erhalten", body: "Wir haben {{total}} für die Bestellung {{orderId}} erhalten." },
		},
		email: "order-paid",
	},
	"order.refunded": {
		feed: { en: { title: "Order refunded", body: "Order {{orderId}} was refunded: {{total}}." } },
		email: "order-refunded",
	},
	"payment.succeeded": {
		feed: { en: { title: "Payment settled", body: "Your payment of {{total}} for order {{orderId}} settled." } },
	},
	"payment.failed": {
		feed: { en: { title: "Payment failed", body: "Your payment of {{total}} for order {{orderId}} did not go through." } },
		email: "payment-failed",
	},
	"payment.refunded": {
		feed: { en: { title: "Payment refunded", body: "Your payment of {{total}} for order {{orderId}} was refunded." } },
	},
	"subscription.created": {
		feed: { en: { title: "Subscription started", body: "{{organization}} is subscribed to {{planName}}." } },
		email: "subscription-created",
	},
	"subscription.updated": {
		feed: { en: { title: "Subscription updated", body: "The subscription of {{organization}} is now {{planName}}, {{status}}." } },
		email: "subscription-updated",
	},
	"subscription.canceled": {
		feed: { en: { title: "Subscription canceled", body: "The {{planName}} subscription of {{organization}} was canceled; it ends on {{endsAt}}." } },
		email: "subscription-canceled",
	},
	"subscription.trial_will_end": {
		feed: { en: { title: "Your trial ends soon", body: "The {{planName}} trial of {{organization}} ends on {{trialEnd}}; the first invoice of {{amount}} follows." } },
		email: "subscription-trial-will-end",
	},
	"invoice.finalized": {
		feed: { en: { title: "New invoice {{invoiceNumber}}", body: "{{organization}} has a new invoice of {{total}}." } },
		email: (data) => (data.pdfLink ? "invoice-finalized-pdf" : "invoice-finalized"),
	},
	"invoice.paid": {
		feed: { en: { title: "Invoice {{invoiceNumber}} paid", body: "We received {{total}} for invoice {{invoiceNumber}} of {{organization}}." } },
		email: "invoice-paid",
	},
	"invoice.payment_failed": {
		feed: { en: { title: "Payment failed for invoice {{invoiceNumber}}", body: "The payment of {{amountDue}} for {{organization}} did not go through. {{retryNote}}" } },
		email: "invoice-payment-failed",
	},
	"invoice.voided": {
		feed: { en: { title: "Invoice {{invoiceNumber}} voided", body: "Invoice {{invoiceNumber}} of {{organization}} ({{total}}) was voided." } },
		email: "invoice-voided",
	},
	"webhook.endpoint_disabled": {
		feed: { en: { title: "Webhook endpoint disabled", body: "Deliveries to {{url}} kept failing, so it was disabled: {{reason}}" } },
		email: "webhook-endpoint-disabled",
	},
	"screenshot.job.succeeded": {
		feed: { en: { title: "Screenshots ready", body: "{{images}} screenshot(s) of {{source}} are ready." } },
	},
	"screenshot.job.failed": {
		feed: { en: { title: "Screenshot job failed", body: "The screenshots of {{source}} failed: {{error}}" } },
		email: "screenshot-job-failed",
	},
	announcement: {
		feed: { en: { title: "{{title}}", body: "{{body}}" } },
	},
};

export interface RenderedNotification {
	locale: string;
	title: string;
	body: string;
	/** Only when the email channel is asked for and the type has an email. */
	email?: RenderedMail;
}

export function hasEmailTemplate(type: NotificationType): boolean {
	return NOTIFICATION_TEMPLATES[type].email !== undefined;
}

/** Renders a type for one recipient; throws 422 TEMPLATE_VARIABLE_MISSING/INVALID naming the variables. */
export function renderNotification(type: NotificationType, data: Record<string, unknown>, locale: string | undefined, withEmail: boolean): RenderedNotification {
	const template = NOTIFICATION_TEMPLATES[type];
	const resolved = resolveLocale(Object.keys(template.feed), locale);
	const feed = fillTemplate(`Notification "${type}"`, type, { ...template.feed[resolved] }, data, { title: PART_ENCODERS.oneLine, body: PART_ENCODERS.verbatim });
	const emailTemplate = typeof template.email === "function" ? template.email(data) : template.email;
	const email = withEmail && emailTemplate ? renderTemplate(emailTemplate, data, locale) : undefined;
	return { locale: resolved, ...feed, email };
}
