/** Waiting for the payment saga: polls an order through the gateway until it reaches a status. */
import type { ApiClient } from "./api";

export async function waitForOrderStatus<T extends { status: string }>(
	api: ApiClient,
	token: string,
	orderId: string,
	status: string,
	timeoutMs: number,
	explain: () => string = () => "",
): Promise<T> {
	const started = Date.now();
	let last: unknown;
	while (Date.now() - started < timeoutMs) {
		const response = await api.get<T>(`/orders/${orderId}`, { token });
		last = response.body;
		if (response.status === 200 && response.body.status === status) return response.body;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	throw new Error(`Order ${orderId} did not become ${status} within ${timeoutMs} ms (last: ${JSON.stringify(last)})${explain()}`);
}
