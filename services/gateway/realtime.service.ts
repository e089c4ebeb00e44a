/**
 * Realtime pushes over WebSocket at `/ws` on the gateway's HTTP server. A client connects with its access
 * token (`Authorization: Bearer …`, or `?access_token=…` since browsers can't set headers on a WebSocket)
 * and receives its own notifications and the events of the tenant it acts in, as JSON frames.
 *
 * Any node may produce a push: producers broadcast `realtime.deliver` to every gateway node, and each node
 * writes to the sockets it holds. No sticky sessions, no shared socket registry.
 *
 * A socket lives as long as its token: at expiry it is closed with 4001 unless the client sent a fresh
 * token first (`{"type":"authenticate","token":"…"}`). A suspended account's sockets close at once.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import { systemCall, type CallerMeta } from "../../lib/caller";
import { toProblem } from "../../lib/problem";
import { UnauthorizedError, TooManyRequestsError, ServiceUnavailableError } from "../../lib/errors";
import type { RateLimiter } from "../../lib/rate-limit";
import { REALTIME_EVENT, type RealtimeDelivery } from "../notifications/contracts";
import { AUTH_STATE_CHANGED, USER_EVENTS, type AuthStateChange, type UserDeletedEvent, type UserStatusChangedEvent } from "../identity/contracts";

export const REALTIME_PATH = "/ws";
const HEARTBEAT_MS = 30_000;
const MAX_SOCKETS_PER_USER = 20;
/** Clients only send small control frames. */
const MAX_FRAME_BYTES = 16 * 1024;

/** WebSocket close codes in the private range (4000–4999). */
export const CLOSE_CODES = { tokenExpired: 4001, accountInactive: 4003, tooManySockets: 4008 } as const;

interface Connection {
	socket: WebSocket;
	userId?: string;
	tenantId?: string;
	sessionId?: string;
	/** The token the socket was opened (or last re-authenticated) with, checked again when its caller's state changes. */
	token: string;
	alive: boolean;
	expiryTimer?: NodeJS.Timeout;
}

interface GatewayPart {
	server?: import("node:http").Server;
	rateLimiter: RateLimiter;
	clientAddress(req: IncomingMessage): string;
}

interface RealtimeMethods {
	handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
	authenticateToken(token: string, req: IncomingMessage): Promise<CallerMeta>;
	accept(socket: WebSocket, caller: CallerMeta, token: string): void;
	recheck(connection: Connection): Promise<void>;
	moveToTenant(connection: Connection, tenantId: string | undefined): void;
	armExpiry(connection: Connection, token: string): void;
	onClientMessage(connection: Connection, raw: RawData): Promise<void>;
	send(connection: Connection, message: unknown): void;
	forget(connection: Connection): void;
	refuse(socket: Duplex, error: Error): void;
}

interface RealtimeLocals {
	wss: WebSocketServer;
	byUser: Map<string, Set<Connection>>;
	byTenant: Map<string, Set<Connection>>;
	heartbeat?: NodeJS.Timeout;
	gateway?: GatewayPart;
	upgradeListener?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

type RealtimeThis = Service<ServiceSettingSchema> & RealtimeMethods & RealtimeLocals;

/** The `exp` of a JWT, read without verifying: the token was verified by auth.resolveCredentials. */
function tokenExpiry(token: string): number | undefined {
	try {
		const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: unknown };
		return typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
	} catch {
		return undefined;
	}
}

function tokenFrom(req: IncomingMessage): string | undefined {
	const header = req.headers.authorization;
	if (typeof header === "string" && /^Bearer\s+/i.test(header)) return header.replace(/^Bearer\s+/i, "").trim();
	const query = new URL(req.url ?? "/", "http://gateway").searchParams.get("access_token");
	return query ?? undefined;
}

function addTo(index: Map<string, Set<Connection>>, key: string | undefined, connection: Connection): void {
	if (!key) return;
	const set = index.get(key) ?? new Set<Connection>();
	set.add(connection);
	index.set(key, set);
}

function removeFrom(index: Map<string, Set<Connection>>, key: string | undefined, connection: Connection): void {
	if (!key) return;
	const set = index.get(key);
	set?.delete(connection);
	if (set && set.size === 0) index.delete(key);
}

