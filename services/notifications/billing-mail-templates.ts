/**
 * The emails of billing's notifications (subscriptions and invoices), with the same `{{variable}}` rules as
 * every mail template (mail-templates.ts merges them in): a missing variable is a 422 naming it, values are
 * HTML-escaped in the HTML body, `link` and `pdfLink` must be http(s) URLs.
 *
 * Every one names the organization, since a person may own several: `organization` is the tenant's name.
 * Amounts and dates arrive formatted (notification-triggers.ts).
 */
import { button, layout, type MailTemplate } from "./mail-layout";

export interface BillingTemplateVariables {
	"subscription-created": { fullName: string; organization: string; planName: string; periodEnd: string; link: string };
	"subscription-updated": { fullName: string; organization: string; planName: string; status: string; link: string };
	"subscription-canceled": { fullName: string; organization: string; planName: string; endsAt: string; link: string };
	"subscription-trial-will-end": { fullName: string; organization: string; planName: string; trialEnd: string; amount: string; link: string };
	"invoice-finalized": { fullName: string; organization: string; invoiceNumber: string; total: string; link: string };
	/** invoice-finalized once the PDF is stored: with a link to it. */
	"invoice-finalized-pdf": { fullName: string; organization: string; invoiceNumber: string; total: string; link: string; pdfLink: string };
	"invoice-paid": { fullName: string; organization: string; invoiceNumber: string; total: string; link: string };
	"invoice-payment-failed": { fullName: string; organization: string; invoiceNumber: string; amountDue: string; retryNote: string; link: string };
	"invoice-voided": { fullName: string; organization: string; invoiceNumber: string; total: string; link: string };
}

const invoiceFinalized = (pdf: boolean): MailTemplate => ({
	subject: "Invoice {{invoiceNumber}} for {{organization}}: {{total}}",
	text: `Hi {{fullName}},

Invoice {{invoiceNumber}} for {{organization}} is ready: {{total}}.

See the invoice: {{link}}${pdf ? "\nDownload the PDF: {{pdfLink}}" : ""}`,
	html: layout(`<p>Hi {{fullName}},</p>
<p>Invoice <strong>{{invoiceNumber}}</strong> for {{organization}} is ready: <strong>{{total}}</strong>.</p>
${button("See the invoice")}${pdf ? `\n<p><a href="{{pdfLink}}">Download the PDF</a></p>` : ""}`),
});

export const BILLING_MAIL_TEMPLATES: { [name in keyof BillingTemplateVariables]: Record<string, MailTemplate> } = {
	"subscription-created": {
		en: {
			subject: "{{organization}} is subscribed to {{planName}}",
			text: `Hi {{fullName}},

{{organization}} is now subscribed to {{planName}}. The current period ends on {{periodEnd}}.

Manage the subscription: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>{{organization}} is now subscribed to <strong>{{planName}}</strong>. The current period ends on {{periodEnd}}.</p>
${button("Manage the subscription")}`),
		},
	},
	"subscription-updated": {
		en: {
			subject: "The subscription of {{organization}} changed",
			text: `Hi {{fullName}},

The subscription of {{organization}} changed: {{planName}}, {{status}}.

Manage the subscription: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>The subscription of {{organization}} changed: <strong>{{planName}}</strong>, {{status}}.</p>
${button("Manage the subscription")}`),
		},
	},
	"subscription-canceled": {
		en: {
			subject: "The {{planName}} subscription of {{organization}} was canceled",
			text: `Hi {{fullName}},

The {{planName}} subscription of {{organization}} was canceled. It ends on {{endsAt}}; after that, the free plan's limits apply.

Subscribe again at any time: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>The <strong>{{planName}}</strong> subscription of {{organization}} was canceled. It ends on {{endsAt}}; after that, the free plan's limits apply.</p>
${button("See the plans")}`),
		},
	},
	"subscription-trial-will-end": {
		en: {
			subject: "The {{planName}} trial of {{organization}} ends on {{trialEnd}}",
			text: `Hi {{fullName}},

The {{planName}} trial of {{organization}} ends on {{trialEnd}}. The subscription then continues, and its first invoice of {{amount}} is charged to the payment method on file.

Change or cancel the subscription before then: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>The <strong>{{planName}}</strong> trial of {{organization}} ends on <strong>{{trialEnd}}</strong>. The subscription then continues, and its first invoice of <strong>{{amount}}</strong> is charged to the payment method on file.</p>
<p>To change or cancel the subscription, do so before then.</p>
${button("Manage the subscription")}`),
		},
	},
	"invoice-finalized": { en: invoiceFinalized(false) },
	"invoice-finalized-pdf": { en: invoiceFinalized(true) },
	"invoice-paid": {
		en: {
			subject: "Payment received for invoice {{invoiceNumber}}",
			text: `Hi {{fullName}},

We received {{total}} for invoice {{invoiceNumber}} of {{organization}}. Thank you!

See the invoice: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>We received <strong>{{total}}</strong> for invoice {{invoiceNumber}} of {{organization}}. Thank you!</p>
${button("See the invoice")}`),
		},
	},
	"invoice-payment-failed": {
		en: {
			subject: "Payment failed for invoice {{invoiceNumber}} of {{organization}}",
			text: `Hi {{fullName}},

The payment of {{amountDue}} for invoice {{invoiceNumber}} of {{organization}} did not go through. {{retryNote}}

Update the payment method or pay the invoice now: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>The payment of <strong>{{amountDue}}</strong> for invoice {{invoiceNumber}} of {{organization}} did not go through. {{retryNote}}</p>
${button("Pay the invoice")}`),
		},
	},
	"invoice-voided": {
		en: {
			subject: "Invoice {{invoiceNumber}} of {{organization}} was voided",
			text: `Hi {{fullName}},

Invoice {{invoiceNumber}} of {{organization}} ({{total}}) was voided: nothing is owed on it.

See the invoice: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Invoice {{invoiceNumber}} of {{organization}} ({{total}}) was voided: nothing is owed on it.</p>
${button("See the invoice")}`),
		},
	},
};
