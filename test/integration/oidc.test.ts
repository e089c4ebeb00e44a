/**
 * Sign-in with OpenID Connect against a real provider: oidc-provider (panva's certified implementation)
 * runs in the test process on 127.0.0.1, and a Lattice node with every domain talks to it over HTTP.
 *
 * No browser: the test plays one. It follows redirects by hand with a cookie jar per "browser", and the
 * provider's login and consent pages are replaced by a small route on the provider's own Koa app that
 * reads the pending interaction (`interactionDetails`) and completes it (`interactionResult`), exactly what
 * a real login form posting back to the provider does. The provider's devInteractions are off: they serve
 * HTML forms meant for people.
 */
import http from "node:http";
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Provider, { type InteractionResults, type KoaContextWithOIDC } from "oidc-provider";
import { freePort, startNode, type RunningNode } from "../helpers/nodes";
import { sql } from "../helpers/db";
import { apiClient, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";

const PASSWORD = "correct horse battery";
const CLIENT = { id: "lattice", secret: "local-client-secret-0123456789" };
/** Configured with explicit endpoints instead of discovery, authenticating at the token endpoint by POST. */
const MANUAL_CLIENT = { id: "lattice-manual", secret: "manual-client-secret-0123456789" };

interface Account {
	sub: string;
	email: string;
	email_verified: boolean;
	name: string;
}

interface OAuthSession {
	user: { id: string; email: string; fullName: string; emailVerified: boolean };
	tenant: { id: string; name: string; role: string } | null;
	accessToken: string;
	refreshToken: string;
	tokenType: string;
	expiresIn: number;
	provider: string;
	linked: boolean;
	created: boolean;
}

interface Problem {
	status: number;
	code: string;
	detail: string;
}

const accounts = new Map<string, Account>();
let accountCounter = 0;

let issuer: string;
let providerServer: http.Server;
let node: RunningNode;
let api: ApiClient;

function addAccount(label: string, claims: Partial<Account> = {}): Account {
	accountCounter += 1;
	const account = { sub: `${label}-${accountCounter}-${Date.now().toString(36)}`, email: uniqueEmail(label), email_verified: true, name: `${label} Provider`, ...claims };
	accounts.set(account.sub, account);
	return account;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
	const chunks: Buffer[] = [];
	for await (const chunk of req) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks).toString("utf8");
}

/** The provider's login and consent "pages": GET tells which prompt is pending, POST answers it. */
function interactionRoutes(provider: Provider) {
	return async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
		if (!/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
		const details = await provider.interactionDetails(ctx.req, ctx.res);
		if (ctx.method === "GET") {
			ctx.body = { uid: details.uid, prompt: details.prompt.name };
			return;
		}
		if (ctx.method !== "POST") return next();
		const form = new URLSearchParams(await readBody(ctx.req));
		let result: InteractionResults;
		if (form.get("deny")) {
			result = { error: "access_denied", error_description: "The user declined" };
		} else if (details.prompt.name === "login") {
			result = { login: { accountId: form.get("account") ?? "" } };
		} else {
			// Consent: grant what the client asked for, as a user clicking "Allow" would.
			const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
			const grant = existing ?? new provider.Grant({ accountId: String(details.session?.accountId), clientId: String(details.params.client_id) });
			const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
			if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
			if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
			result = { consent: { grantId: await grant.save() } };
		}
		const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
		ctx.redirect(returnTo);
		ctx.status = 303;
	};
}

async function startProvider(port: number, latticeUrl: string): Promise<http.Server> {
	const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
	const provider = new Provider(issuer, {
		clients: [
			{
				client_id: CLIENT.id,
				client_secret: CLIENT.secret,
				redirect_uris: [`${latticeUrl}/api/v1/auth/oauth/local/callback`],
				grant_types: ["authorization_code"],
				response_types: ["code"],
			},
			{
				client_id: MANUAL_CLIENT.id,
				client_secret: MANUAL_CLIENT.secret,
				redirect_uris: [`${latticeUrl}/api/v1/auth/oauth/manual/callback`],
				grant_types: ["authorization_code"],
				response_types: ["code"],
				token_endpoint_auth_method: "client_secret_post",
			},
		],
		jwks: { keys: [{ ...privateKey.export({ format: "jwk" }), kid: "test-key", use: "sig", alg: "RS256" }] },
		cookies: { keys: ["oidc-test-cookie-key-0123456789"] },
		claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
		features: { devInteractions: { enabled: false } },
		pkce: { required: () => true },
		// Explicit lifetimes, or the provider prints a notice for each kind of artifact it issues.
		ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
		interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
		async findAccount(_ctx, id) {
			const account = accounts.get(id);
			if (!account) return undefined;
			return { accountId: id, claims: () => ({ ...account }) };
		},
	});
	provider.use(interactionRoutes(provider));
	const server = http.createServer(provider.callback());
	await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
	return server;
}

