/** The usage service's per-node caches: shared fetches, refresh in the background, and forgetting on announcements. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MetricRegistry, TenantPeriods } from "../../services/billing/usage-caches";
import type { CurrentPlan, PublicMetric } from "../../services/billing/contracts";

const metric = (code: string): PublicMetric => ({ code, name: code, description: "", aggregation: "count", field: null, createdAt: "", updatedAt: "" });

function deferred<T>() {
	let resolve!: (value: T) => void;
	let reject!: (err: unknown) => void;
	const promise = new Promise<T>((ok, fail) => {
		resolve = ok;
		reject = fail;
	});
	return { promise, resolve, reject };
}

const plan = (now: number, periodStart = 0): CurrentPlan => ({ plan: {} as CurrentPlan["plan"], periodStart: new Date(periodStart).toISOString(), periodEnd: new Date(now + 1e9).toISOString(), now: new Date(now).toISOString() });

afterEach(() => vi.useRealTimers());

describe("MetricRegistry", () => {
	it("fetches once for concurrent callers, then answers synchronously", async () => {
		const fetch = vi.fn(async () => [metric("a")]);
		const registry = new MetricRegistry(fetch, () => undefined);
		const [first, second] = await Promise.all([registry.current(), registry.current()]);
		expect(first).toBe(second);
		expect(fetch).toHaveBeenCalledTimes(1);
		expect(registry.current()).toBeInstanceOf(Map);
		expect((registry.current() as Map<string, unknown>).has("a")).toBe(true);
	});

	it("refreshes in the background after its TTL, answering the cached registry meanwhile", async () => {
		vi.useFakeTimers();
		const answers = [[metric("a")], [metric("a"), metric("b")]];
		const fetch = vi.fn(async () => answers.shift() ?? [metric("a"), metric("b")]);
		const registry = new MetricRegistry(fetch, () => undefined, 1_000, 10_000);
		await registry.current();
		vi.advanceTimersByTime(1_500);
		const stale = registry.current();
		expect(stale).toBeInstanceOf(Map);
		expect((stale as Map<string, unknown>).has("b")).toBe(false);
		await vi.waitFor(() => expect((registry.current() as Map<string, unknown>).has("b")).toBe(true));
		expect(fetch).toHaveBeenCalledTimes(2);
		// Past the stale limit nothing is answered without a fetch.
		vi.advanceTimersByTime(20_000);
		const refetched = registry.current();
		expect(refetched).toBeInstanceOf(Promise);
		await refetched;
	});

	it("fetches again for an unknown code at most once per interval, and drops everything on clear", async () => {
		vi.useFakeTimers();
		const fetch = vi.fn(async () => [metric("a")]);
		const registry = new MetricRegistry(fetch, () => undefined, 60_000, 600_000, 1_000);
		await registry.knowing(["a"]);
		expect(fetch).toHaveBeenCalledTimes(1);
		await registry.knowing(["zz"]);
		await registry.knowing(["zz"]);
		expect(fetch).toHaveBeenCalledTimes(2);
		vi.advanceTimersByTime(1_001);
		await registry.knowing(["zz"]);
		expect(fetch).toHaveBeenCalledTimes(3);
		registry.clear();
		expect(registry.current()).toBeInstanceOf(Promise);
	});

	it("doesn't keep an answer fetched before a clear", async () => {
		const pending = deferred<PublicMetric[]>();
		const fetch = vi.fn().mockReturnValueOnce(pending.promise).mockResolvedValue([metric("new")]);
		const registry = new MetricRegistry(fetch, () => undefined);
		const old = registry.current();
		registry.clear();
		pending.resolve([metric("old")]);
		await old;
		const fresh = await registry.current();
		expect(fresh.has("new")).toBe(true);
	});
});

describe("TenantPeriods", () => {
	it("shares a fetch per tenant and keeps the billing clock's offset", async () => {
		const fetch = vi.fn(async () => plan(Date.now() + 86_400_000));
		const periods = new TenantPeriods(fetch, () => undefined);
		const [a, b] = await Promise.all([periods.of("t1"), periods.of("t1")]);
		expect(a).toBe(b);
		expect(fetch).toHaveBeenCalledTimes(1);
		expect(a.offsetMs).toBeGreaterThan(86_399_000);
		expect(periods.of("t1")).toBe(a);
	});

	it("answers the cached period while refreshing after its TTL; forget makes the next call wait for a fresh one", async () => {
		vi.useFakeTimers();
		let start = 0;
		const fetch = vi.fn(async () => plan(Date.now(), start));
		const periods = new TenantPeriods(fetch, () => undefined, 1_000, 30_000);
		const first = await periods.of("t1");
		vi.advanceTimersByTime(1_200);
		start = 5_000;
		expect(periods.of("t1")).toBe(first);
		await vi.waitFor(() => expect((periods.of("t1") as { periodStartMs: number }).periodStartMs).toBe(5_000));
		start = 9_000;
		periods.forget("t1");
		const pending = periods.of("t1");
		expect(pending).toBeInstanceOf(Promise);
		expect((await pending).periodStartMs).toBe(9_000);
	});

	it("doesn't keep an answer that was being fetched when the tenant was forgotten", async () => {
		const pending = deferred<CurrentPlan>();
		const fetch = vi.fn().mockReturnValueOnce(pending.promise).mockResolvedValue(plan(Date.now(), 7_000));
		const periods = new TenantPeriods(fetch, () => undefined);
		const old = periods.of("t1");
		periods.forget("t1");
		pending.resolve(plan(Date.now(), 1_000));
		expect((await old).periodStartMs).toBe(1_000);
		expect((await periods.of("t1")).periodStartMs).toBe(7_000);
	});

	it("reports a failed background refresh and keeps answering", async () => {
		vi.useFakeTimers();
		const failures: unknown[] = [];
		const fetch = vi.fn().mockResolvedValueOnce(plan(Date.now())).mockRejectedValue(new Error("billing is down"));
		const periods = new TenantPeriods(fetch, (err) => failures.push(err), 1_000, 30_000);
		const first = await periods.of("t1");
		vi.advanceTimersByTime(2_000);
		expect(periods.of("t1")).toBe(first);
		await vi.waitFor(() => expect(failures).toHaveLength(1));
		await expect(async () => {
			vi.advanceTimersByTime(40_000);
			await periods.of("t1");
		}).rejects.toThrow("billing is down");
	});
});
