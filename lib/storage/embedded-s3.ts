/**
 * The embedded object store of a single node with no S3_ENDPOINT: s3rver (an S3 API over the file system)
 * with its data in DATA_DIR/s3, so the files service runs the same minio client code as in production.
 *
 * s3rver checks neither AWS Signature V4 nor anonymous access (anyone who reached its port could list and
 * read every tenant's files), so it is served behind a small front that verifies V4 signatures — from
 * the Authorization header, or the query of a presigned URL — against a secret made at each start. It
 * listens on 127.0.0.1 only: the embedded mode is for one machine.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Logger as LoggerInstance } from "moleculer";
import S3rver from "s3rver";
import type { S3Connection } from "./object-store";

export interface EmbeddedS3 {
	connection: S3Connection;
	stop(): Promise<void>;
}

/** s3rver knows one account; the secret that matters is the one the front checks signatures with. */
const ACCESS_KEY = "S3RVER";
const REGION = "us-east-1";
const ALGORITHM = "AWS4-HMAC-SHA256";
/** How far a signed request's clock may be from ours (S3 allows 15 minutes). */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export async function startEmbeddedS3(dataDir: string, port: number, logger: LoggerInstance): Promise<EmbeddedS3> {
	const directory = path.join(dataDir, "s3");
	fs.mkdirSync(directory, { recursive: true });
	const secretKey = randomBytes(24).toString("base64url");
	const s3rver = new S3rver({ directory, silent: true, vhostBuckets: false });
	const handle = s3rver.callback();

	const server = http.createServer((req, res) => {
		// What the store serves is a tenant's upload: a browser must take it as the type it is labelled with
		// (signed into a download's URL) and never sniff it into HTML or script. S3 has no parameter for this
		// header; in front of a real S3, the CDN or proxy that serves the bucket should add it.
		res.setHeader("X-Content-Type-Options", "nosniff");
		const refusal = verifySignatureV4(req, ACCESS_KEY, secretKey, Date.now());
		if (refusal) return sendS3Error(res, refusal);
		// A client that follows a redirect to a presigned URL may still send its own Authorization (a bearer
		// token); the URL's signature is what counts, and s3rver refuses two auth mechanisms at once.
		if (req.url?.includes("X-Amz-Signature=")) delete req.headers.authorization;
		handle(req, res);
	});
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, "127.0.0.1", () => {
			server.off("error", reject);
			resolve();
		});
	});
	const actualPort = (server.address() as AddressInfo).port;
	logger.info(`Embedded S3 (s3rver) is listening on 127.0.0.1:${actualPort}, data in ${directory}`);

	return {
		// The real port, also when EMBEDDED_S3_PORT=0 picked a free one: presigned URLs are built from it.
		connection: { endpoint: `http://127.0.0.1:${actualPort}`, accessKey: ACCESS_KEY, secretKey, region: REGION },
		async stop() {
			await new Promise<void>((resolve) => {
				server.close(() => resolve());
				server.closeAllConnections();
			});
			s3rver.logger.exceptions.unhandle();
			s3rver.logger.close();
		},
	};
}

interface Refusal {
	status: number;
	code: string;
	message: string;
}

