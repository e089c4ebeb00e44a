/**
 * What a file is, judged from its first bytes, never from what the client says. Binary formats are
 * recognised by file-type (magic numbers, and zip contents for office documents); text has no magic
 * number, so text, CSV and JSON are recognised here, and markup (HTML, SVG, XML) is told apart from
 * plain text so it can't slip in as `text/plain`.
 *
 * A sample can be compatible with several types (a CSV file is also plain text): the caller picks among
 * them with what the client declared, and the most specific one otherwise.
 */

import { UnprocessableEntityError, UnsupportedMediaTypeError } from "../../lib/errors";

/** How much of the head of a file the sniffers look at. */
export const SNIFF_BYTES = 64 * 1024;

export const OCTET_STREAM = "application/octet-stream";

/** The types a sample may be, most specific first. Never empty: unknown bytes are application/octet-stream. */
export type SniffResult = string[];

let fileTypeModule: Promise<typeof import("file-type")> | undefined;

/** file-type is ESM only (Node 24 can require it); loaded once, on first use. */
function fileType(): Promise<typeof import("file-type")> {
	fileTypeModule ??= import("file-type");
	return fileTypeModule;
}

/**
 * @param head the first bytes of the file (up to SNIFF_BYTES)
 * @param complete true when `head` is the whole file, so a cut-off last line or token is not expected
 */
export async function sniffContentTypes(head: Buffer, complete: boolean): Promise<SniffResult> {
	if (head.length === 0) return ["text/plain"];
	const binary = await (await fileType()).fileTypeFromBuffer(head);
	// file-type calls any XML application/xml; the markup check below also knows SVG.
	if (binary && binary.mime !== "application/xml") return [binary.mime];
	const text = decodeText(head, complete);
	if (text === undefined) return [binary?.mime ?? OCTET_STREAM];
	const markup = markupType(text);
	if (markup) return [markup];
	const types: string[] = [];
	if (isJsonPrefix(text, complete)) types.push("application/json");
	if (looksLikeCsv(text, complete)) types.push("text/csv");
	types.push("text/plain");
	return types;
}

/**
 * The sniffed type to record: the declared one when the bytes can be it (a `.csv` that also reads as plain
 * text stays CSV), otherwise the most specific type the bytes are.
 */
export function chooseContentType(sniffed: SniffResult, declared?: string): string {
	const wanted = declared ? normalizeMediaType(declared) : undefined;
	if (wanted && sniffed.includes(wanted)) return wanted;
	return sniffed[0];
}

/**
 * The type a file is stored as, or why not: a type the caller insists on (`requiredType`) that the bytes
 * aren't is 422; hints (the declared type, the name's extension) choose among what the bytes can be, else
 * the first allowed candidate wins; a type off the allow-list is 415.
 */
export function acceptContentType(options: { sniffed: SniffResult; hints: string[]; allowed: string[]; requiredType?: string }): string {
	const { sniffed, hints, allowed, requiredType } = options;
	if (requiredType && !sniffed.includes(requiredType)) {
		throw new UnprocessableEntityError(`The file is ${sniffed[0]}, ${requiredType} was declared`, "CONTENT_TYPE_MISMATCH", { declared: requiredType, detected: sniffed[0] });
	}
	const hinted = hints.find((hint) => sniffed.includes(hint));
	const type = hinted ? chooseContentType(sniffed, hinted) : (sniffed.find((candidate) => allowed.includes(candidate)) ?? sniffed[0]);
	if (!allowed.includes(type)) {
		throw new UnsupportedMediaTypeError(`Files of type ${type} are not accepted`, "UNSUPPORTED_FILE_TYPE", { contentType: type, allowed });
	}
	return type;
}

/** "Text/CSV; charset=utf-8" → "text/csv". */
export function normalizeMediaType(value: string): string {
	return value.split(";")[0].trim().toLowerCase();
}

