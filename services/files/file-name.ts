/**
 * A client's file name is untrusted text that ends up in a Content-Disposition header and in UIs: no
 * directories, no control characters, no invisible or direction-changing characters (which can make
 * "invoice.exe" read as "invoice.pdf"), at most 255 characters with the extension kept.
 */
const MAX_NAME_LENGTH = 255;

export function sanitizeFileName(raw: string | undefined, fallback = "file"): string {
	let name = (raw ?? "").normalize("NFC");
	name = name.split(/[\\/]/).pop() ?? "";
	name = Array.from(name.replace(/[\t\n\v\f\r]/g, " "))
		.filter((char) => !isControl(char.codePointAt(0) ?? 0))
		.join("")
		.replace(/[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g, "")
		.replace(/\s+/g, " ")
		.trim()
		// "..", ".env": no relative or hidden names.
		.replace(/^\.+/, "")
		.trim();
	if (!name) return fallback;
	const characters = Array.from(name);
	if (characters.length <= MAX_NAME_LENGTH) return name;
	const dot = name.lastIndexOf(".");
	const extension = dot > 0 && name.length - dot <= 16 ? Array.from(name.slice(dot)) : [];
	return characters.slice(0, MAX_NAME_LENGTH - extension.length).join("").trimEnd() + extension.join("");
}

/** C0 and C1 control characters and DEL. */
function isControl(code: number): boolean {
	return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}
