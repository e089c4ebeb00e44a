/**
 * Notifications through the gateway on one node, against the run's PostgreSQL and a real SMTP server:
 * fan-out to email, the in-app feed and an open WebSocket; templates per locale that refuse missing
 * variables; preferences where critical types can't be turned off; read state; broadcasts; and the
 * identity emails (welcome, verification) that now go through notifications.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { startNode, type RunningNode } from "../helpers/nodes";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import { connectRealtime, type RealtimeClient } from "../helpers/realtime";
import { startSmtpServer, type SmtpFixture } from "../fixtures/smtp-server";
import { systemCall } from "../../lib/caller";
import type { SendResult } from "../../services/notifications/notifications.service";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const PASSWORD = "correct horse battery";

interface Account {
	id: string;
	email: string;
	token: string;
}

interface Notification {
	id: string;
	type: string;
	title: string;
	body: string;
	readAt: string | null;
	data: Record<string, unknown>;
}

interface Feed {
	rows: Notification[];
	total: number;
}

let smtp: SmtpFixture;
let node: RunningNode;
let api: ApiClient;
let adminToken: string;

async function register(label: string): Promise<Account> {
	const email = uniqueEmail(label);
	const response = await api.post<{ accessToken: string; user: { id: string } }>("/auth/register", { email, password: PASSWORD, fullName: `${label} Tester` }, { ip: uniqueIp() });
	expect(response.status, JSON.stringify(response.body)).toBe(201);
	return { id: response.body.user.id, email, token: response.body.accessToken };
}

function send(params: Record<string, unknown>): Promise<SendResult> {
	return node.broker.call<SendResult, Record<string, unknown>>("notifications.send", params, systemCall());
}

const orderData = (orderId = randomUUID()) => ({ orderId, total: "$25.00", link: `https://app.example.com/orders/${orderId}` });

beforeAll(async () => {
	smtp = await startSmtpServer();
	node = await startNode({ TRUST_PROXY: "true", BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, RATE_LIMIT_MAX: "100000", SMTP_URL: smtp.url });
	api = apiClient(node.url);
	adminToken = await loginWhenReady(api, ADMIN);
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await smtp?.close();
});

describe("identity emails through notifications", () => {
	it("welcomes a new user by email and in the feed, and sends the verification link by email only", async () => {
		const ada = await register("ada");
		const welcome = await smtp.waitForMail(ada.email, /^Welcome to Lattice$/);
		expect(welcome.text).toContain("ada Tester");
		const verify = await smtp.waitForMail(ada.email, /^Confirm your email address$/);
		expect(verify.text).toMatch(/verify-email\?token=/);

		const feed = await api.get<Feed>("/notifications", { token: ada.token });
		expect(feed.status).toBe(200);
		expect(feed.body.rows.map((row) => row.type)).toEqual(["account.welcome"]);
		expect(JSON.stringify(feed.body)).not.toContain("token=");
	});
});

describe("sending", () => {
	let bob: Account;
	let socket: RealtimeClient;

	beforeAll(async () => {
		bob = await register("bob");
		socket = await connectRealtime(node.url, bob.token);
	});

	afterAll(async () => {
		await socket?.close();
	});

	it("fans out to email, the feed and the user's open WebSocket", async () => {
		const data = orderData();
		const result = await send({ userId: bob.id, type: "order.paid", data });
		expect(result).toMatchObject({ recipients: 1, delivered: { email: 1, in_app: 1, realtime: 1 }, failed: 0 });

		const mail = await smtp.waitForMail(bob.email, /Payment received for order/);
		expect(mail.subject).toBe(`Payment received for order ${data.orderId}`);
		expect(mail.text).toContain("$25.00");

		const frame = await socket.waitFor((item) => item.kind === "notification" && (item.notification as Notification).type === "order.paid");
		const pushed = frame.notification as Notification;
		expect(pushed).toMatchObject({ title: "Payment received", body: `We received $25.00 for order ${data.orderId}.`, readAt: null });

		const feed = await api.get<Feed>("/notifications?unread=true", { token: bob.token });
		expect(feed.body.rows.find((row) => row.type === "order.paid")).toMatchObject({ id: pushed.id, data: { orderId: data.orderId } });
	});

	it("refuses a template variable that is missing (422) before anything goes out", async () => {
		const before = (await api.get<{ unread: number }>("/notifications/unread-count", { token: bob.token })).body.unread;
		const mailsBefore = smtp.received.length;
		await expect(send({ userId: bob.id, type: "order.paid", data: { orderId: "x" } })).rejects.toMatchObject({
			code: 422,
			type: "TEMPLATE_VARIABLE_MISSING",
			data: { variables: expect.arrayContaining(["total"]) },
		});
		expect((await api.get<{ unread: number }>("/notifications/unread-count", { token: bob.token })).body.unread).toBe(before);
		await new Promise((resolve) => setTimeout(resolve, 200));
		expect(smtp.received.length).toBe(mailsBefore);
	});

	it("delivers an event id once, however often the producer retries", async () => {
		const eventId = `test:${randomUUID()}`;
		const first = await send({ userId: bob.id, type: "payment.failed", data: orderData(), eventId });
		expect(first.delivered).toEqual({ email: 1, in_app: 1, realtime: 1 });
		const again = await send({ userId: bob.id, type: "payment.failed", data: orderData(), eventId });
		expect(again.delivered).toEqual({ email: 0, in_app: 0, realtime: 0 });
		const feed = await api.get<Feed>("/notifications?type=payment.failed", { token: bob.token });
		expect(feed.body.total).toBe(1);
	});

	it("writes one feed entry for an event delivered twice at the same moment", async () => {
		const eventId = `test:${randomUUID()}`;
		const before = (await api.get<Feed>("/notifications?type=order.refunded", { token: bob.token })).body.total;
		const both = await Promise.all([1, 2].map(() => send({ userId: bob.id, type: "order.refunded", data: orderData(), eventId, channels: ["in_app"] })));
		expect(both.map((result) => result.delivered.in_app).sort()).toEqual([0, 1]);
		const feed = await api.get<Feed>("/notifications?type=order.refunded", { token: bob.token });
		expect(feed.body.total).toBe(before + 1);
	});

	it("answers a bad target or type with a 4xx", async () => {
		await expect(send({ type: "order.paid", data: orderData() })).rejects.toMatchObject({ code: 400, type: "INVALID_TARGET" });
		await expect(send({ userId: bob.id, broadcast: true, type: "announcement", data: { title: "t", body: "b" } })).rejects.toMatchObject({ code: 400 });
		await expect(send({ userId: bob.id, type: "no.such.type", data: {} })).rejects.toMatchObject({ name: "ValidationError" });
	});
});

describe("the feed", () => {
	it("counts unread, marks one or all read, and hides other users' notifications", async () => {
		const carol = await register("carol");
		const dave = await register("dave");
		for (let index = 0; index < 3; index += 1) await send({ userId: carol.id, type: "payment.succeeded", data: orderData() });
		const unread = await api.get<{ unread: number }>("/notifications/unread-count", { token: carol.token });
		expect(unread.body.unread).toBe(4); // three payments and the welcome

		const page = await api.get<Feed & { page: number; pageSize: number; totalPages: number }>("/notifications?pageSize=2", { token: carol.token });
		expect(page.body).toMatchObject({ total: 4, page: 1, pageSize: 2, totalPages: 2 });
		const first = page.body.rows[0];

		expect((await api.put(`/notifications/${first.id}/read`, {}, { token: dave.token })).status).toBe(404);
		const read = await api.put<Notification>(`/notifications/${first.id}/read`, {}, { token: carol.token });
		expect(read.status).toBe(200);
		expect(read.body.readAt).not.toBeNull();
		expect((await api.get<{ unread: number }>("/notifications/unread-count", { token: carol.token })).body.unread).toBe(3);
		expect((await api.get<Feed>("/notifications?unread=false", { token: carol.token })).body.rows.map((row) => row.id)).toEqual([first.id]);

		const all = await api.post<{ updated: number }>("/notifications/read-all", {}, { token: carol.token });
		expect(all.body.updated).toBe(3);
		expect((await api.get<{ unread: number }>("/notifications/unread-count", { token: carol.token })).body.unread).toBe(0);
		expect((await api.get<Feed>("/notifications", { token: dave.token })).body.total).toBe(1);
	});

	it("answers bad input with problem+json and needs a signed-in user", async () => {
		const erin = await register("erin");
		const bad = await api.put("/notifications/not-a-uuid/read", {}, { token: erin.token });
		expect(bad.status).toBe(400);
		expect(bad.headers.get("content-type")).toContain("application/problem+json");
		expect((await api.get("/notifications?pageSize=1000", { token: erin.token })).status).toBe(400);
		expect((await api.get("/notifications")).status).toBe(401);
	});
});

describe("preferences", () => {
	it("lists every type with its channels, turns optional ones off, and never a critical one", async () => {
		const fay = await register("fay");
		const shown = await api.get<{ locale: string | null; preferences: Array<{ type: string; critical: boolean; channels: Record<string, boolean> }> }>("/notification-preferences", {
			token: fay.token,
		});
		expect(shown.status).toBe(200);
		expect(shown.body.preferences.find((item) => item.type === "order.paid")).toMatchObject({ critical: true, channels: { email: true, in_app: true, realtime: true } });
		expect(shown.body.preferences.find((item) => item.type === "announcement")).toMatchObject({ critical: false, channels: { email: false, in_app: true } });

		const refused = await api.put<{ code: string }>("/notification-preferences", { locale: "de", preferences: [{ type: "order.paid", channel: "email", enabled: false }] }, { token: fay.token });
		expect(refused.status).toBe(422);
		expect(refused.body.code).toBe("CRITICAL_NOTIFICATION");
		expect((await api.get<{ locale: string | null }>("/notification-preferences", { token: fay.token })).body.locale).toBeNull();

		const changed = await api.put<{ locale: string; preferences: Array<{ type: string; channels: Record<string, boolean> }> }>(
			"/notification-preferences",
			{ locale: "de-AT", preferences: [{ type: "account.welcome", channel: "email", enabled: false }, { type: "payment.succeeded", channel: "email", enabled: true }] },
			{ token: fay.token },
		);
		expect(changed.status).toBe(200);
		expect(changed.body.locale).toBe("de-AT");
		expect(changed.body.preferences.find((item) => item.type === "account.welcome")?.channels).toMatchObject({ email: false, in_app: true });
		// A critical type may gain channels, never lose its defaults.
		expect(changed.body.preferences.find((item) => item.type === "payment.succeeded")?.channels).toMatchObject({ email: true, in_app: true, realtime: true });

		// The language applies to the email and the feed.
		const data = orderData();
		await send({ userId: fay.id, type: "order.paid", data });
		const mail = await smtp.waitForMail(fay.email, /Zahlung/);
		expect(mail.subject).toBe(`Zahlung für Bestellung ${data.orderId} erhalten`);
		const feed = await api.get<Feed>("/notifications?type=order.paid", { token: fay.token });
		expect(feed.body.rows[0].title).toBe("Zahlung erhalten");

		expect((await api.put("/notification-preferences", { preferences: [{ type: "order.paid", channel: "fax", enabled: true }] }, { token: fay.token })).status).toBe(400);
	});

	it("skips channels a user turned off", async () => {
		const gus = await register("gus");
		await api.put("/notification-preferences", { preferences: [{ type: "announcement", channel: "in_app", enabled: false }] }, { token: gus.token });
		const result = await send({ userId: gus.id, type: "announcement", data: { title: "Hello", body: "World" } });
		expect(result.delivered).toEqual({ email: 0, in_app: 0, realtime: 1 });
		expect((await api.get<Feed>("/notifications?type=announcement", { token: gus.token })).body.total).toBe(0);
	});
});

describe("broadcasts", () => {
	it("lets a super admin announce to every user: feed and socket", async () => {
		const hal = await register("hal");
		const socket = await connectRealtime(node.url, hal.token, "header");
		try {
			expect((await api.post("/notifications/broadcast", { title: "Hi", body: "x" }, { token: hal.token })).status).toBe(403);
			const title = `Maintenance ${randomUUID().slice(0, 6)}`;
			const answer = await api.post<SendResult>("/notifications/broadcast", { title, body: "Tonight 22:00 UTC" }, { token: adminToken });
			expect(answer.status).toBe(202);
			expect(answer.body.queued).toBe(true);
			const frame = await socket.waitFor((item) => item.kind === "notification" && (item.notification as Notification).title === title);
			expect((frame.notification as Notification).body).toBe("Tonight 22:00 UTC");
			const feed = await api.get<Feed>("/notifications?type=announcement", { token: hal.token });
			expect(feed.body.rows[0]).toMatchObject({ title, body: "Tonight 22:00 UTC" });
			expect((await api.post("/notifications/broadcast", { title: "", body: "x" }, { token: adminToken })).status).toBe(400);
		} finally {
			await socket.close();
		}
	});
});

describe("the WebSocket endpoint", () => {
	it("refuses a missing or bad token with 401 problem+json, and unknown paths with 404", async () => {
		await expect(connectRealtime(node.url, "not-a-token")).rejects.toMatchObject({ status: 401, body: { status: 401, code: "INVALID_TOKEN" } });
		const missing = await fetch(`${node.url}/ws`, { headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" } }).catch(
			(err: Error) => err,
		);
		// fetch can't speak WebSocket; a plain GET of /ws is an ordinary unknown route.
		expect(missing instanceof Error || missing.status >= 400).toBe(true);
	});

	it("answers pings and accepts a fresh token for the same user, refuses another user's", async () => {
		const ivy = await register("ivy");
		const jon = await register("jon");
		const socket = await connectRealtime(node.url, ivy.token);
		try {
			socket.socket.send(JSON.stringify({ type: "ping" }));
			await socket.waitFor((frame) => frame.kind === "pong");
			const login = await api.post<{ accessToken: string }>("/auth/login", { email: ivy.email, password: PASSWORD }, { ip: uniqueIp() });
			socket.socket.send(JSON.stringify({ type: "authenticate", token: login.body.accessToken }));
			await socket.waitFor((frame) => frame.kind === "ready" && socket.frames.filter((item) => item.kind === "ready").length === 2);
			socket.socket.send(JSON.stringify({ type: "authenticate", token: jon.token }));
			await socket.waitFor((frame) => frame.kind === "error" && frame.code === "IDENTITY_MISMATCH");
			socket.socket.send("not json");
			await socket.waitFor((frame) => frame.kind === "error" && frame.code === "INVALID_MESSAGE");
		} finally {
			await socket.close();
		}
	});
});

describe("API keys", () => {
	it("have no feed or preferences of their own", async () => {
		const kim = await api.post<{ accessToken: string }>(
			"/auth/register",
			{ email: uniqueEmail("kim"), password: PASSWORD, fullName: "Kim", organization: "Kim Co" },
			{ ip: uniqueIp() },
		);
		const key = await api.post<{ key: string }>("/api-keys", { name: "ci", scopes: ["*"] }, { token: kim.body.accessToken });
		expect(key.status, JSON.stringify(key.body)).toBe(201);
		const feed = await api.get<{ code: string }>("/notifications", { apiKey: key.body.key });
		expect(feed.status).toBe(403);
		expect(feed.body.code).toBe("USER_REQUIRED");
		expect((await api.get("/notification-preferences", { apiKey: key.body.key })).status).toBe(403);
	});
});
