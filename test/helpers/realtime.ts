/**
 * A WebSocket client for tests: connects to a gateway's /ws with an access token and lets a test wait for
 * the frame it expects.
 */
import { WebSocket } from "ws";

export interface RealtimeClient {
	socket: WebSocket;
	frames: Array<Record<string, unknown>>;
	/** The first frame (already received or still to come) that matches. */
	waitFor(match: (frame: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
	close(): Promise<void>;
}

export function realtimeUrl(gatewayUrl: string): string {
	return `${gatewayUrl.replace(/^http/, "ws")}/ws`;
}

export function connectRealtime(gatewayUrl: string, token: string, via: "header" | "query" = "query"): Promise<RealtimeClient> {
	const url = via === "query" ? `${realtimeUrl(gatewayUrl)}?access_token=${encodeURIComponent(token)}` : realtimeUrl(gatewayUrl);
	const socket = new WebSocket(url, via === "header" ? { headers: { Authorization: `Bearer ${token}` } } : undefined);
	const frames: Array<Record<string, unknown>> = [];
	socket.on("message", (raw) => frames.push(JSON.parse(raw.toString()) as Record<string, unknown>));
	const client: RealtimeClient = {
		socket,
		frames,
		async waitFor(match, timeoutMs = 10_000) {
			const started = Date.now();
			for (;;) {
				const frame = frames.find(match);
				if (frame) return frame;
				if (Date.now() - started > timeoutMs) throw new Error(`No matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames)}`);
				await new Promise((resolve) => setTimeout(resolve, 25));
			}
		},
		close: () =>
			new Promise<void>((resolve) => {
				if (socket.readyState === WebSocket.CLOSED) return resolve();
				socket.once("close", () => resolve());
				socket.close();
			}),
	};
	return new Promise((resolve, reject) => {
		socket.once("open", () => client.waitFor((frame) => frame.kind === "ready").then(() => resolve(client), reject));
		socket.once("unexpected-response", (_req, res) => {
			let body = "";
			res.on("data", (chunk: Buffer) => (body += chunk.toString()));
			res.on("end", () => reject(Object.assign(new Error(`WebSocket refused with ${res.statusCode}`), { status: res.statusCode, body: body ? JSON.parse(body) : null })));
		});
		socket.once("error", reject);
	});
}
