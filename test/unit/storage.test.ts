/**
 * The storage plumbing on its own: content sniffing (the text heuristics file-type doesn't cover), file
 * name sanitizing, Content-Disposition, the embedded server's Signature V4 check against URLs the minio
 * client signs, and the storage configuration rules.
 */
import type { IncomingMessage } from "node:http";
import { Client } from "minio";
import { describe, expect, it } from "vitest";
import { chooseContentType, isJsonPrefix, looksLikeCsv, sniffContentTypes } from "../../services/files/content-type";
import { sanitizeFileName } from "../../services/files/file-name";
import { attachmentDisposition } from "../../lib/storage/object-store";
import { verifySignatureV4 } from "../../lib/storage/embedded-s3";
import { ConfigError, loadConfig } from "../../lib/config";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");

describe("content sniffing", () => {
	it("recognises binary formats by their bytes", async () => {
		expect(await sniffContentTypes(PNG, true)).toEqual(["image/png"]);
		expect(await sniffContentTypes(Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "latin1"), false)).toEqual(["application/pdf"]);
		expect(await sniffContentTypes(Buffer.from([0x00, 0xff, 0x10, 0x80, 0x00]), true)).toEqual(["application/octet-stream"]);
	});

	it("tells CSV, JSON and plain text apart, most specific first", async () => {
		expect(await sniffContentTypes(Buffer.from("a;b;c\n1;2;3\n"), true)).toEqual(["text/csv", "text/plain"]);
		expect(await sniffContentTypes(Buffer.from('[{"a": 1}, {"a": 2}]'), true)).toEqual(["application/json", "text/plain"]);
		expect(await sniffContentTypes(Buffer.from("Dear team,\nthe meeting moved.\n"), true)).toEqual(["text/plain"]);
		expect(await sniffContentTypes(Buffer.from("\ufeffwith a byte order mark"), true)).toEqual(["text/plain"]);
		expect(await sniffContentTypes(Buffer.alloc(0), true)).toEqual(["text/plain"]);
	});

	it("never passes markup off as plain text", async () => {
		expect(await sniffContentTypes(Buffer.from("  <!doctype html><p>hi"), true)).toEqual(["text/html"]);
		expect(await sniffContentTypes(Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'), true)).toEqual(["image/svg+xml"]);
		expect(await sniffContentTypes(Buffer.from('<?xml version="1.0"?><note/>'), true)).toEqual(["application/xml"]);
	});

	it("forgives a multi-byte character cut by the end of a sample, not one inside it", async () => {
		const text = Buffer.from("prix: 10 €");
		expect(await sniffContentTypes(text.subarray(0, text.length - 1), false)).toEqual(["text/plain"]);
		expect(await sniffContentTypes(text.subarray(0, text.length - 1), true)).toEqual(["application/octet-stream"]);
	});

	it("judges JSON prefixes of longer files", () => {
		expect(isJsonPrefix('{"items": [1, 2, {"name": "a\\"b", "ok": tr', false)).toBe(true);
		expect(isJsonPrefix('{"items": [1, 2,, 3]', false)).toBe(false);
		expect(isJsonPrefix('{"a": 1} trailing', false)).toBe(false);
		expect(isJsonPrefix("12345", false)).toBe(false);
		expect(isJsonPrefix('{"a": 1}', true)).toBe(true);
		expect(isJsonPrefix('{"a": }', true)).toBe(false);
	});

	it("judges CSV by consistent fields, quotes respected", () => {
		expect(looksLikeCsv('name,comment\n"Smith, J.","said ""hi"""\nDoe,ok\n', true)).toBe(true);
		expect(looksLikeCsv("one line, only\n", true)).toBe(false);
		expect(looksLikeCsv("a,b\n1,2,3\n", true)).toBe(false);
		// The last line of a cut sample is left out rather than counted short.
		expect(looksLikeCsv("a,b,c\n1,2,3\n4,5", false)).toBe(true);
	});

	it("lets a declared type choose only among what the bytes can be", () => {
		expect(chooseContentType(["text/csv", "text/plain"], "text/plain")).toBe("text/plain");
		expect(chooseContentType(["text/csv", "text/plain"], "image/png")).toBe("text/csv");
		expect(chooseContentType(["image/png"], "Text/CSV; charset=utf-8")).toBe("image/png");
	});
});

describe("file names", () => {
	it("keeps the name a user sees and drops what could mislead or escape", () => {
		expect(sanitizeFileName("../../etc/passwd")).toBe("passwd");
		expect(sanitizeFileName("C:\\Users\\me\\report.pdf")).toBe("report.pdf");
		expect(sanitizeFileName("invoice\u202efdp.exe")).toBe("invoicefdp.exe");
		expect(sanitizeFileName("  a\tb\u0000c .txt ")).toBe("a bc .txt");
		expect(sanitizeFileName("...")).toBe("file");
		expect(sanitizeFileName(".env")).toBe("env");
		const long = sanitizeFileName(`${"é".repeat(300)}.png`);
		expect(Array.from(long)).toHaveLength(255);
		expect(long.endsWith(".png")).toBe(true);
	});

	it("writes Content-Disposition with an ASCII fallback and the exact UTF-8 name", () => {
		expect(attachmentDisposition('résumé "final".pdf')).toBe(`attachment; filename="r_sum_ _final_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf`);
	});
});

describe("the embedded S3 server's signature check", () => {
	const client = new Client({ endPoint: "127.0.0.1", port: 9, useSSL: false, accessKey: "S3RVER", secretKey: "the-secret", region: "us-east-1", pathStyle: true });
	const request = (url: string, method = "GET"): IncomingMessage => {
		const parsed = new URL(url);
		return { url: parsed.pathname + parsed.search, method, headers: { host: parsed.host } } as unknown as IncomingMessage;
	};

	it("accepts a URL the client presigned, and nothing changed or expired", async () => {
		const url = await client.presignedGetObject("bucket", "tenant/file", 60, { "response-content-disposition": 'attachment; filename="a.png"' });
		const now = Date.now();
		expect(verifySignatureV4(request(url), "S3RVER", "the-secret", now)).toBeUndefined();
		expect(verifySignatureV4(request(url.replace("tenant/file", "tenant/other")), "S3RVER", "the-secret", now)).toMatchObject({ code: "SignatureDoesNotMatch" });
		expect(verifySignatureV4(request(url, "PUT"), "S3RVER", "the-secret", now)).toMatchObject({ code: "SignatureDoesNotMatch" });
		expect(verifySignatureV4(request(url), "S3RVER", "another-secret", now)).toMatchObject({ code: "SignatureDoesNotMatch" });
		expect(verifySignatureV4(request(url), "S3RVER", "the-secret", now + 61_000)).toMatchObject({ code: "AccessDenied" });
		expect(verifySignatureV4(request("http://127.0.0.1:9/bucket/tenant/file"), "S3RVER", "the-secret", now)).toMatchObject({ code: "AccessDenied" });
	});
});

describe("storage configuration", () => {
	it("signs for S3_PUBLIC_URL only beside S3_ENDPOINT, and only a bare origin", () => {
		const base = { S3_ENDPOINT: "http://minio:9000", S3_ACCESS_KEY: "key", S3_SECRET_KEY: "secret" };
		expect(loadConfig({ ...base, S3_PUBLIC_URL: "https://files.example.com" }).storage.s3?.publicEndpoint).toBe("https://files.example.com");
		expect(() => loadConfig({ S3_PUBLIC_URL: "https://files.example.com" })).toThrow(ConfigError);
		expect(() => loadConfig({ ...base, S3_PUBLIC_URL: "https://files.example.com/base" })).toThrow(/S3_PUBLIC_URL/);
		expect(() => loadConfig({ S3_ACCESS_KEY: "key" })).toThrow(/S3_ENDPOINT/);
	});
});