/** A guess from the file name, used only to choose among the types the bytes allow. */
export function typeFromExtension(name: string): string | undefined {
	const extension = /\.([a-z0-9]{1,8})$/i.exec(name)?.[1]?.toLowerCase();
	switch (extension) {
		case "csv":
			return "text/csv";
		case "json":
			return "application/json";
		case "txt":
		case "text":
		case "log":
		case "md":
			return "text/plain";
		default:
			return undefined;
	}
}

/**
 * UTF-8 text without NUL bytes and with few control characters, or undefined. A multi-byte character cut
 * by the end of an incomplete sample is not held against it.
 */
function decodeText(head: Buffer, complete: boolean): string | undefined {
	let bytes = head;
	if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
	if (!complete) bytes = bytes.subarray(0, bytes.length - incompleteUtf8Tail(bytes));
	let text: string;
	try {
		text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
	} catch {
		return undefined;
	}
	let control = 0;
	for (let index = 0; index < text.length; index += 1) {
		const code = text.charCodeAt(index);
		if (code === 0) return undefined;
		// Tab, line feed, form feed and carriage return are ordinary in text; other C0 controls and DEL are not.
		if ((code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0c && code !== 0x0d) || code === 0x7f) control += 1;
	}
	return control <= text.length / 100 ? text : undefined;
}

/** Bytes at the end that start a UTF-8 sequence the sample cut short (0 to 3). */
function incompleteUtf8Tail(bytes: Buffer): number {
	for (let back = 1; back <= Math.min(3, bytes.length); back += 1) {
		const byte = bytes[bytes.length - back];
		if ((byte & 0xc0) === 0x80) continue; // a continuation byte: keep looking for the lead byte
		const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
		return length > back ? back : 0;
	}
	return 0;
}

/** HTML, SVG and XML read as text but are active content in a browser: they never pass as plain text. */
function markupType(text: string): string | undefined {
	const start = text.trimStart().slice(0, 512).toLowerCase();
	if (!start.startsWith("<")) return undefined;
	if (/<svg[\s>]/.test(start) || (start.startsWith("<?xml") && start.includes("<svg"))) return "image/svg+xml";
	if (start.startsWith("<!doctype html") || /^<(html|head|body|script|iframe|div|p|a|meta|title|style)[\s>/]/.test(start)) return "text/html";
	if (start.startsWith("<?xml") || /^<[a-z_][\w.-]*[\s>/:]/.test(start)) return "application/xml";
	return undefined;
}

/**
 * Whether the text is valid JSON — or, for a sample cut from a longer file, a valid beginning of JSON.
 * A small tokenizer, because JSON.parse can't judge a prefix.
 */
export function isJsonPrefix(text: string, complete: boolean): boolean {
	const source = text.trim();
	if (source === "") return false;
	if (complete) {
		try {
			JSON.parse(source);
			return true;
		} catch {
			return false;
		}
	}
	// Only objects and arrays: a bare number or word at the start of a long file is not a JSON document.
	if (source[0] !== "{" && source[0] !== "[") return false;
	type Expect = "value" | "key" | "colon" | "commaOrEnd" | "valueOrEnd" | "keyOrEnd" | "done";
	const stack: Array<"{" | "["> = [];
	let expect = "value" as Expect;
	let index = 0;
	const afterValue = (): Expect => (stack.length === 0 ? "done" : "commaOrEnd");
	while (index < source.length) {
		const char = source[index];
		if (char === " " || char === "\t" || char === "\n" || char === "\r") {
			index += 1;
			continue;
		}
		if (expect === "done") return false;
		if (char === '"') {
			if (expect !== "value" && expect !== "valueOrEnd" && expect !== "key" && expect !== "keyOrEnd") return false;
			const end = scanString(source, index);
			if (end === -1) return true; // the sample ends inside a string
			if (end === -2) return false;
			index = end;
			expect = expect === "key" || expect === "keyOrEnd" ? "colon" : afterValue();
			continue;
		}
		if (char === "{" || char === "[") {
			if (expect !== "value" && expect !== "valueOrEnd") return false;
			stack.push(char);
			expect = char === "{" ? "keyOrEnd" : "valueOrEnd";
			index += 1;
			continue;
		}
		if (char === "}" || char === "]") {
			const open = stack.pop();
			const closes = char === "}" ? "{" : "[";
			if (open !== closes) return false;
			if (expect !== "commaOrEnd" && !(char === "}" && expect === "keyOrEnd") && !(char === "]" && expect === "valueOrEnd")) return false;
			expect = afterValue();
			index += 1;
			continue;
		}
		if (char === ":") {
			if (expect !== "colon") return false;
			expect = "value";
			index += 1;
			continue;
		}
		if (char === ",") {
			if (expect !== "commaOrEnd") return false;
			expect = stack[stack.length - 1] === "{" ? "key" : "value";
			index += 1;
			continue;
		}
		if (expect !== "value" && expect !== "valueOrEnd") return false;
		const literal = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(source.slice(index, index + 64));
		const rest = source.slice(index);
		if (!literal) {
			// The sample may end inside a literal: "tr", "nul", "-1.".
			return /^(t(r(u)?)?|f(a(l(s)?)?)?|n(u(l)?)?|-?\d*\.?\d*([eE][+-]?\d*)?)$/.test(rest);
		}
		index += literal[0].length;
		expect = afterValue();
	}
	return true;
}

