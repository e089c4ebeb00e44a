/**
 * The raw material of the fuzz cases: malformed escapes, wrong types, odd unicode, lying encodings, broken
 * multipart bodies. Kept apart from the case generator so each list reads at a glance.
 */

/** Path-parameter values that are not valid percent-encoding, or decode to something no id is. */
export const PATH_ESCAPES: Record<string, string> = {
	ff: "%ff",
	percent: "%",
	truncated: "%E0%A4%A",
	overlong: "%C0%AF",
	surrogate: "%ED%A0%80",
	"half-escape": "abc%2",
	"bad-hex": "%zz",
};

/** Path-parameter values that are well-formed URLs but wrong in type or content (NUL is a valid escape). */
export const PATH_ODDITIES: Record<string, string> = {
	nul: "%00",
	"nul-suffix": "00000000-0000-4000-8000-000000000000%00",
	number: "12345",
	negative: "-1",
	boolean: "true",
	huge: "a".repeat(4000),
	"dot-dot": "..%2F..%2Fetc",
	emoji: encodeURIComponent("😀"),
	rtl: encodeURIComponent("\u202Eevil"),
	"zero-width": encodeURIComponent("a\u200Bb"),
	"sql-ish": encodeURIComponent("' OR 1=1 --"),
	uppercase: "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA",
};

/** JSON values of every other type, for a field expecting something else. */
export const WRONG_TYPES: Record<string, unknown> = {
	number: 42,
	"numeric-string": "42",
	float: 1.5e308,
	negative: -1,
	object: { nested: { deeper: true } },
	array: ["a", 1, null],
	boolean: true,
	"empty-string": "",
};

/** Strings a careless or hostile client sends: escaped lone surrogates, direction marks, zero-width, emoji, NUL. */
export const ODD_STRINGS: Record<string, string> = {
	"lone-surrogate": "\uD800x\uDFFF",
	rtl: "\u202Egnp.exe",
	"zero-width": "a\u200B\u200C\u200D\uFEFFb",
	emoji: "😀👩‍👩‍👧‍👦🏳️‍🌈",
	nul: "a\u0000b",
	"combining": "Z\u0351\u0352\u0353\u0354\u0355",
	control: "\u0001\u0007\u001b[31m",
	"prototype": "__proto__",
};

/** Query values that aren't what a query parameter expects. */
export const QUERY_VALUES: Record<string, (name: string) => string> = {
	object: (name) => `${enc(name)}%5Ba%5D=1`,
	array: (name) => `${enc(name)}=1&${enc(name)}=2`,
	boolean: (name) => `${enc(name)}=true`,
	number: (name) => `${enc(name)}=-99999999999999999999`,
	float: (name) => `${enc(name)}=1e400`,
	empty: (name) => `${enc(name)}=`,
	huge: (name) => `${enc(name)}=${"q".repeat(4000)}`,
	"bad-escape": (name) => `${enc(name)}=%ff%`,
	"odd-unicode": (name) => `${enc(name)}=%ED%A0%80${enc("\u202E\u200B😀")}%00`,
	"json": (name) => `${enc(name)}=${enc('{"$gt":""}')}`,
};

/** Query strings any list might be sent: unknown names, raw sort fields, absurd pages. */
export const QUERY_EXTRAS: Record<string, string> = {
	unknown: "nosuch=1&__proto__%5Bx%5D=1",
	"sort-unknown": "sort=nosuch",
	"sort-injection": `sort=${enc("-id; DROP TABLE x")}`,
	"sort-nested": "sort%5B%5D=id&sort%5Bx%5D=1",
	"page-huge": "page=99999999999999999999&pageSize=100",
	"page-negative": "page=-1&pageSize=0",
	"page-size-huge": "pageSize=1000000000",
	"page-float": "page=1.5&pageSize=1e3",
	"page-hex": "page=0x10",
	populate: "populate=owner&fields=passwordHash&excludeFields=id",
	query: `query=${enc('{"$where":"1"}')}`,
	"search-fields": "search=x&searchFields=passwordHash&iSearch=y",
	"limit-offset": "limit=-1&offset=-5",
};

/** Content-Encoding values the body doesn't have. */
export const LYING_ENCODINGS = ["gzip", "br", "deflate", "x-nosuch", "gzip, br"];

/** Content types a JSON operation doesn't take, with a body of that kind. */
export const WRONG_CONTENT_TYPES: Record<string, { contentType?: string; body: string }> = {
	"text-plain": { contentType: "text/plain", body: '{"a":1}' },
	xml: { contentType: "application/xml", body: "<a>1</a>" },
	form: { contentType: "application/x-www-form-urlencoded", body: "a=1&a%5Bb%5D=2&__proto__%5Bx%5D=1" },
	"multipart-no-boundary": { contentType: "multipart/form-data", body: "--x\r\n" },
	"json-utf16": { contentType: "application/json; charset=utf-16", body: '{"a":1}' },
	"json-bogus-charset": { contentType: "application/json; charset=nosuch", body: '{"a":1}' },
	"no-content-type": { body: '{"a":1}' },
	"octet-stream": { contentType: "application/octet-stream", body: "\u0000\u0001\u0002" },
	"garbage": { contentType: "%%%/;;;", body: "x" },
};

