/**
 * A diagnostic target of bench/gateway.bench.ts, not a baseline: a bare node:http server that answers with
 * the gateway's response contract and nothing else. The same security headers (lib/gateway/security-
 * headers.ts, the API set), the three X-RateLimit-* headers, an X-Request-Id, and a body shaped like status.ping's,
 * written with one writeHead as the gateway's fast path writes it. No routing, no rate limiting, no
 * broker. The gap between raw and this target is what the contract costs any server in Node; the gap
 * between this target and the gateway is what the platform adds on top.
 */
import http from "node:http";
import { randomUUID } from "node:crypto";
import { apiSecurityHeaders } from "../lib/gateway/security-headers";

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? "127.0.0.1";
const nodeID = `floor-${process.pid}`;
const securityHeaders = apiSecurityHeaders().flat();
const LIMIT = "1000000";
let remaining = 1_000_000;

const server = http.createServer((_req, res) => {
	// Serialised per request, as the gateway does; the time string is what status.ping answers with.
	const body = JSON.stringify({ pong: true, nodeID, time: new Date().toISOString() });
	remaining = remaining > 0 ? remaining - 1 : 1_000_000;
	const headers = securityHeaders.concat(
		"X-RateLimit-Limit",
		LIMIT,
		"X-RateLimit-Remaining",
		String(remaining),
		"X-RateLimit-Reset",
		String(Math.ceil(Date.now() / 1000) + 1),
		"X-Request-ID",
		randomUUID(),
		"Content-Type",
		"application/json; charset=utf-8",
		"Content-Length",
		String(Buffer.byteLength(body)),
	);
	res.writeHead(200, headers);
	res.end(body);
});

server.listen(port, host);

const stop = () => {
	server.close(() => process.exit(0));
	server.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
