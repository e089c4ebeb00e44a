/**
 * Transactional mail templates, per name and locale. Each has a subject, a plain-text body and an HTML
 * body with `{{variable}}` placeholders. Rendering refuses rather than guesses: a placeholder without a
 * value is a 422 naming the variables, never a blank in a message a user receives. Values are HTML-escaped
 * in the HTML body; subjects are kept to one line so a value can't add a header.
 *
 * A new locale is one more entry under a template; a requested locale that isn't there falls back to its
 * language ("de-AT" → "de"), then to DEFAULT_LOCALE.
 */
import { UnprocessableEntityError } from "../../lib/errors";
import { escapeHtml } from "../../lib/html";
import { button, layout, type MailTemplate } from "./mail-layout";
import { BILLING_MAIL_TEMPLATES, type BillingTemplateVariables } from "./billing-mail-templates";

export const DEFAULT_LOCALE = "en";

export type { MailTemplate } from "./mail-layout";

/** The variables each template needs, so callers can type what they pass. */
export interface TemplateVariables extends BillingTemplateVariables {
	"verify-email": { fullName: string; link: string };
	"password-reset": { fullName: string; link: string; expiresInMinutes: number };
	invitation: { tenantName: string; inviterName: string; role: string; link: string; expiresInDays: number };
	welcome: { fullName: string };
	"password-changed": { fullName: string };
	"order-paid": { fullName: string; orderId: string; total: string; link: string };
	"order-refunded": { fullName: string; orderId: string; total: string; link: string };
	"payment-failed": { fullName: string; orderId: string; total: string; link: string };
	"webhook-endpoint-disabled": { fullName: string; url: string; reason: string };
	"screenshot-job-failed": { fullName: string; jobId: string; source: string; error: string; link: string };
}

export type TemplateName = keyof TemplateVariables;

export interface RenderedMail {
	template: string;
	locale: string;
	subject: string;
	text: string;
	html: string;
}

/** Variables that become a link target: only http(s) URLs, so a value can't smuggle in `javascript:`. */
const URL_VARIABLES = new Set(["link", "pdfLink"]);

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

