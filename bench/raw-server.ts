/**
 * The baseline of bench/gateway.bench.ts: the least a Node HTTP server does to answer JSON. It runs in its
 * own process under the same loader (tsx) as the platform, so the gateway's ratio to it measures the
 * platform's own cost, not a difference in runtime set-up.
 */
import http from "node:http";

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? "127.0.0.1";

const server = http.createServer((_req, res) => {
	// Serialised per request, as the gateway does, so the baseline is not flattered by a cached buffer.
	const body = JSON.stringify({ hello: "world" });
	res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
	res.end(body);
});

server.listen(port, host);

// A clean exit lets --cpu-prof write its profile, as the platform's own shutdown does.
const stop = () => {
	server.close(() => process.exit(0));
	server.closeAllConnections();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