function sendS3Error(res: ServerResponse, refusal: Refusal): void {
	const escape = (value: string) => value.replace(/[<>&]/g, (char) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[char] ?? char);
	res.writeHead(refusal.status, { "Content-Type": "application/xml" });
	res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${escape(refusal.message)}</Message></Error>`);
}

const denied = (message: string): Refusal => ({ status: 403, code: "AccessDenied", message });

/** "20260102T030405Z" → epoch ms, or NaN. */
function parseAmzDate(value: string): number {
	const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
	if (!match) return Number.NaN;
	const [, year, month, day, hour, minute, second] = match.map(Number);
	return Date.UTC(year, month - 1, day, hour, minute, second);
}

function hmac(key: Buffer | string, value: string): Buffer {
	return createHmac("sha256", key).update(value).digest();
}

/** The query as S3 clients sign it: its parameters sorted, each with an "=". */
function canonicalQuery(pairs: string[]): string {
	return pairs
		.filter(Boolean)
		.sort()
		.map((pair) => (pair.includes("=") ? pair : `${pair}=`))
		.join("&");
}

/**
 * Checks an AWS Signature V4 request; undefined when it is valid, else why not. The body's hash is taken
 * as the client declared it (x-amz-content-sha256): the files service checksums what it stores itself.
 */
export function verifySignatureV4(req: IncomingMessage, accessKey: string, secretKey: string, now: number): Refusal | undefined {
	const rawUrl = req.url ?? "/";
	const queryStart = rawUrl.indexOf("?");
	const resource = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
	const queryPairs = queryStart === -1 ? [] : rawUrl.slice(queryStart + 1).split("&");
	const query = new URLSearchParams(queryStart === -1 ? "" : rawUrl.slice(queryStart + 1));
	const authorization = req.headers.authorization;

	let credential: string;
	let signedHeaders: string[];
	let provided: string;
	let amzDate: string;
	let payloadHash: string;
	let signedQuery: string;
	if (query.has("X-Amz-Signature")) {
		// The URL's signature authenticates; an unrelated Authorization header (a bearer token kept across a redirect) is ignored.
		if (query.get("X-Amz-Algorithm") !== ALGORITHM) return denied("Only AWS Signature Version 4 is accepted");
		credential = query.get("X-Amz-Credential") ?? "";
		signedHeaders = (query.get("X-Amz-SignedHeaders") ?? "").split(";");
		provided = query.get("X-Amz-Signature") ?? "";
		amzDate = query.get("X-Amz-Date") ?? "";
		const expires = Number(query.get("X-Amz-Expires"));
		const signedAt = parseAmzDate(amzDate);
		if (!Number.isInteger(expires) || expires < 1 || Number.isNaN(signedAt)) return denied("The presigned URL is malformed");
		if (now > signedAt + expires * 1000) return denied("Request has expired");
		if (signedAt > now + MAX_CLOCK_SKEW_MS) return denied("The presigned URL is not valid yet");
		payloadHash = "UNSIGNED-PAYLOAD";
		signedQuery = canonicalQuery(queryPairs.filter((pair) => !pair.startsWith("X-Amz-Signature=")));
	} else if (typeof authorization === "string" && authorization.startsWith(`${ALGORITHM} `)) {
		const fields = Object.fromEntries(
			authorization
				.slice(ALGORITHM.length + 1)
				.split(",")
				.map((part) => part.trim().split("=", 2) as [string, string]),
		);
		credential = fields.Credential ?? "";
		signedHeaders = (fields.SignedHeaders ?? "").split(";");
		provided = fields.Signature ?? "";
		amzDate = String(req.headers["x-amz-date"] ?? "");
		const signedAt = parseAmzDate(amzDate);
		if (Number.isNaN(signedAt) || Math.abs(now - signedAt) > MAX_CLOCK_SKEW_MS) return denied("The difference between the request time and the server's time is too large");
		payloadHash = String(req.headers["x-amz-content-sha256"] ?? "");
		if (!payloadHash) return denied("x-amz-content-sha256 is required");
		signedQuery = canonicalQuery(queryPairs);
	} else {
		return denied("Anonymous requests are not accepted");
	}

	const [keyId, date, region, service, terminator] = credential.split("/");
	if (keyId !== accessKey || service !== "s3" || terminator !== "aws4_request" || !region || date !== amzDate.slice(0, 8)) {
		return denied("The credential is not valid for this server");
	}
	if (!signedHeaders.includes("host")) return denied("The host header must be signed");
	const canonicalHeaders = signedHeaders.map((name) => `${name}:${String(req.headers[name] ?? "").replace(/ +/g, " ")}\n`).join("");
	const canonicalRequest = [req.method ?? "GET", resource, signedQuery, canonicalHeaders, signedHeaders.join(";"), payloadHash].join("\n");
	const scope = `${date}/${region}/s3/aws4_request`;
	const stringToSign = [ALGORITHM, amzDate, scope, createHash("sha256").update(canonicalRequest).digest("hex")].join("\n");
	const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretKey}`, date), region), "s3"), "aws4_request");
	const expected = hmac(signingKey, stringToSign);
	const given = Buffer.from(provided, "hex");
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
		return { status: 403, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match the signature you provided" };
	}
	return undefined;
}