const TEMPLATES: { [name in TemplateName]: Record<string, MailTemplate> } = {
	"verify-email": {
		en: {
			subject: "Confirm your email address",
			text: `Hi {{fullName}},

Please confirm your email address by opening this link:

{{link}}

If you didn't create an account, you can ignore this message.`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Please confirm your email address.</p>
${button("Confirm email address")}
<p>If you didn't create an account, you can ignore this message.</p>`),
		},
		de: {
			subject: "Bestätige deine E-Mail-Adresse",
			text: `Hallo {{fullName}},

bitte bestätige deine E-Mail-Adresse mit diesem Link:

{{link}}

Wenn du kein Konto angelegt hast, kannst du diese Nachricht ignorieren.`,
			html: layout(`<p>Hallo {{fullName}},</p>
<p>bitte bestätige deine E-Mail-Adresse.</p>
${button("E-Mail-Adresse bestätigen")}
<p>Wenn du kein Konto angelegt hast, kannst du diese Nachricht ignorieren.</p>`),
		},
	},
	"password-reset": {
		en: {
			subject: "Reset your password",
			text: `Hi {{fullName}},

Someone asked to reset the password of your account. To choose a new one, open this link within {{expiresInMinutes}} minutes:

{{link}}

If it wasn't you, ignore this message: your password stays as it is.`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Someone asked to reset the password of your account. To choose a new one, use this link within {{expiresInMinutes}} minutes.</p>
${button("Choose a new password")}
<p>If it wasn't you, ignore this message: your password stays as it is.</p>`),
		},
	},
	invitation: {
		en: {
			subject: "{{inviterName}} invited you to {{tenantName}}",
			text: `{{inviterName}} invited you to join {{tenantName}} as {{role}}.

Accept the invitation within {{expiresInDays}} days:

{{link}}

If you weren't expecting this, you can ignore this message.`,
			html: layout(`<p>{{inviterName}} invited you to join <strong>{{tenantName}}</strong> as {{role}}.</p>
<p>Accept the invitation within {{expiresInDays}} days.</p>
${button("Accept the invitation")}
<p>If you weren't expecting this, you can ignore this message.</p>`),
		},
	},
	welcome: {
		en: {
			subject: "Welcome to Lattice",
			text: `Hi {{fullName}},

Welcome aboard: your account is ready.`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Welcome aboard: your account is ready.</p>`),
		},
		de: {
			subject: "Willkommen bei Lattice",
			text: `Hallo {{fullName}},

willkommen an Bord: dein Konto ist bereit.`,
			html: layout(`<p>Hallo {{fullName}},</p>
<p>willkommen an Bord: dein Konto ist bereit.</p>`),
		},
	},
	"order-paid": {
		en: {
			subject: "Payment received for order {{orderId}}",
			text: `Hi {{fullName}},

We received your payment of {{total}} for order {{orderId}}. Thank you!

See the order: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>We received your payment of <strong>{{total}}</strong> for order {{orderId}}. Thank you!</p>
${button("See the order")}`),
		},
		de: {
			subject: "Zahlung für Bestellung {{orderId}} erhalten",
			text: `Hallo {{fullName}},

wir haben deine Zahlung über {{total}} für die Bestellung {{orderId}} erhalten. Vielen Dank!

Zur Bestellung: {{link}}`,
			html: layout(`<p>Hallo {{fullName}},</p>
<p>wir haben deine Zahlung über <strong>{{total}}</strong> für die Bestellung {{orderId}} erhalten. Vielen Dank!</p>
${button("Zur Bestellung")}`),
		},
	},
	"order-refunded": {
		en: {
			subject: "Order {{orderId}} was refunded",
			text: `Hi {{fullName}},

Order {{orderId}} was refunded: {{total}} is on its way back to you.

See the order: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Order {{orderId}} was refunded: <strong>{{total}}</strong> is on its way back to you.</p>
${button("See the order")}`),
		},
	},
	"payment-failed": {
		en: {
			subject: "Your payment for order {{orderId}} failed",
			text: `Hi {{fullName}},

Your payment of {{total}} for order {{orderId}} did not go through. You can try again with another payment method.

See the order: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Your payment of <strong>{{total}}</strong> for order {{orderId}} did not go through. You can try again with another payment method.</p>
${button("See the order")}`),
		},
	},
	"screenshot-job-failed": {
		en: {
			subject: "Your screenshot job failed",
			text: `Hi {{fullName}},

Your screenshot job {{jobId}} of {{source}} failed: {{error}}

See the job: {{link}}`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Your screenshot job {{jobId}} of <code>{{source}}</code> failed: {{error}}</p>
${button("See the job")}`),
		},
	},
	"webhook-endpoint-disabled": {
		en: {
			subject: "A webhook endpoint was disabled",
			text: `Hi {{fullName}},

Deliveries to your webhook endpoint {{url}} kept failing, so we disabled it: {{reason}}

Fix the receiver, then re-enable the endpoint (PUT /api/v1/webhook-endpoints/<id> with status "enabled"); deliveries that failed can be retried from its delivery log.`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>Deliveries to your webhook endpoint <code>{{url}}</code> kept failing, so we disabled it: {{reason}}</p>
<p>Fix the receiver, then re-enable the endpoint; deliveries that failed can be retried from its delivery log.</p>`),
		},
	},
	"password-changed": {
		en: {
			subject: "Your password was changed",
			text: `Hi {{fullName}},

The password of your account was just changed. If it was you, there is nothing to do.

If it wasn't, reset your password at once and contact support.`,
			html: layout(`<p>Hi {{fullName}},</p>
<p>The password of your account was just changed. If it was you, there is nothing to do.</p>
<p>If it wasn't, reset your password at once and contact support.</p>`),
		},
	},
	...BILLING_MAIL_TEMPLATES,
};

export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

function isTemplateName(name: string): name is TemplateName {
	return Object.hasOwn(TEMPLATES, name);
}