/** Index after the closing quote; -1 if the text ends first; -2 for an invalid string. */
function scanString(source: string, start: number): number {
	let index = start + 1;
	while (index < source.length) {
		const char = source[index];
		if (char === '"') return index + 1;
		if (char === "\\") {
			const escaped = source[index + 1];
			if (escaped === undefined) return -1;
			if (escaped === "u") {
				const hex = source.slice(index + 2, index + 6);
				if (!/^[0-9a-fA-F]*$/.test(hex)) return -2;
				if (hex.length < 4) return -1;
				index += 6;
				continue;
			}
			if (!'"\\/bfnrt'.includes(escaped)) return -2;
			index += 2;
			continue;
		}
		if (char.charCodeAt(0) < 0x20) return -2;
		index += 1;
	}
	return -1;
}

const CSV_DELIMITERS = [",", ";", "\t"] as const;

/**
 * Two or more rows with the same number (≥ 2) of fields for one delimiter, quotes respected (RFC 4180). A
 * last line cut off by the end of the sample is left out.
 */
export function looksLikeCsv(text: string, complete: boolean): boolean {
	return CSV_DELIMITERS.some((delimiter) => {
		const rows = csvFieldCounts(text, delimiter, complete);
		if (rows === undefined || rows.length < 2) return false;
		return rows[0] >= 2 && rows.every((count) => count === rows[0]);
	});
}

/** Fields per record for one delimiter; undefined when quoting is broken. Blank lines are skipped. */
function csvFieldCounts(text: string, delimiter: string, complete: boolean): number[] | undefined {
	const counts: number[] = [];
	let fields = 1;
	let inQuotes = false;
	let fieldStart = true;
	let blank = true;
	for (let index = 0; index < text.length; index += 1) {
		const char = text[index];
		if (inQuotes) {
			if (char === '"') {
				if (text[index + 1] === '"') index += 1;
				else {
					inQuotes = false;
					const next = text[index + 1];
					// After a closing quote only a delimiter or the end of the record may follow.
					if (next !== undefined && next !== delimiter && next !== "\n" && next !== "\r") return undefined;
				}
			}
			continue;
		}
		if (char === '"' && fieldStart) {
			inQuotes = true;
			fieldStart = false;
			blank = false;
			continue;
		}
		if (char === delimiter) {
			fields += 1;
			fieldStart = true;
			blank = false;
			continue;
		}
		if (char === "\n" || char === "\r") {
			if (char === "\r" && text[index + 1] === "\n") index += 1;
			if (!blank) counts.push(fields);
			fields = 1;
			fieldStart = true;
			blank = true;
			continue;
		}
		fieldStart = false;
		blank = false;
	}
	if (inQuotes && complete) return undefined;
	// The last record counts only when the sample is the whole file (otherwise it may be cut short).
	if (!blank && complete && !inQuotes) counts.push(fields);
	return counts;
}
