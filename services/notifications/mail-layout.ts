/**
 * The frame every HTML email shares (mail-templates.ts and billing-mail-templates.ts): a centred card, and a
 * button whose address is also written out, for clients that don't show buttons.
 */

export interface MailTemplate {
	subject: string;
	text: string;
	html: string;
}

export function layout(body: string): string {
	return [
		"<!doctype html>",
		'<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"></head>',
		'<body style="margin:0;padding:24px;background:#f5f6f8;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2328;line-height:1.5">',
		'<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:32px">',
		body,
		"</div></body></html>",
	].join("\n");
}

/** A button to the URL in `{{variable}}` (a URL variable of mail-templates.ts: only http(s) is accepted there). */
export function button(label: string, variable = "link"): string {
	return `<p><a href="{{${variable}}}" style="display:inline-block;padding:10px 20px;background:#2f6feb;color:#ffffff;text-decoration:none;border-radius:6px">${label}</a></p>
<p style="font-size:13px;color:#57606a">If the button doesn't work, copy this address into your browser:<br>{{${variable}}}</p>`;
}