const RealtimeService: ServiceSchema<ServiceSettingSchema, RealtimeMethods, RealtimeLocals> = {
	name: "realtime",

	events: {
		[REALTIME_EVENT]: {
			group: "realtime",
			handler(this: RealtimeThis, ctx: Context<RealtimeDelivery>) {
				for (const item of ctx.params.users ?? []) {
					for (const connection of this.byUser.get(item.userId) ?? []) this.send(connection, item.message);
				}
				const tenant = ctx.params.tenant;
				if (tenant) for (const connection of this.byTenant.get(tenant.tenantId) ?? []) this.send(connection, tenant.message);
			},
		},
		[USER_EVENTS.statusChanged]: {
			handler(this: RealtimeThis, ctx: Context<UserStatusChangedEvent>) {
				if (ctx.params.status === "active") return;
				for (const connection of this.byUser.get(ctx.params.userId) ?? []) connection.socket.close(CLOSE_CODES.accountInactive, "account inactive");
			},
		},
		[USER_EVENTS.deleted]: {
			handler(this: RealtimeThis, ctx: Context<UserDeletedEvent>) {
				for (const connection of this.byUser.get(ctx.params.userId) ?? []) connection.socket.close(CLOSE_CODES.accountInactive, "account deleted");
			},
		},
		/**
		 * A caller's state changed (AUTH_STATE_CHANGED, services/identity/contracts.ts): the sockets it concerns check their token again, so
		 * an ended session closes them and a member who left an organization stops receiving its events.
		 */
		[AUTH_STATE_CHANGED]: {
			async handler(this: RealtimeThis, ctx: Context<AuthStateChange>) {
				const { userId, sessionId } = ctx.params ?? {};
				if (userId === undefined && sessionId === undefined) return;
				const candidates = userId !== undefined ? [...(this.byUser.get(userId) ?? [])] : [...this.byUser.values()].flatMap((set) => [...set]);
				const affected = candidates.filter((connection) => sessionId === undefined || connection.sessionId === sessionId);
				await Promise.all(affected.map((connection) => this.recheck(connection)));
			},
		},
	},

	methods: {
		async handleUpgrade(this: RealtimeThis, req: IncomingMessage, socket: Duplex, head: Buffer) {
			socket.on("error", () => socket.destroy());
			const path = (req.url ?? "/").split("?")[0];
			if (path !== REALTIME_PATH) {
				socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
				return;
			}
			try {
				const gateway = this.gateway!;
				const decision = await gateway.rateLimiter.consume(gateway.clientAddress(req));
				if (!decision.allowed) throw new TooManyRequestsError(decision.retryAfterSeconds, "Too many requests: slow down and retry after the window resets");
				const token = tokenFrom(req);
				if (!token) throw new UnauthorizedError("Connect with an access token: Authorization: Bearer <token> or ?access_token=<token>");
				const caller = await this.authenticateToken(token, req);
				this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, caller, token));
			} catch (err) {
				this.refuse(socket, err as Error);
			}
		},

		async authenticateToken(this: RealtimeThis, token: string, req: IncomingMessage): Promise<CallerMeta> {
			try {
				return await this.broker.call<CallerMeta, { token: string }>("auth.resolveCredentials", { token }, { ...systemCall(), requestID: undefined });
			} catch (err) {
				const error = err as Error & { code?: number };
				if (error.code === 401) throw err;
				this.logger.warn(`WebSocket authentication from ${req.socket.remoteAddress} could not be checked:`, error.message);
				throw new ServiceUnavailableError("Credentials can't be checked right now; retry shortly", "AUTH_UNAVAILABLE");
			}
		},

		accept(this: RealtimeThis, socket: WebSocket, caller: CallerMeta, token: string) {
			const connection: Connection = { socket, userId: caller.user?.id, tenantId: caller.tenantId, sessionId: caller.sessionId as string | undefined, token, alive: true };
			if (connection.userId && (this.byUser.get(connection.userId)?.size ?? 0) >= MAX_SOCKETS_PER_USER) {
				socket.close(CLOSE_CODES.tooManySockets, "too many open sockets for this user");
				return;
			}
			addTo(this.byUser, connection.userId, connection);
			addTo(this.byTenant, connection.tenantId, connection);
			this.armExpiry(connection, token);
			socket.on("pong", () => (connection.alive = true));
			socket.on("message", (raw) => void this.onClientMessage(connection, raw));
			socket.on("close", () => this.forget(connection));
			socket.on("error", () => socket.terminate());
			this.send(connection, { kind: "ready", userId: connection.userId ?? null, tenantId: connection.tenantId ?? null });
		},

		armExpiry(this: RealtimeThis, connection: Connection, token: string) {
			clearTimeout(connection.expiryTimer);
			const expiresAt = tokenExpiry(token);
			if (expiresAt === undefined) return;
			connection.expiryTimer = setTimeout(() => connection.socket.close(CLOSE_CODES.tokenExpired, "token expired"), Math.max(0, expiresAt - Date.now()));
			connection.expiryTimer.unref();
		},

		/** Clients may ping, and hand over a fresh token before the current one expires. */
		async onClientMessage(this: RealtimeThis, connection: Connection, raw: RawData) {
			let message: { type?: unknown; token?: unknown };
			try {
				message = JSON.parse(raw.toString()) as typeof message;
			} catch {
				return this.send(connection, { kind: "error", code: "INVALID_MESSAGE", detail: "Frames must be JSON objects" });
			}
			if (message?.type === "ping") return this.send(connection, { kind: "pong" });
			if (message?.type === "authenticate" && typeof message.token === "string" && message.token.length <= 4096) {
				try {
					const caller = await this.authenticateToken(message.token, { socket: { remoteAddress: "websocket" } } as IncomingMessage);
					if (caller.user?.id !== connection.userId) {
						return this.send(connection, { kind: "error", code: "IDENTITY_MISMATCH", detail: "A socket can't change users; open a new one" });
					}
					this.moveToTenant(connection, caller.tenantId);
					connection.token = message.token;
					connection.sessionId = caller.sessionId as string | undefined;
					this.armExpiry(connection, message.token);
					return this.send(connection, { kind: "ready", userId: connection.userId ?? null, tenantId: connection.tenantId ?? null });
				} catch (err) {
					const error = err as Error & { type?: string };
					return this.send(connection, { kind: "error", code: error.type ?? "INVALID_TOKEN", detail: error.message });
				}
			}
			this.send(connection, { kind: "error", code: "UNKNOWN_MESSAGE", detail: 'Send {"type":"ping"} or {"type":"authenticate","token":"…"}' });
		},

		async recheck(this: RealtimeThis, connection: Connection) {
			let caller: CallerMeta;
			try {
				caller = await this.authenticateToken(connection.token, { socket: { remoteAddress: "websocket" } } as IncomingMessage);
			} catch (err) {
				const error = err as Error & { code?: number; type?: string };
				// Not checkable right now: the socket stays; its token's expiry still ends it.
				if (error.code !== 401) return;
				const inactive = error.type === "ACCOUNT_INACTIVE";
				connection.socket.close(inactive ? CLOSE_CODES.accountInactive : CLOSE_CODES.tokenExpired, inactive ? "account inactive" : "token no longer valid");
				return;
			}
			if (caller.tenantId === connection.tenantId) return;
			this.moveToTenant(connection, caller.tenantId);
			this.send(connection, { kind: "ready", userId: connection.userId ?? null, tenantId: connection.tenantId ?? null });
		},

		moveToTenant(this: RealtimeThis, connection: Connection, tenantId: string | undefined) {
			removeFrom(this.byTenant, connection.tenantId, connection);
			connection.tenantId = tenantId;
			addTo(this.byTenant, connection.tenantId, connection);
		},

		send(this: RealtimeThis, connection: Connection, message: unknown) {
			if (connection.socket.readyState === WebSocket.OPEN) connection.socket.send(JSON.stringify(message));
		},

		forget(this: RealtimeThis, connection: Connection) {
			clearTimeout(connection.expiryTimer);
			removeFrom(this.byUser, connection.userId, connection);
			removeFrom(this.byTenant, connection.tenantId, connection);
		},

		/** A refused upgrade still answers in HTTP, as problem+json, like every other gateway error. */
		refuse(this: RealtimeThis, socket: Duplex, error: Error) {
			const problem = toProblem(error, this.broker.generateUid(), REALTIME_PATH);
			const body = JSON.stringify(problem.body);
			const headers = { ...problem.headers, "Content-Length": String(Buffer.byteLength(body)), Connection: "close" };
			const head = Object.entries(headers)
				.map(([name, value]) => `${name}: ${String(value)}`)
				.join("\r\n");
			socket.end(`HTTP/1.1 ${problem.status} ${problem.body.title}\r\n${head}\r\n\r\n${body}`);
		},
	},

	created(this: RealtimeThis) {
		this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
		this.byUser = new Map();
		this.byTenant = new Map();
	},

	/** moleculer-web created its HTTP server in its own created(); upgrades are taken from it here. */
	started(this: RealtimeThis) {
		const gateway = this.broker.getLocalService("api") as unknown as GatewayPart | undefined;
		if (!gateway?.server) {
			this.logger.warn("No gateway on this node: WebSocket connections are not served here");
			return;
		}
		this.gateway = gateway;
		// handleUpgrade answers its own refusals; anything else it throws must not become an unhandled rejection.
		this.upgradeListener = (req, socket, head) =>
			void this.handleUpgrade(req, socket, head).catch((err: Error) => {
				this.logger.error("A WebSocket upgrade failed:", err);
				socket.destroy();
			});
		gateway.server.on("upgrade", this.upgradeListener);
		// Half-open connections (a laptop lid closed) are found by a missed pong and dropped.
		this.heartbeat = setInterval(() => {
			for (const connection of new Set([...this.byUser.values(), ...this.byTenant.values()].flatMap((set) => [...set]))) {
				if (!connection.alive) {
					connection.socket.terminate();
					continue;
				}
				connection.alive = false;
				connection.socket.ping();
			}
		}, HEARTBEAT_MS);
		this.heartbeat.unref();
	},

	stopped(this: RealtimeThis) {
		clearInterval(this.heartbeat);
		if (this.upgradeListener) this.gateway?.server?.off("upgrade", this.upgradeListener);
		for (const client of this.wss.clients) client.close(1001, "server shutting down");
		this.wss.close();
	},
};

