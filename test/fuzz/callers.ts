/**
 * The four kinds of caller the fuzz suite sends every operation as, made through the API itself: nobody,
 * an ordinary signed-in user with a tenant of their own, a tenant owner's API key with scopes ["*"], and
 * the bootstrap super admin. Each owns a few real entities (a product, an order, a payment, a webhook
 * endpoint, a file), so mutations reach the handlers behind the "not found" check too.
 */
import { apiClient, loginWhenReady, uniqueEmail, uniqueIp, type ApiClient } from "../helpers/api";
import type { CallerKind, OwnedIds } from "./cases";

export const FUZZ_PASSWORD = "correct horse battery";

export interface Callers {
	/** Credentials headers of each kind (none for anonymous). */
	headers: Record<CallerKind, Record<string, string>>;
	owned: OwnedIds;
	admin: { email: string; password: string };
	/** The ordinary user's email, to sign in again after a round. */
	userEmail: string;
}

async function ok<T>(label: string, promise: Promise<{ status: number; body: T }>): Promise<T> {
	const response = await promise;
	if (response.status >= 300) throw new Error(`Fuzz set-up: ${label} answered ${response.status} ${JSON.stringify(response.body)}`);
	return response.body;
}

async function registerOwner(api: ApiClient, label: string): Promise<{ token: string; userId: string; tenantId: string; email: string }> {
	const email = uniqueEmail(`fuzz-${label}`);
	const body = await ok("register", api.post<{ accessToken: string; user: { id: string }; tenant: { id: string } }>("/auth/register", { email, password: FUZZ_PASSWORD, fullName: `Fuzz ${label}`, organization: `Fuzz ${label} Org` }, { ip: uniqueIp() }));
	return { token: body.accessToken, userId: body.user.id, tenantId: body.tenant.id, email };
}

async function uploadFile(baseUrl: string, headers: Record<string, string>): Promise<string> {
	const form = new FormData();
	form.append("file", new Blob(["hello fuzz\n"], { type: "text/plain" }), "fuzz.txt");
	const response = await fetch(`${baseUrl}/api/v1/files`, { method: "POST", headers: { ...headers, "X-Forwarded-For": uniqueIp() }, body: form });
	const body = (await response.json()) as { id: string };
	if (response.status !== 201) throw new Error(`Fuzz set-up: upload answered ${response.status} ${JSON.stringify(body)}`);
	return body.id;
}

/** Makes the callers and their entities on a fresh node (the bootstrap admin must exist or be about to). */
export async function provisionCallers(baseUrl: string, admin: { email: string; password: string }): Promise<Callers> {
	const api = apiClient(baseUrl);
	const adminToken = await loginWhenReady(api, admin);
	const adminMe = await ok("me", api.get<{ user: { id: string } }>("/auth/me", { token: adminToken }));
	const product = await ok(
		"product",
		api.post<{ id: string }>("/products", { name: "Fuzz product", description: "for the fuzz suite", category: "tools", priceAmount: 1500, currency: "USD", status: "active" }, { token: adminToken }),
	);

	const user = await registerOwner(api, "user");
	const order = await ok("order", api.post<{ id: string }>("/orders", { items: [{ productId: product.id, quantity: 1 }] }, { token: user.token }));
	const payment = await ok("payment", api.post<{ id: string }>("/payments", { orderId: order.id, method: "bank_transfer" }, { token: user.token }));
	const secondOrder = await ok("order", api.post<{ id: string }>("/orders", { items: [{ productId: product.id, quantity: 2 }] }, { token: user.token }));
	const userEndpoint = await ok("endpoint", api.post<{ id: string }>("/webhook-endpoints", { url: "http://127.0.0.1:9/user" }, { token: user.token }));
	const userFile = await uploadFile(baseUrl, { Authorization: `Bearer ${user.token}` });

	const owner = await registerOwner(api, "owner");
	const key = await ok("api key", api.post<{ id: string; key: string }>("/api-keys", { name: "fuzz", scopes: ["*"] }, { token: owner.token }));
	const keyEndpoint = await ok("endpoint", api.post<{ id: string }>("/webhook-endpoints", { url: "http://127.0.0.1:9/key" }, { apiKey: key.key }));
	const keyFile = await uploadFile(baseUrl, { "X-API-Key": key.key });

	return {
		admin,
		userEmail: user.email,
		headers: {
			anonymous: {},
			user: { Authorization: `Bearer ${user.token}` },
			apiKey: { "X-API-Key": key.key },
			superAdmin: { Authorization: `Bearer ${adminToken}` },
		},
		owned: {
			user: { users: user.userId, tenants: user.tenantId, orders: order.id, payments: payment.id, "webhook-endpoints": userEndpoint.id, files: userFile, products: product.id },
			apiKey: { tenants: owner.tenantId, orders: secondOrder.id, "webhook-endpoints": keyEndpoint.id, files: keyFile, products: product.id },
			superAdmin: { users: adminMe.user.id, products: product.id, orders: secondOrder.id, payments: payment.id },
		},
	};
}

/** New tokens for the signed-in callers (after a round whose late operations logged out or changed them). */
export async function refreshCallers(baseUrl: string, callers: Callers): Promise<void> {
	const api = apiClient(baseUrl);
	const adminToken = await loginWhenReady(api, callers.admin, 25).catch(() => undefined);
	if (adminToken) callers.headers.superAdmin = { Authorization: `Bearer ${adminToken}` };
	// A fuzzed password change may have succeeded with the baseline body's values.
	for (const password of [FUZZ_PASSWORD, "another horse battery"]) {
		const login = await api.post<{ accessToken: string }>("/auth/login", { email: callers.userEmail, password }, { ip: uniqueIp() });
		if (login.status === 200) {
			callers.headers.user = { Authorization: `Bearer ${login.body.accessToken}` };
			return;
		}
	}
}
