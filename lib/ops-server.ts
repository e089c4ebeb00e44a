/**
 * /healthz, /readyz and /metrics on OPS_PORT, on every node (gateway nodes included), so every node role has
 * Kubernetes probes and a Prometheus scrape target. /metrics is served here only, never on the gateway's
 * public port: it shows every action's traffic, which is for operators (see lib/metrics.ts for what it omits).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ServiceBroker } from "moleculer";
import type { PlatformConfig } from "./config";
import { renderNodeMetrics } from "./metrics";
import { checkReadiness } from "./readiness";
import { toProblem } from "./problem";
import { NotFoundError, ServiceUnavailableError } from "./errors";
import { answerClientErrors } from "./gateway/client-error";

export interface OpsServer {
	port: number;
	close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
	res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", ...headers });
	res.end(JSON.stringify(body));
}

function sendProblem(res: http.ServerResponse, error: Error, instance: string, extra: Record<string, unknown> = {}): void {
	const problem = toProblem(error, undefined, instance);
	res.writeHead(problem.status, { ...problem.headers, "Cache-Control": "no-store" });
	res.end(JSON.stringify({ ...problem.body, ...extra }));
}

export function startOpsServer(broker: ServiceBroker, config: PlatformConfig, port: number): Promise<OpsServer> {
	const server = http.createServer((req, res) => {
		const url = (req.url ?? "/").split("?")[0];
		if (req.method !== "GET" && req.method !== "HEAD") return sendProblem(res, new NotFoundError(`No route for ${req.method} ${url}`), url);
		if (url === "/healthz") return sendJson(res, 200, { status: "ok", nodeID: broker.nodeID });
		if (url === "/readyz") {
			checkReadiness(broker)
				.then((report) =>
					report.status === "ready"
						? sendJson(res, 200, report)
						: sendProblem(res, new ServiceUnavailableError("This node is not ready", "NOT_READY"), url, { checks: report.checks, errors: report.errors }),
				)
				.catch((err: Error) => sendProblem(res, err, url));
			return;
		}
		if (url === "/metrics") {
			res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
			res.end(renderNodeMetrics(broker) ?? "");
			return;
		}
		sendProblem(res, new NotFoundError(`No route for ${req.method} ${url}`), url);
	});
	answerClientErrors(server, broker.logger);
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, config.http.host, () => {
			const address = server.address() as AddressInfo;
			broker.logger.info(`Ops endpoints (/healthz, /readyz, /metrics) on port ${address.port}`);
			resolve({
				port: address.port,
				close: () => new Promise<void>((done) => server.close(() => done())),
			});
		});
	});
}
