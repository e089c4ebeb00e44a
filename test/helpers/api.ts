/**
 * A small REST client for tests: JSON in and out, bearer tokens or API keys, and the caller's address
 * (X-Forwarded-For on a node started with TRUST_PROXY=true) so throttling tests don't share one IP.
 * Every answer is checked against the gateway's OpenAPI document (test/helpers/contract.ts).
 */
import { checkAnswer } from "./contract";

export interface ApiResponse<T = Record<string, unknown>> {
	status: number;
	headers: Headers;
	body: T;
}

export interface CallOptions {
	token?: string;
	apiKey?: string;
	ip?: string;
	headers?: Record<string, string>;
}

export function apiClient(baseUrl: string) {
	async function request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<ApiResponse<T>> {
		const headers: Record<string, string> = { ...options.headers };
		if (body !== undefined) headers["Content-Type"] = "application/json";
		if (options.token) headers.Authorization = `Bearer ${options.token}`;
		if (options.apiKey) headers["X-API-Key"] = options.apiKey;
		if (options.ip) headers["X-Forwarded-For"] = options.ip;
		const response = await fetch(`${baseUrl}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
		const text = await response.text();
		await checkAnswer(baseUrl, method, `${baseUrl}/api/v1${path}`, response.status, response.headers, text);
		return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as T };
	}
	return {
		baseUrl,
		get: <T = Record<string, unknown>>(path: string, options?: CallOptions) => request<T>("GET", path, undefined, options),
		post: <T = Record<string, unknown>>(path: string, body?: unknown, options?: CallOptions) => request<T>("POST", path, body ?? {}, options),
		put: <T = Record<string, unknown>>(path: string, body?: unknown, options?: CallOptions) => request<T>("PUT", path, body ?? {}, options),
		delete: <T = Record<string, unknown>>(path: string, options?: CallOptions) => request<T>("DELETE", path, undefined, options),
	};
}

export type ApiClient = ReturnType<typeof apiClient>;

let counter = 0;
/** A unique address per call, for tests that must not trip each other's per-IP limits. */
export function uniqueIp(): string {
	counter += 1;
	return `198.51.100.${counter % 250}`;
}

export function uniqueEmail(label: string): string {
	counter += 1;
	return `${label}.${Date.now().toString(36)}${counter}@example.com`;
}

/**
 * The bootstrap super admin is created just after a node starts, and the node is ready once it exists: waits
 * for /readyz (so no attempt before counts as a failed login against the account), then polls until it can log in.
 */
export async function loginWhenReady(api: ApiClient, credentials: { email: string; password: string }, attempts = 50): Promise<string> {
	for (let attempt = 0; attempt < 300; attempt += 1) {
		const ready = await fetch(`${api.baseUrl}/readyz`).then(
			(response) => response.status === 200,
			() => false,
		);
		if (ready) break;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	for (let attempt = 0; attempt < attempts; attempt += 1) {
		const login = await api.post<{ accessToken: string }>("/auth/login", credentials, { ip: uniqueIp() });
		if (login.status === 200) return login.body.accessToken;
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
	throw new Error(`${credentials.email} could not log in`);
}