/** The locale to render: the exact one, else its language, else the default. */
export function resolveLocale(available: readonly string[], requested: string | undefined): string {
	if (requested) {
		const wanted = requested.trim().toLowerCase().replace(/_/g, "-");
		const language = wanted.split("-")[0];
		const match = available.find((locale) => locale.toLowerCase() === wanted) ?? available.find((locale) => locale.toLowerCase() === language);
		if (match) return match;
	}
	return DEFAULT_LOCALE;
}

/** A value fit for a message: blank strings, null, objects and NaN are as good as missing. */
function present(value: unknown): string | undefined {
	if (typeof value === "string") return value.trim() === "" ? undefined : value;
	if (typeof value === "number") return Number.isFinite(value) ? String(value) : undefined;
	if (typeof value === "boolean") return String(value);
	return undefined;
}

function isHttpUrl(value: string): boolean {
	try {
		const parsed = new URL(value);
		return parsed.protocol === "http:" || parsed.protocol === "https:";
	} catch {
		return false;
	}
}

function placeholders(parts: Record<string, string>): string[] {
	const names = new Set<string>();
	for (const part of Object.values(parts)) {
		for (const match of part.matchAll(PLACEHOLDER)) names.add(match[1]);
	}
	return [...names];
}

function substitute(source: string, values: ReadonlyMap<string, string>, encode: (value: string) => string): string {
	// Every placeholder was checked before substitution, so the fallback is never used.
	return source.replace(PLACEHOLDER, (_match, name: string) => encode(values.get(name) ?? ""));
}

const oneLine = (value: string) => value.replace(/\s*[\r\n]+\s*/g, " ");
const verbatim = (value: string) => value;

/** How a value is written into each kind of part: subjects and titles stay on one line, HTML is escaped. */
export const PART_ENCODERS = { oneLine, verbatim, html: escapeHtml } as const;

/**
 * Fills the `{{variable}}` placeholders of every part, or throws 422 before anything is written:
 * TEMPLATE_VARIABLE_MISSING naming every variable without a value, TEMPLATE_VARIABLE_INVALID for a link
 * that isn't an http(s) URL. `label` names the template in the error ("Mail template \"welcome\"").
 */
export function fillTemplate<P extends Record<string, string>>(
	label: string,
	template: string,
	parts: P,
	data: Record<string, unknown>,
	encoders: { [K in keyof P]: (value: string) => string },
): P {
	const values = new Map<string, string>();
	const missing: string[] = [];
	const invalid: string[] = [];
	for (const variable of placeholders(parts)) {
		const value = Object.hasOwn(data, variable) ? present(data[variable]) : undefined;
		if (value === undefined) missing.push(variable);
		else if (URL_VARIABLES.has(variable) && !isHttpUrl(value)) invalid.push(variable);
		else values.set(variable, value);
	}
	if (missing.length > 0) {
		throw new UnprocessableEntityError(`${label} needs a value for: ${missing.join(", ")}`, "TEMPLATE_VARIABLE_MISSING", { template, variables: missing });
	}
	if (invalid.length > 0) {
		throw new UnprocessableEntityError(`${label} needs an http(s) URL in: ${invalid.join(", ")}`, "TEMPLATE_VARIABLE_INVALID", { template, variables: invalid });
	}
	const filled: Record<string, string> = {};
	for (const [name, source] of Object.entries(parts)) {
		const encode = encoders[name as keyof P];
		filled[name] = substitute(source, values, encode);
		if (encode === oneLine) filled[name] = oneLine(filled[name]);
	}
	return filled as P;
}

/**
 * Renders a template; throws 422 TEMPLATE_NOT_FOUND for an unknown name, and fillTemplate's errors for
 * missing or invalid variables.
 */
export function renderTemplate(name: string, data: Record<string, unknown>, locale?: string): RenderedMail {
	if (!isTemplateName(name)) {
		throw new UnprocessableEntityError(`Unknown mail template "${name}"`, "TEMPLATE_NOT_FOUND", { template: name, known: TEMPLATE_NAMES });
	}
	const variants = TEMPLATES[name];
	const resolved = resolveLocale(Object.keys(variants), locale);
	const filled = fillTemplate(`Mail template "${name}"`, name, { ...variants[resolved] }, data, { subject: oneLine, text: verbatim, html: escapeHtml });
	return { template: name, locale: resolved, ...filled };
}