/** A browser's cookie store, enough for the provider's session and interaction cookies (Path matters). */
class CookieJar {
	private cookies = new Map<string, { value: string; path: string; host: string }>();

	store(url: URL, response: Response): void {
		for (const header of response.headers.getSetCookie()) {
			const [pair, ...attributes] = header.split(";").map((part) => part.trim());
			const separator = pair.indexOf("=");
			const name = pair.slice(0, separator);
			const value = pair.slice(separator + 1);
			const pathAttribute = attributes.find((item) => item.toLowerCase().startsWith("path="));
			const expired = attributes.some((item) => /^max-age=0$/i.test(item) || (/^expires=/i.test(item) && new Date(item.slice(8)).getTime() < Date.now()));
			const key = `${url.host} ${name}`;
			if (expired || value === "") this.cookies.delete(key);
			else this.cookies.set(key, { value, path: pathAttribute ? pathAttribute.slice(5) : "/", host: url.host });
		}
	}

	header(url: URL): string {
		return [...this.cookies.entries()]
			.filter(([, cookie]) => cookie.host === url.host && url.pathname.startsWith(cookie.path))
			.map(([key, cookie]) => `${key.split(" ")[1]}=${cookie.value}`)
			.join("; ");
	}
}

interface BrowserResult {
	/** The last URL the browser requested: the Lattice callback at the end of a sign-in. */
	url: URL;
	status: number;
	body: unknown;
}

/**
 * A browser signing in: starts at Lattice's authorize URL, follows every redirect, answers the provider's
 * prompts for `account` (or declines), and stops at the first answer that is not a redirect.
 */
async function browserSignIn(start: string, options: { account?: Account; deny?: boolean; jar?: CookieJar } = {}): Promise<BrowserResult> {
	const jar = options.jar ?? new CookieJar();
	let url = new URL(start);
	for (let hop = 0; hop < 20; hop += 1) {
		let response = await fetch(url, { redirect: "manual", headers: { cookie: jar.header(url) } });
		jar.store(url, response);
		if (response.status === 200 && url.href.startsWith(`${issuer}/interaction/`)) {
			const form = new URLSearchParams(options.deny ? { deny: "1" } : { account: options.account?.sub ?? "" });
			response = await fetch(url, { method: "POST", redirect: "manual", body: form, headers: { cookie: jar.header(url), "content-type": "application/x-www-form-urlencoded" } });
			jar.store(url, response);
		}
		const location = response.headers.get("location");
		if (response.status >= 300 && response.status < 400 && location) {
			url = new URL(location, url);
			continue;
		}
		const text = await response.text();
		return { url, status: response.status, body: text ? JSON.parse(text) : null };
	}
	throw new Error(`Too many redirects signing in from ${start}`);
}

function authorizeUrl(provider = "local"): string {
	return `${node.url}/api/v1/auth/oauth/${provider}/authorize`;
}

beforeAll(async () => {
	const [providerPort, latticePort, closedPort] = await Promise.all([freePort(), freePort(), freePort()]);
	issuer = `http://127.0.0.1:${providerPort}`;
	const latticeUrl = `http://127.0.0.1:${latticePort}`;
	providerServer = await startProvider(providerPort, latticeUrl);
	node = await startNode({
		PORT: String(latticePort),
		PUBLIC_URL: latticeUrl,
		TRUST_PROXY: "true",
		RATE_LIMIT_MAX: "100000",
		OIDC_PROVIDERS: "local,manual,down",
		OIDC_LOCAL_ISSUER: issuer,
		OIDC_LOCAL_CLIENT_ID: CLIENT.id,
		OIDC_LOCAL_CLIENT_SECRET: CLIENT.secret,
		OIDC_MANUAL_ISSUER: issuer,
		OIDC_MANUAL_AUTHORIZATION_ENDPOINT: `${issuer}/auth`,
		OIDC_MANUAL_TOKEN_ENDPOINT: `${issuer}/token`,
		OIDC_MANUAL_USERINFO_ENDPOINT: `${issuer}/me`,
		OIDC_MANUAL_CLIENT_ID: MANUAL_CLIENT.id,
		OIDC_MANUAL_CLIENT_SECRET: MANUAL_CLIENT.secret,
		OIDC_MANUAL_TOKEN_AUTH_METHOD: "client_secret_post",
		// Nothing listens there: discovery fails.
		OIDC_DOWN_ISSUER: `http://127.0.0.1:${closedPort}`,
		OIDC_DOWN_CLIENT_ID: "nobody",
		OIDC_DOWN_CLIENT_SECRET: "nothing",
	});
	expect(node.url).toBe(latticeUrl);
	api = apiClient(node.url);
}, 60_000);