/** JSON bodies of the wrong shape, or not JSON at all. */
export const BODY_ROOTS: Record<string, string> = {
	array: "[]",
	string: '"text"',
	number: "42",
	null: "null",
	empty: "",
	truncated: '{"a":',
	"trailing-garbage": "{} x",
	"deep-array": "[".repeat(5000) + "]".repeat(5000),
	"deep-object": '{"a":'.repeat(3000) + "1" + "}".repeat(3000),
	"proto-pollution": '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"x":1}}}',
	"duplicate-keys": '{"a":1,"a":2}',
	"bad-escape": '{"a":"\\uZZZZ"}',
	"raw-control": '{"a":"\u0001\u0000"}',
	bom: "\uFEFF{}",
};

/** multipart/form-data bodies broken in each way a parser can meet; `{b}` is replaced by the boundary. */
export const MULTIPART_BODIES: Record<string, { contentType: string; body: string }> = {
	valid: { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello fuzz\r\n--{b}--\r\n' },
	"no-boundary": { contentType: "multipart/form-data", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--{b}--\r\n' },
	"wrong-boundary": { contentType: "multipart/form-data; boundary=other", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--{b}--\r\n' },
	truncated: { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello' },
	"no-end": { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n' },
	empty: { contentType: "multipart/form-data; boundary={b}", body: "" },
	"only-end": { contentType: "multipart/form-data; boundary={b}", body: "--{b}--\r\n" },
	"no-disposition": { contentType: "multipart/form-data; boundary={b}", body: "--{b}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{b}--\r\n" },
	"no-file": { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="name"\r\n\r\nx.txt\r\n--{b}--\r\n' },
	"other-field": { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="other"; filename="a.txt"\r\n\r\nx\r\n--{b}--\r\n' },
	"two-files": { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--{b}\r\nContent-Disposition: form-data; name="file"; filename="b.txt"\r\n\r\ny\r\n--{b}--\r\n' },
	"garbage-headers": { contentType: "multipart/form-data; boundary={b}", body: "--{b}\r\n\u0000\u0001:::\r\nContent-Disposition\r\n\r\nx\r\n--{b}--\r\n" },
	"huge-header": { contentType: "multipart/form-data; boundary={b}", body: `--{b}\r\nContent-Disposition: form-data; name="file"; filename="${"n".repeat(90_000)}.txt"\r\n\r\nx\r\n--{b}--\r\n` },
	"odd-filename": { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="../../\u202Eevil\u0000.txt"; filename*=UTF-8\'\'%ff%\r\n\r\nx\r\n--{b}--\r\n' },
	"long-boundary": { contentType: `multipart/form-data; boundary=${"b".repeat(300)}`, body: `--${"b".repeat(300)}\r\n\r\nx\r\n--${"b".repeat(300)}--\r\n` },
	"field-after-file": { contentType: "multipart/form-data; boundary={b}", body: '--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n--{b}\r\nContent-Disposition: form-data; name="name"\r\n\r\n\u0000\r\n--{b}--\r\n' },
};

/** Headers sent with otherwise plain requests. */
export const ODD_HEADERS: Record<string, Record<string, string>> = {
	"bearer-garbage": { Authorization: "Bearer not.a.jwt" },
	"bearer-none": { Authorization: "Bearer " },
	"bearer-alg-none": { Authorization: `Bearer ${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "x", persona: "super_admin" })}.` },
	basic: { Authorization: "Basic YWRtaW46YWRtaW4=" },
	"api-key-garbage": { "X-API-Key": "lat_xxxxxx_yyyyyyyy" },
	"idempotency-long": { "Idempotency-Key": "k".repeat(300) },
	"idempotency-latin1": { "Idempotency-Key": "caf\u00e9" },
	"request-id": { "X-Request-Id": "../../\u00ff".repeat(50) },
	"forwarded-garbage": { "X-Forwarded-For": "999.1.1.1, ::ffff:zz, , unknown" },
	accept: { Accept: "application/xml" },
	cookie: { Cookie: "lattice_oidc_state=%ff; a=; =b; " + "c=".repeat(500) },
};

/** The HTTP methods tried on paths that don't declare them. */
export const OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

export function enc(value: string): string {
	return encodeURIComponent(value);
}

function b64(value: unknown): string {
	return Buffer.from(JSON.stringify(value)).toString("base64url");
}
