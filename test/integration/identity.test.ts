/**
 * Identity and tenancy as a client drives it through the gateway: sign-up, login, refresh rotation and
 * reuse, throttling, sessions, suspension, password reset, email verification, personas, tenants,
 * invitations, API keys and the audit log. One node, all domains, real PostgreSQL; mail in the outbox.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type RunningNode } from "../helpers/nodes";
import { sql } from "../helpers/db";
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";

const ADMIN = { email: "root@lattice.test", password: "bootstrap-secret-1" };
const PASSWORD = "correct horse battery";

let node: RunningNode;
let api: ApiClient;

interface Session {
	user: { id: string; email: string; persona: string };
	tenant: { id: string; role?: string };
	accessToken: string;
	refreshToken: string;
	expiresIn: number;
}

/** The token in the newest email to this address (the outbox is the embedded mail transport). */
async function tokenFromMail(to: string, template: string): Promise<string> {
	for (let attempt = 0; attempt < 50; attempt += 1) {
		const rows = await sql<{ text_body: string }>("SELECT text_body FROM mail.outbox WHERE to_address = $1 AND template = $2 ORDER BY created_at DESC LIMIT 1", [to, template]);
		const match = rows[0]?.text_body.match(/token=([A-Za-z0-9_%-]+)/);
		if (match) return decodeURIComponent(match[1]);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	throw new Error(`No ${template} mail to ${to}`);
}

async function register(label: string, organization?: string): Promise<Session & { password: string }> {
	const email = uniqueEmail(label);
	const response = await api.post<Session>("/auth/register", { email, password: PASSWORD, fullName: `${label} Tester`, organization }, { ip: uniqueIp() });
	expect(response.status).toBe(201);
	return { ...response.body, password: PASSWORD };
}

async function login(email: string, password = PASSWORD, ip = uniqueIp()) {
	return api.post<Session>("/auth/login", { email, password }, { ip });
}

beforeAll(async () => {
	node = await startNode({ TRUST_PROXY: "true", BOOTSTRAP_ADMIN_EMAIL: ADMIN.email, BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, RATE_LIMIT_MAX: "100000" });
	api = apiClient(node.url);
	// The bootstrap admin is created just after start.
	await loginWhenReady(api, ADMIN);
}, 60_000);

afterAll(async () => {
	await node?.stop();
});

describe("sign-up and login", () => {
	it("registers a user with an organization they own, and sends a verification email", async () => {
		const alice = await register("alice", "Acme");
		expect(alice.user).toMatchObject({ persona: "end_user", status: "active", emailVerified: false });
		expect(alice.tenant).toMatchObject({ name: "Acme", role: "owner" });
		expect(alice.expiresIn).toBe(900);
		expect(alice.user).not.toHaveProperty("passwordHash");
		const token = await tokenFromMail(alice.user.email, "verify-email");
		const verified = await api.post("/auth/verify-email", { token });
		expect(verified.status).toBe(200);
		expect((await api.post("/auth/verify-email", { token })).status).toBe(400);
		const me = await api.get<{ user: { emailVerified: boolean } }>("/auth/me", { token: alice.accessToken });
		expect(me.body.user.emailVerified).toBe(true);
	});

	it("refuses duplicate emails case-insensitively and weak passwords, changing nothing", async () => {
		const bob = await register("bob");
		const duplicate = await api.post("/auth/register", { email: bob.user.email.toUpperCase(), password: PASSWORD, fullName: "Bob Again" }, { ip: uniqueIp() });
		expect(duplicate.status).toBe(409);
		expect(duplicate.body).toMatchObject({ code: "EMAIL_TAKEN" });
		// Racing sign-ups with one email: one account, and the other is told why.
		const raced = uniqueEmail("race");
		const racing = await Promise.all(
			[1, 2, 3].map(() => api.post<{ code?: string }>("/auth/register", { email: raced, password: PASSWORD, fullName: "Racer" }, { ip: uniqueIp() })),
		);
		expect(racing.map((answer) => answer.status).sort()).toEqual([201, 409, 409]);
		expect(racing.filter((answer) => answer.status === 409).map((answer) => answer.body.code)).toEqual(["EMAIL_TAKEN", "EMAIL_TAKEN"]);
		const email = uniqueEmail("weak");
		const short = await api.post<{ errors: Array<{ field: string }> }>("/auth/register", { email, password: "short", fullName: "Weak" }, { ip: uniqueIp() });
		expect(short.status).toBe(400);
		expect(short.body.errors[0].field).toBe("password");
		const same = await api.post("/auth/register", { email, password: email, fullName: "Weak" }, { ip: uniqueIp() });
		expect(same.status).toBe(400);
		expect((await login(email)).status).toBe(401);
	});

	it("answers an unknown email and a wrong password with the same 401", async () => {
		const carol = await register("carol");
		const wrong = await login(carol.user.email, "not the password");
		const unknown = await login(uniqueEmail("nobody"), "not the password");
		expect(wrong.status).toBe(401);
		expect(unknown.status).toBe(401);
		expect(wrong.body).toMatchObject({ code: "INVALID_CREDENTIALS", detail: (unknown.body as unknown as { detail: string }).detail });
		const ok = await login(carol.user.email.toUpperCase());
		expect(ok.status).toBe(200);
		expect(ok.body.tenant).toMatchObject({ role: "owner" });
	});

	it("tells who the caller is", async () => {
		const dave = await register("dave", "Dave Co");
		const me = await api.get<{ user: { id: string }; tenant: { id: string }; role: string; persona: string; memberships: unknown[] }>("/auth/me", { token: dave.accessToken });
		expect(me.status).toBe(200);
		expect(me.body).toMatchObject({ user: { id: dave.user.id }, tenant: { id: dave.tenant.id }, role: "owner", persona: "end_user" });
		expect(me.body.memberships).toHaveLength(1);
		expect((await api.get("/auth/me")).status).toBe(401);
		expect((await api.get("/auth/me", { token: "not.a.jwt" })).status).toBe(401);
	});
});

describe("refresh tokens", () => {
	it("rotates on every refresh and are single use", async () => {
		const erin = await register("erin");
		const first = await api.post<Session>("/auth/refresh-token", { refreshToken: erin.refreshToken });
		expect(first.status).toBe(200);
		expect(first.body.refreshToken).not.toBe(erin.refreshToken);
		expect((await api.get("/auth/me", { token: first.body.accessToken })).status).toBe(200);
	});

	it("tolerates a concurrent refresh within 10 s, and revokes the whole family on a later reuse", async () => {
		const frank = await register("frank");
		const [a, b] = await Promise.all([
			api.post<Session>("/auth/refresh-token", { refreshToken: frank.refreshToken }),
			api.post<Session>("/auth/refresh-token", { refreshToken: frank.refreshToken }),
		]);
		expect([a.status, b.status]).toEqual([200, 200]);
		// Age the use beyond the grace window instead of sleeping through it.
		await sql("UPDATE auth.refresh_tokens SET used_at = now() - interval '11 seconds' WHERE used_at IS NOT NULL AND session_id = (SELECT session_id FROM auth.refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex'))", [frank.refreshToken]);
		const reuse = await api.post("/auth/refresh-token", { refreshToken: frank.refreshToken });
		expect(reuse.status).toBe(401);
		// The thief's fresh token and the owner's are both dead now, and so is the access token.
		expect((await api.post("/auth/refresh-token", { refreshToken: a.body.refreshToken })).status).toBe(401);
		expect((await api.get("/auth/me", { token: a.body.accessToken })).status).toBe(401);
		const audit = await sql("SELECT 1 FROM audit.audit_log WHERE action = 'auth.refresh_token_reused' AND actor_id = $1", [frank.user.id]);
		expect(audit).toHaveLength(1);
	});

	it("ends a session on logout", async () => {
		const gina = await register("gina");
		expect((await api.post("/auth/logout", { refreshToken: gina.refreshToken })).status).toBe(204);
		expect((await api.post("/auth/refresh-token", { refreshToken: gina.refreshToken })).status).toBe(401);
		expect((await api.get("/auth/me", { token: gina.accessToken })).status).toBe(401);
	});

	it("lists sessions and revokes one", async () => {
		const hank = await register("hank");
		const other = await login(hank.user.email);
		const sessions = await api.get<Array<{ id: string; current: boolean }>>("/auth/sessions", { token: hank.accessToken });
		expect(sessions.body).toHaveLength(2);
		const otherSession = sessions.body.find((session) => !session.current)!;
		expect((await api.delete(`/auth/sessions/${otherSession.id}`, { token: hank.accessToken })).status).toBe(204);
		expect((await api.get("/auth/me", { token: other.body.accessToken })).status).toBe(401);
		expect((await api.get("/auth/me", { token: hank.accessToken })).status).toBe(200);
	});
});

describe("throttling", () => {
	it("makes an (account, address) pair wait after 5 failures with 429 + Retry-After, until an admin clears it", async () => {
		const ivan = await register("ivan");
		const ip = uniqueIp();
		for (let attempt = 0; attempt < 5; attempt += 1) expect((await login(ivan.user.email, "wrong password", ip)).status).toBe(401);
		const waiting = await login(ivan.user.email, PASSWORD, ip);
		expect(waiting.status).toBe(429);
		expect(Number(waiting.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
		expect(waiting.body).toMatchObject({ code: "LOGIN_THROTTLED" });
		const admin = await login(ADMIN.email, ADMIN.password);
		const cleared = await api.delete(`/auth/throttles?email=${encodeURIComponent(ivan.user.email)}`, { token: admin.body.accessToken });
		expect(cleared.status).toBe(200);
		expect((await login(ivan.user.email, PASSWORD, ip)).status).toBe(200);
	});

	it("doesn't hold an address back for a few failures on other accounts", async () => {
		const ip = uniqueIp();
		for (let attempt = 0; attempt < 5; attempt += 1) await login(uniqueEmail("spray"), "wrong password", ip);
		const jane = await register("jane");
		expect((await login(jane.user.email, PASSWORD, ip)).status).toBe(200);
	});
});

describe("passwords", () => {
	it("resets a forgotten password with a single-use token, ending every session", async () => {
		const kate = await register("kate");
		expect((await api.post("/auth/password/forgot", { email: kate.user.email })).status).toBe(202);
		expect((await api.post("/auth/password/forgot", { email: uniqueEmail("ghost") })).status).toBe(202);
		const token = await tokenFromMail(kate.user.email, "password-reset");
		const reset = await api.post("/auth/password/reset", { token, password: "a brand new secret" });
		expect(reset.status).toBe(200);
		expect((await api.post("/auth/password/reset", { token, password: "another new secret" })).status).toBe(400);
		expect((await api.get("/auth/me", { token: kate.accessToken })).status).toBe(401);
		expect((await login(kate.user.email)).status).toBe(401);
		expect((await login(kate.user.email, "a brand new secret")).status).toBe(200);
	});

	it("changes a password with the current one and revokes the other sessions", async () => {
		const liam = await register("liam");
		const wrong = await api.post("/auth/password/change", { currentPassword: "nope", newPassword: "another long secret" }, { token: liam.accessToken });
		expect(wrong.status).toBe(403);
		const changed = await api.post<Session>("/auth/password/change", { currentPassword: PASSWORD, newPassword: "another long secret" }, { token: liam.accessToken });
		expect(changed.status).toBe(200);
		expect((await api.get("/auth/me", { token: liam.accessToken })).status).toBe(401);
		expect((await api.get("/auth/me", { token: changed.body.accessToken })).status).toBe(200);
	});
});

describe("personas and suspension", () => {
	it("lets a user become a builder, but only a super admin grants super_admin", async () => {
		const mia = await register("mia");
		const builder = await api.put<{ user: { persona: string }; accessToken: string }>("/auth/update-persona", { persona: "builder" }, { token: mia.accessToken });
		expect(builder.status).toBe(200);
		expect(builder.body.user.persona).toBe("builder");
		expect((await api.put("/auth/update-persona", { persona: "super_admin" }, { token: builder.body.accessToken })).status).toBe(403);
		const admin = await login(ADMIN.email, ADMIN.password);
		expect(admin.body.user.persona).toBe("super_admin");
		const granted = await api.put("/auth/update-persona", { persona: "super_admin", userId: mia.user.id }, { token: admin.body.accessToken });
		expect(granted.status).toBe(200);
	});

	it("stops a suspended user's tokens at the next request and refuses their login", async () => {
		const noah = await register("noah");
		const admin = await login(ADMIN.email, ADMIN.password);
		expect((await api.put(`/users/${noah.user.id}/status`, { status: "suspended" }, { token: noah.accessToken })).status).toBe(403);
		const suspended = await api.put(`/users/${noah.user.id}/status`, { status: "suspended" }, { token: admin.body.accessToken });
		expect(suspended.status).toBe(200);
		expect((await api.get("/auth/me", { token: noah.accessToken })).status).toBe(401);
		expect((await api.post("/auth/refresh-token", { refreshToken: noah.refreshToken })).status).toBe(401);
		const refused = await login(noah.user.email);
		expect(refused.status).toBe(403);
		expect(refused.body).toMatchObject({ code: "ACCOUNT_SUSPENDED" });
		await api.put(`/users/${noah.user.id}/status`, { status: "active" }, { token: admin.body.accessToken });
		expect((await login(noah.user.email)).status).toBe(200);
	});
});

describe("users", () => {
	it("lets users read and edit themselves, and super admins search everyone", async () => {
		const olga = await register("olga");
		const pete = await register("pete");
		const updated = await api.put(`/users/${olga.user.id}`, { fullName: "Olga Updated", phone: "+1 555 0100", address: { city: "Oslo", country: "no" } }, { token: olga.accessToken });
		expect(updated.status).toBe(200);
		expect(updated.body).toMatchObject({ fullName: "Olga Updated", address: { city: "Oslo", country: "NO" } });
		expect((await api.get(`/users/${olga.user.id}`, { token: pete.accessToken })).status).toBe(403);
		expect((await api.put(`/users/${olga.user.id}`, { fullName: "x" }, { token: pete.accessToken })).status).toBe(403);
		expect((await api.get("/users", { token: olga.accessToken })).status).toBe(403);
		const admin = await login(ADMIN.email, ADMIN.password);
		const found = await api.get<{ rows: Array<{ id: string }>; total: number }>(`/users?search=${encodeURIComponent("Olga Upd")}`, { token: admin.body.accessToken });
		expect(found.body.rows.map((row) => row.id)).toEqual([olga.user.id]);
		const stats = await api.get(`/users/${olga.user.id}/stats`, { token: olga.accessToken });
		expect(stats.body).toMatchObject({ tenants: 1, activeSessions: 1 });
	});
});

describe("account deletion", () => {
	it("deletes an account: its sessions end, it can't log in, and the email is free again", async () => {
		const zoe = await register("zoe");
		const other = await register("zack");
		expect((await api.delete(`/users/${zoe.user.id}`, { token: other.accessToken })).status).toBe(403);
		expect((await api.delete(`/users/${zoe.user.id}`, { token: zoe.accessToken })).status).toBe(204);
		expect((await api.get("/auth/me", { token: zoe.accessToken })).status).toBe(401);
		expect((await login(zoe.user.email)).status).toBe(401);
		const again = await api.post("/auth/register", { email: zoe.user.email, password: PASSWORD, fullName: "Zoe Again" }, { ip: uniqueIp() });
		expect(again.status).toBe(201);
	});
});

describe("organizations", () => {
	it("invites a member by email, who joins with the token; roles are guarded", async () => {
		const owner = await register("quinn", "Quinn Inc");
		const invitee = await register("rita");
		const invited = await api.post<{ id: string }>(`/tenants/${owner.tenant.id}/invitations`, { email: invitee.user.email, role: "member" }, { token: owner.accessToken });
		expect(invited.status).toBe(201);
		expect(invited.headers.get("location")).toBe(`/api/v1/tenants/${owner.tenant.id}/invitations`);
		const pending = await api.get<Array<{ id: string; email: string }>>(`/tenants/${owner.tenant.id}/invitations`, { token: owner.accessToken });
		expect(pending.body.map((item) => item.id)).toEqual([invited.body.id]);
		expect((await api.get(`/tenants/${owner.tenant.id}/invitations`, { token: invitee.accessToken })).status).toBe(404);
		const token = await tokenFromMail(invitee.user.email, "invitation");
		const outsider = await register("sam");
		expect((await api.post("/invitations/accept", { token }, { token: outsider.accessToken })).status).toBe(404);
		const joined = await api.post("/invitations/accept", { token }, { token: invitee.accessToken });
		expect(joined.status).toBe(200);
		expect((await api.post("/invitations/accept", { token }, { token: invitee.accessToken })).status).toBe(404);

		const members = await api.get<Array<{ userId: string; role: string }>>(`/tenants/${owner.tenant.id}/members`, { token: invitee.accessToken });
		expect(members.body.map((member) => member.role).sort()).toEqual(["member", "owner"]);
		// A member can't manage members; the last owner can't be demoted or leave.
		expect((await api.put(`/tenants/${owner.tenant.id}/members/${owner.user.id}`, { role: "viewer" }, { token: invitee.accessToken })).status).toBe(403);
		const demote = await api.put(`/tenants/${owner.tenant.id}/members/${owner.user.id}`, { role: "admin" }, { token: owner.accessToken });
		expect(demote.status).toBe(409);
		expect(demote.body).toMatchObject({ code: "LAST_OWNER" });
		expect((await api.delete(`/tenants/${owner.tenant.id}/members/${owner.user.id}`, { token: owner.accessToken })).status).toBe(409);

		// Switching into the new organization gives tokens for it.
		const switched = await api.post<Session>("/auth/switch-tenant", { tenantId: owner.tenant.id }, { token: invitee.accessToken });
		expect(switched.status).toBe(200);
		const me = await api.get<{ tenant: { id: string }; role: string }>("/auth/me", { token: switched.body.accessToken });
		expect(me.body).toMatchObject({ tenant: { id: owner.tenant.id }, role: "member" });
		expect((await api.post("/auth/switch-tenant", { tenantId: outsider.tenant.id }, { token: invitee.accessToken })).status).toBe(403);

		expect((await api.delete(`/tenants/${owner.tenant.id}/members/${invitee.user.id}`, { token: invitee.accessToken })).status).toBe(204);
	});

	it("issue 12: /auth/me reuses its answer only while what it shows is unchanged: a profile edit, a role change and another tenant show at once", async () => {
		const owner = await register("uma", "Uma Ltd");
		const member = await register("vera");
		await api.post(`/tenants/${owner.tenant.id}/invitations`, { email: member.user.email, role: "member" }, { token: owner.accessToken });
		expect((await api.post("/invitations/accept", { token: await tokenFromMail(member.user.email, "invitation") }, { token: member.accessToken })).status).toBe(200);
		const switched = await api.post<Session>("/auth/switch-tenant", { tenantId: owner.tenant.id }, { token: member.accessToken });
		type Me = { user: { fullName: string }; tenant: { id: string }; role: string; memberships: Array<{ id: string; role: string }> };
		const me = async (token: string) => (await api.get<Me>("/auth/me", { token })).body;

		const first = await me(switched.body.accessToken);
		expect(first).toMatchObject({ user: { fullName: "vera Tester" }, tenant: { id: owner.tenant.id }, role: "member" });
		expect(await me(switched.body.accessToken)).toEqual(first);
		// The same user, the same cached parts, another tenant in the token: that tenant's answer, not the last one.
		expect(await me(member.accessToken)).toMatchObject({ tenant: { id: member.tenant.id }, role: "owner" });
		expect(await me(switched.body.accessToken)).toMatchObject({ tenant: { id: owner.tenant.id }, role: "member" });

		expect((await api.put(`/users/${member.user.id}`, { fullName: "Vera Renamed" }, { token: member.accessToken })).status).toBe(200);
		expect((await me(switched.body.accessToken)).user.fullName).toBe("Vera Renamed");
		expect((await api.put(`/tenants/${owner.tenant.id}/members/${member.user.id}`, { role: "admin" }, { token: owner.accessToken })).status).toBe(200);
		const promoted = await me(switched.body.accessToken);
		expect(promoted).toMatchObject({ user: { fullName: "Vera Renamed" }, role: "admin" });
		expect(promoted.memberships.find((item) => item.id === owner.tenant.id)?.role).toBe("admin");
	});

	it("two owners demoting or removing each other at once leave the organization one owner", async () => {
		for (const action of ["demote", "remove"] as const) {
			const first = await register(`own1${action}`, `Twin ${action}`);
			const second = await register(`own2${action}`);
			const invited = await api.post(`/tenants/${first.tenant.id}/invitations`, { email: second.user.email, role: "owner" }, { token: first.accessToken });
			expect(invited.status).toBe(201);
			expect((await api.post("/invitations/accept", { token: await tokenFromMail(second.user.email, "invitation") }, { token: second.accessToken })).status).toBe(200);
			const act = (by: Session, target: Session) =>
				action === "demote"
					? api.put(`/tenants/${first.tenant.id}/members/${target.user.id}`, { role: "admin" }, { token: by.accessToken })
					: api.delete(`/tenants/${first.tenant.id}/members/${target.user.id}`, { token: by.accessToken });
			const answers = await Promise.all([act(first, second), act(second, first)]);
			const statuses = answers.map((answer) => answer.status).sort();
			// The loser is refused by the last-owner guard (409) — or, when the winner's removal committed before the
			// loser's own request was authorised, it is no longer a member and the organization is not found (404).
			// Either way exactly one owner is left (checked below).
			const loser = action === "remove" && statuses[1] === 404 ? 404 : 409;
			expect(statuses, action).toEqual([action === "demote" ? 200 : 204, loser]);
			if (loser === 409) expect(answers.find((answer) => answer.status === 409)?.body).toMatchObject({ code: "LAST_OWNER" });
			const owners = await sql<{ count: string }>("SELECT count(*) FROM tenants.memberships WHERE tenant_id = $1 AND role = 'owner'", [first.tenant.id]);
			expect(Number(owners[0].count), action).toBe(1);
		}
	});

	it("keeps feature flags and plan limits per organization", async () => {
		const tara = await register("tara");
		const features = await api.put(`/tenants/${tara.tenant.id}/features`, { features: { beta_editor: true } }, { token: tara.accessToken });
		expect(features.body).toEqual({ beta_editor: true });
		const limits = await api.get<{ plan: string; limits: Record<string, number> }>(`/tenants/${tara.tenant.id}/limits`, { token: tara.accessToken });
		expect(limits.body.plan).toBe("free");
		expect(limits.body.limits.members).toBe(5);
		const check = await node.broker.call<{ allowed: boolean }, object>("tenants.checkLimit", { tenantId: tara.tenant.id, limit: "members", current: 5 }, { meta: { $system: true } });
		expect(check.allowed).toBe(false);
	});
});

describe("API keys", () => {
	it("shows a key once, stores it hashed, authenticates with X-API-Key within its scopes, and dies on delete", async () => {
		const uma = await register("uma");
		const created = await api.post<{ id: string; key: string; prefix: string }>("/api-keys", { name: "ci", scopes: ["tenants:read"] }, { token: uma.accessToken });
		expect(created.status).toBe(201);
		expect(created.body.key.startsWith(created.body.prefix)).toBe(true);
		const listed = await api.get<{ rows: Array<Record<string, unknown>> }>("/api-keys", { token: uma.accessToken });
		expect(listed.body.rows).toHaveLength(1);
		expect(listed.body.rows[0]).not.toHaveProperty("key");
		expect(listed.body.rows[0]).not.toHaveProperty("keyHash");
		const stored = await sql<{ key_hash: string }>("SELECT key_hash FROM api_keys.api_keys WHERE id = $1", [created.body.id]);
		expect(stored[0].key_hash).not.toContain(created.body.key);

		expect((await api.get(`/tenants/${uma.tenant.id}`, { apiKey: created.body.key })).status).toBe(200);
		expect((await api.put(`/tenants/${uma.tenant.id}`, { name: "x" }, { apiKey: created.body.key })).status).toBe(403);
		expect((await api.get(`/tenants/${uma.tenant.id}`, { apiKey: `${created.body.key}x` })).status).toBe(401);
		const lastUsed = await sql<{ last_used_at: Date | null }>("SELECT last_used_at FROM api_keys.api_keys WHERE id = $1", [created.body.id]);
		expect(lastUsed[0].last_used_at).not.toBeNull();

		expect((await api.delete(`/api-keys/${created.body.id}`, { token: uma.accessToken })).status).toBe(204);
		expect((await api.get(`/tenants/${uma.tenant.id}`, { apiKey: created.body.key })).status).toBe(401);
	});
});

describe("tenant isolation", () => {
	it("answers 404 on every tenant-owned route for another tenant's ids", async () => {
		const victim = await register("victor", "Victim Co");
		const intruder = await register("ivy", "Intruder Co");
		const key = await api.post<{ id: string }>("/api-keys", { name: "victim key", scopes: ["*"] }, { token: victim.accessToken });
		expect(key.status).toBe(201);
		const invitation = await api.post<{ id: string }>(`/tenants/${victim.tenant.id}/invitations`, { email: uniqueEmail("x"), role: "member" }, { token: victim.accessToken });
		expect(invitation.status).toBe(201);
		const t = victim.tenant.id;
		const routes: Array<[string, string, unknown?]> = [
			["GET", `/tenants/${t}`],
			["PUT", `/tenants/${t}`, { name: "pwned" }],
			["GET", `/tenants/${t}/members`],
			["PUT", `/tenants/${t}/members/${victim.user.id}`, { role: "viewer" }],
			["DELETE", `/tenants/${t}/members/${victim.user.id}`],
			["POST", `/tenants/${t}/invitations`, { email: uniqueEmail("y"), role: "admin" }],
			["GET", `/tenants/${t}/invitations`],
			["GET", `/tenants/${t}/features`],
			["PUT", `/tenants/${t}/features`, { features: { x: true } }],
			["GET", `/tenants/${t}/limits`],
			["GET", `/api-keys/${key.body.id}`],
			["DELETE", `/api-keys/${key.body.id}`],
		];
		for (const [method, path, body] of routes) {
			const response =
				method === "GET" ? await api.get(path, { token: intruder.accessToken }) : method === "DELETE" ? await api.delete(path, { token: intruder.accessToken }) : method === "PUT" ? await api.put(path, body, { token: intruder.accessToken }) : await api.post(path, body, { token: intruder.accessToken });
			expect({ method, path, status: response.status }).toEqual({ method, path, status: 404 });
		}
		const keys = await api.get<{ rows: unknown[] }>("/api-keys", { token: intruder.accessToken });
		expect(keys.body.rows).toHaveLength(0);
		// Nothing changed for the victim.
		const tenant = await api.get(`/tenants/${t}`, { token: victim.accessToken });
		expect(tenant.body).toMatchObject({ name: "Victim Co" });
		expect((await api.get(`/api-keys/${key.body.id}`, { token: victim.accessToken })).status).toBe(200);
	});

	it("checks permissions on internal calls too", async () => {
		const wes = await register("wes");
		const meta = { user: { id: wes.user.id, persona: "end_user" }, persona: "end_user", tenantId: wes.tenant.id, role: "owner" };
		await expect(node.broker.call("users.setStatus", { id: wes.user.id, status: "suspended" }, { meta })).rejects.toMatchObject({ code: 403 });
		await expect(node.broker.call("users.search", {}, { meta })).rejects.toMatchObject({ code: 403 });
		await expect(node.broker.call("auth.clearThrottle", { email: "x@example.com" }, { meta: {} })).rejects.toMatchObject({ code: 401 });
	});
});

describe("audit log", () => {
	it("shows owners their tenant's events and super admins everything", async () => {
		const xena = await register("xena");
		await api.post("/api-keys", { name: "audited", scopes: [] }, { token: xena.accessToken });
		const log = await api.get<{ rows: Array<{ action: string; tenantId: string; ip: string }> }>("/audit-log", { token: xena.accessToken });
		expect(log.status).toBe(200);
		const actions = log.body.rows.map((row) => row.action);
		expect(actions).toEqual(expect.arrayContaining(["auth.signup", "api_key.created"]));
		expect(new Set(log.body.rows.map((row) => row.tenantId))).toEqual(new Set([xena.tenant.id]));
		const member = await register("yuri");
		const otherTenant = await api.get<{ rows: Array<{ tenantId: string }> }>(`/audit-log?tenantId=${xena.tenant.id}`, { token: member.accessToken });
		expect(otherTenant.body.rows.every((row) => row.tenantId === member.tenant.id)).toBe(true);
		const admin = await login(ADMIN.email, ADMIN.password);
		const failures = await api.get<{ rows: unknown[] }>("/audit-log?action=auth.login&outcome=failure", { token: admin.body.accessToken });
		expect(failures.body.rows.length).toBeGreaterThan(0);
	});
});