/**
 * GET /ws for the OpenAPI document, served beside the gateway's ops paths. OpenAPI describes the handshake but has
 * no words for the frames that follow, so the messages are told in the description, from the constants above.
 */
export const REALTIME_PATH_ITEM: Record<string, unknown> = {
	get: {
		operationId: "realtime.connect",
		tags: ["realtime"],
		summary: "Open a WebSocket for realtime pushes",
		description: [
			"Upgrades to a WebSocket (RFC 6455) carrying the caller's realtime pushes as JSON text frames: their own notifications, and the events of the tenant their token acts in. Open it with a WebSocket client (`new WebSocket(\"wss://…/ws?access_token=…\")`); a GET without the upgrade headers is answered 404.",
			"**Authentication**: an access token (API keys aren't accepted) in `Authorization: Bearer <token>`, or in `?access_token=<token>` where headers can't be set (browsers). A refused handshake is answered in HTTP as problem+json: 401 without a valid token, 429 over the rate limit the HTTP API counts too, 503 when credentials can't be checked right now.",
			[
				"**Server to client**: JSON objects told apart by `kind`.",
				'- `{"kind":"ready","userId":"…","tenantId":"…"}`: the socket is open (and again after a fresh token is accepted, or when the user leaves the tenant it acts in); `tenantId` is null without a tenant.',
				'- `{"kind":"notification","notification":{…}}`: one of the user\'s notifications (`id`, `userId`, `tenantId`, `type`, `title`, `body`, `data`, `readAt`, `createdAt`, as the notifications API lists them); `id` and `readAt` are null when it is delivered only in realtime, with no feed entry.',
				'- `{"kind":"event","type":"…","eventId":"…","tenantId":"…","data":{…}}`: a tenant event (the types and data its webhooks carry), to every socket acting in the tenant.',
				'- `{"kind":"read","ids":["…"]}`: notifications marked read elsewhere; `ids` is `"all"` after marking all read.',
				'- `{"kind":"pong"}`: the answer to a ping.',
				'- `{"kind":"error","code":"…","detail":"…"}`: a client frame was refused (`INVALID_MESSAGE`, `UNKNOWN_MESSAGE`, `IDENTITY_MISMATCH`, or why a fresh token wasn\'t accepted); the socket stays open.',
			].join("\n"),
			[
				`**Client to server**: JSON text frames of at most ${MAX_FRAME_BYTES} bytes (a larger one closes the socket with 1009).`,
				'- `{"type":"ping"}`',
				'- `{"type":"authenticate","token":"…"}`: a fresh access token for the same user, before the current one expires; the socket then acts in that token\'s tenant.',
			].join("\n"),
			`**Closing**: ${CLOSE_CODES.tokenExpired} when the token expires with no fresh one sent or its session ends (logout, a password change), ${CLOSE_CODES.accountInactive} when the account stops being active or is deleted, ${CLOSE_CODES.tooManySockets} when the user already has ${MAX_SOCKETS_PER_USER} sockets open, 1001 when the server shuts down. The server pings every ${HEARTBEAT_MS / 1000} s and drops a socket that misses the pong.`,
		].join("\n\n"),
		parameters: [
			{
				name: "access_token",
				in: "query",
				required: false,
				description: "The access token, for clients that can't set headers on a WebSocket; otherwise send `Authorization: Bearer <token>`.",
				schema: { type: "string" },
			},
		],
		responses: {
			"101": {
				description: `Switching Protocols: the connection is a WebSocket from here on. Its first frame is \`ready\`, unless it closes at once with ${CLOSE_CODES.tooManySockets}.`,
				headers: {
					Upgrade: { schema: { const: "websocket" } },
					Connection: { schema: { const: "Upgrade" } },
					"Sec-WebSocket-Accept": { description: "Proves the server read the client's Sec-WebSocket-Key (RFC 6455).", schema: { type: "string" } },
				},
			},
			"400": { description: "A malformed handshake (Sec-WebSocket-Key or Sec-WebSocket-Version missing or invalid), answered in plain text by the WebSocket library." },
			"401": { $ref: "#/components/responses/Unauthorized" },
			"429": { $ref: "#/components/responses/TooManyRequests" },
			"503": { $ref: "#/components/responses/ServiceUnavailable" },
		},
		// The query token is the same credential as the bearer one, in another place.
		security: [{ bearerAuth: [] }],
	},
};

export default RealtimeService;
