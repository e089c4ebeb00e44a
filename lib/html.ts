/**
 * Writing text into HTML: the one escape every HTML the platform builds uses (the API docs page, mail
 * bodies, invoice documents), so a value can never open a tag or leave an attribute.
 */
const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text as HTML, safe in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]);
}