afterAll(async () => {
	await node?.stop();
	await new Promise((resolve) => providerServer?.close(resolve));
});

describe("OpenID Connect sign-in", () => {
	it("lists the configured providers", async () => {
		const response = await api.get<Array<{ name: string; authorizeUrl: string }>>("/auth/oauth/providers");
		expect(response.status).toBe(200);
		expect(response.body.map((item) => item.name)).toEqual(["local", "manual", "down"]);
		expect(response.body[0].authorizeUrl).toBe(authorizeUrl("local"));
	});

	it("redirects to the provider with PKCE (S256), state and nonce, and records the attempt", async () => {
		const response = await fetch(authorizeUrl(), { redirect: "manual" });
		expect(response.status).toBe(302);
		expect(response.headers.get("cache-control")).toBe("no-store");
		const location = new URL(response.headers.get("location") ?? "");
		expect(location.origin + location.pathname).toBe(`${issuer}/auth`);
		expect(Object.fromEntries(location.searchParams)).toMatchObject({
			client_id: CLIENT.id,
			response_type: "code",
			redirect_uri: `${node.url}/api/v1/auth/oauth/local/callback`,
			scope: "openid email profile",
			code_challenge_method: "S256",
		});
		for (const param of ["state", "nonce", "code_challenge"]) expect(location.searchParams.get(param)).toMatch(/^[A-Za-z0-9_-]{40,}$/);
		// Only the hash of the state is stored.
		const rows = await sql("SELECT 1 FROM oauth.login_attempts WHERE state_hash = encode(sha256($1::bytea), 'hex') AND expires_at > now() + interval '9 minutes'", [location.searchParams.get("state")]);
		expect(rows).toHaveLength(1);
	});

	it("creates an account and its organization on a first sign-in, and the session works", async () => {
		const account = addAccount("newcomer");
		const result = await browserSignIn(authorizeUrl(), { account });
		expect(result.url.pathname).toBe("/api/v1/auth/oauth/local/callback");
		expect(result.status).toBe(200);
		const session = result.body as OAuthSession;
		expect(session).toMatchObject({ provider: "local", created: true, linked: false, tokenType: "Bearer", expiresIn: 900 });
		expect(session.user).toMatchObject({ email: account.email, fullName: account.name, emailVerified: true });
		expect(session.tenant).toMatchObject({ name: `${account.name}'s organization`, role: "owner" });
		const me = await api.get<{ user: { id: string }; tenant: { id: string }; role: string }>("/auth/me", { token: session.accessToken });
		expect(me.status).toBe(200);
		expect(me.body).toMatchObject({ user: { id: session.user.id }, tenant: { id: session.tenant?.id }, role: "owner" });
		// No password: the account signs in through the provider only.
		expect((await api.post("/auth/login", { email: account.email, password: PASSWORD }, { ip: uniqueIp() })).status).toBe(401);
		const links = await sql("SELECT provider, issuer, user_id FROM oauth.identity_links WHERE subject = $1", [account.sub]);
		expect(links).toEqual([{ provider: "local", issuer, user_id: session.user.id }]);
		const audit = await sql<{ action: string }>("SELECT action FROM audit.audit_log WHERE actor_id = $1 AND action LIKE 'auth.%' ORDER BY created_at", [session.user.id]);
		expect(audit.map((row) => row.action)).toEqual(expect.arrayContaining(["auth.signup", "auth.oauth_linked", "auth.oauth_login"]));
	});

	it("reuses the link on the next sign-in, even after the email changed at the provider", async () => {
		const account = addAccount("returning");
		const first = (await browserSignIn(authorizeUrl(), { account })).body as OAuthSession;
		account.email = uniqueEmail("returning-renamed");
		const second = await browserSignIn(authorizeUrl(), { account });
		expect(second.status).toBe(200);
		expect(second.body).toMatchObject({ created: false, linked: false, user: { id: first.user.id, email: first.user.email }, tenant: { id: first.tenant?.id } });
		const tenants = await api.get<unknown[]>("/tenants", { token: (second.body as OAuthSession).accessToken });
		expect(tenants.body).toHaveLength(1);
	});

	it("links to an existing password account when the provider verified the email", async () => {
		const email = uniqueEmail("existing");
		const registered = await api.post<OAuthSession>("/auth/register", { email, password: PASSWORD, fullName: "Existing Person", organization: "Existing Org" }, { ip: uniqueIp() });
		expect(registered.status).toBe(201);
		expect(registered.body.user.emailVerified).toBe(false);
		const account = addAccount("existing", { email: email.toUpperCase() });
		const result = await browserSignIn(authorizeUrl(), { account });
		expect(result.status).toBe(200);
		expect(result.body).toMatchObject({ linked: true, created: false, user: { id: registered.body.user.id, emailVerified: true }, tenant: { id: registered.body.tenant?.id } });
		// Nobody had proved this email before the provider did: the password someone set and their sessions
		// are gone, so an account registered ahead of the owner can't be kept.
		expect((await api.post("/auth/login", { email, password: PASSWORD }, { ip: uniqueIp() })).status).toBe(401);
		expect((await api.get("/auth/me", { token: registered.body.accessToken })).status).toBe(401);
		expect((await browserSignIn(authorizeUrl(), { account })).body).toMatchObject({ linked: false, created: false, user: { id: registered.body.user.id } });
		const audit = await sql("SELECT 1 FROM audit.audit_log WHERE action = 'auth.oauth_linked' AND actor_id = $1", [registered.body.user.id]);
		expect(audit).toHaveLength(1);
	});

	it("keeps the password of an account whose owner had already verified the email", async () => {
		const email = uniqueEmail("verified");
		const registered = await api.post<OAuthSession>("/auth/register", { email, password: PASSWORD, fullName: "Verified Person" }, { ip: uniqueIp() });
		await sql("UPDATE users.users SET email_verified_at = now() WHERE id = $1", [registered.body.user.id]);
		const result = await browserSignIn(authorizeUrl(), { account: addAccount("verified", { email }) });
		expect(result.body).toMatchObject({ linked: true, user: { id: registered.body.user.id } });
		expect((await api.post("/auth/login", { email, password: PASSWORD }, { ip: uniqueIp() })).status).toBe(200);
		expect((await api.get("/auth/me", { token: registered.body.accessToken })).status).toBe(200);
	});

	it("refuses to link or create an account for an email the provider has not verified", async () => {
		const email = uniqueEmail("victim");
		const registered = await api.post<OAuthSession>("/auth/register", { email, password: PASSWORD, fullName: "Victim" }, { ip: uniqueIp() });
		expect(registered.status).toBe(201);
		const impostor = addAccount("impostor", { email, email_verified: false });
		const refused = await browserSignIn(authorizeUrl(), { account: impostor });
		expect(refused.status).toBe(409);
		expect(refused.body).toMatchObject({ code: "EMAIL_NOT_VERIFIED_BY_PROVIDER" });
		const stranger = addAccount("stranger", { email_verified: false });
		const alsoRefused = await browserSignIn(authorizeUrl(), { account: stranger });
		expect(alsoRefused.status).toBe(409);
		expect(alsoRefused.body).toMatchObject({ code: "EMAIL_NOT_VERIFIED_BY_PROVIDER" });
		expect(await sql("SELECT 1 FROM oauth.identity_links WHERE subject = ANY($1)", [[impostor.sub, stranger.sub]])).toHaveLength(0);
		expect(await sql("SELECT 1 FROM users.users WHERE email = $1", [stranger.email])).toHaveLength(0);
		const audit = await sql("SELECT 1 FROM audit.audit_log WHERE action = 'auth.oauth_login' AND outcome = 'failure' AND data->>'reason' = 'EMAIL_NOT_VERIFIED_BY_PROVIDER'");
		expect(audit.length).toBeGreaterThanOrEqual(2);
	});

	it("refuses suspended accounts with 403", async () => {
		const account = addAccount("suspended");
		const session = (await browserSignIn(authorizeUrl(), { account })).body as OAuthSession;
		await sql("UPDATE users.users SET status = 'suspended' WHERE id = $1", [session.user.id]);
		const refused = await browserSignIn(authorizeUrl(), { account });
		expect(refused.status).toBe(403);
		expect(refused.body).toMatchObject({ code: "ACCOUNT_SUSPENDED" });
	});

	it("answers 400 to a replayed, unknown or other provider's state, and to a missing one", async () => {
		const account = addAccount("replay");
		const result = await browserSignIn(authorizeUrl(), { account });
		expect(result.status).toBe(200);
		const replay = await fetch(result.url);
		expect(replay.status).toBe(400);
		expect(await replay.json()).toMatchObject({ code: "OIDC_INVALID_STATE" });
		const unknown = await api.get<Problem>("/auth/oauth/local/callback?code=abc&state=not-a-state-we-issued");
		expect(unknown.status).toBe(400);
		expect(unknown.body.code).toBe("OIDC_INVALID_STATE");
		const missing = await api.get<Problem>("/auth/oauth/local/callback?code=abc");
		expect(missing.status).toBe(400);
		// A state issued for one provider is worthless at another's callback.
		const start = await fetch(authorizeUrl("local"), { redirect: "manual" });
		const state = new URL(start.headers.get("location") ?? "").searchParams.get("state") ?? "";
		const crossed = await api.get<Problem>(`/auth/oauth/manual/callback?code=abc&state=${encodeURIComponent(state)}`);
		expect(crossed.status).toBe(400);
		expect(crossed.body.code).toBe("OIDC_INVALID_STATE");
	});

	it("answers 400 for an expired attempt", async () => {
		const start = await fetch(authorizeUrl(), { redirect: "manual" });
		const state = new URL(start.headers.get("location") ?? "").searchParams.get("state") ?? "";
		await sql("UPDATE oauth.login_attempts SET expires_at = now() - interval '1 second' WHERE state_hash = encode(sha256($1::bytea), 'hex')", [state]);
		const expired = await api.get<Problem>(`/auth/oauth/local/callback?code=abc&state=${encodeURIComponent(state)}`);
		expect(expired.status).toBe(400);
		expect(expired.body.code).toBe("OIDC_INVALID_STATE");
	});

	it("answers 400 naming the provider's error when the user declines", async () => {
		const result = await browserSignIn(authorizeUrl(), { deny: true });
		expect(result.url.pathname).toBe("/api/v1/auth/oauth/local/callback");
		expect(result.status).toBe(400);
		expect(result.body).toMatchObject({ code: "OIDC_AUTHORIZATION_FAILED" });
		expect((result.body as Problem).detail).toContain("access_denied");
	});

	it("answers 400 when the provider refuses the code", async () => {
		const start = await fetch(authorizeUrl(), { redirect: "manual" });
		const state = new URL(start.headers.get("location") ?? "").searchParams.get("state") ?? "";
		const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0];
		expect(cookie).toBe(`lattice_oidc_state=${state}`);
		const forged = await api.get<Problem>(`/auth/oauth/local/callback?code=forged-code&state=${encodeURIComponent(state)}&iss=${encodeURIComponent(issuer)}`, { headers: { Cookie: cookie } });
		expect(forged.status).toBe(400);
		expect(forged.body.code).toBe("OIDC_CODE_REJECTED");
	});

	it("refuses a callback that reaches a browser which didn't start the sign-in (login CSRF)", async () => {
		const start = await fetch(authorizeUrl(), { redirect: "manual" });
		const state = new URL(start.headers.get("location") ?? "").searchParams.get("state") ?? "";
		const noCookie = await api.get<Problem>(`/auth/oauth/local/callback?code=whatever&state=${encodeURIComponent(state)}`);
		expect(noCookie.status).toBe(400);
		expect(noCookie.body.code).toBe("OIDC_INVALID_STATE");
		const otherCookie = await api.get<Problem>(`/auth/oauth/local/callback?code=whatever&state=${encodeURIComponent(state)}`, { headers: { Cookie: "lattice_oidc_state=someone-elses-state" } });
		expect(otherCookie.status).toBe(400);
	});

	it("works with endpoints configured by hand and client_secret_post", async () => {
		const account = addAccount("manual");
		const result = await browserSignIn(authorizeUrl("manual"), { account });
		expect(result.url.pathname).toBe("/api/v1/auth/oauth/manual/callback");
		expect(result.status).toBe(200);
		expect(result.body).toMatchObject({ provider: "manual", created: true, user: { email: account.email } });
	});

	it("answers 404 for an unknown provider and 503 for an unreachable one", async () => {
		const unknown = await fetch(authorizeUrl("nope"), { redirect: "manual" });
		expect(unknown.status).toBe(404);
		expect(await unknown.json()).toMatchObject({ code: "ENTITY_NOT_FOUND", detail: "Sign-in provider nope not found" });
		expect((await api.get<Problem>("/auth/oauth/nope/callback?code=x&state=y")).status).toBe(404);
		const down = await api.get<Problem>("/auth/oauth/down/authorize");
		expect(down.status).toBe(503);
		expect(down.body.code).toBe("OIDC_PROVIDER_UNAVAILABLE");
	});
});
