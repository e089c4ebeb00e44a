/**
 * A loop that runs durable jobs kept as database rows: every node running the service claims rows that are
 * due (the service's `claim` method, typically `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`
 * that leases them), and runs each with the service's `run` method, a bounded number at a time.
 *
 *   mixins: [DbMixin({...}), DueJobsMixin({ name: "webhook deliveries", claim: "claimDeliveries", run: "attemptDelivery" })]
 *
 * The rows are the truth: a job is never held only in memory, so a stopped or killed node loses nothing
 * (its leases run out and another node claims the rows). The loop polls every `pollIntervalMs` and runs at
 * once on `kickDueJobs()` (after the service writes a job that is due now). Stopping waits `stopGraceMs`
 * for running jobs, then aborts their signal: `run` should give its lease back when the signal aborts.
 *
 * The service starts and stops the loop itself (`startDueJobs()` in its `started`, `stopDueJobs()` in its
 * `stopped`): Moleculer runs the last mixin's lifecycle handlers first, so a mixin's own `started` could
 * claim before DbMixin has connected and migrated, and its `stopped` could drain after the pool is gone.
 */
import type { ServiceSchema, Service } from "moleculer";
import { RecurringPass } from "../lib/concurrency";

export interface DueJobsOptions {
	/** Names the loop in log lines. */
	name: string;
	/** Method `(limit: number) => Promise<Job[]>` that leases up to `limit` due jobs. */
	claim: string;
	/** Method `(job: Job, signal: AbortSignal) => Promise<void>` that does one job and records its outcome. */
	run: string;
	pollIntervalMs?: number;
	/** Jobs running at once on one node. */
	concurrency?: number;
	stopGraceMs?: number;
}

export interface DueJobsMethods {
	/** Claims and starts due jobs now instead of at the next poll. */
	kickDueJobs(): void;
	/** Call from the service's own `started`, once its database is up. */
	startDueJobs(): void;
	/** Call from the service's own `stopped`, while its database is still up. */
	stopDueJobs(): Promise<void>;
}

interface LoopState {
	/** The claiming passes: on a kick, and every pollIntervalMs. */
	loop: RecurringPass;
	/** Jobs started and not yet finished, by the controller that aborts them. */
	running: Map<AbortController, Promise<void>>;
}

type DueJobsService = Service & DueJobsMethods & { dueJobs: LoopState } & Record<string, unknown>;

export function DueJobsMixin(options: DueJobsOptions): Partial<ServiceSchema> {
	const pollIntervalMs = options.pollIntervalMs ?? 1000;
	const concurrency = options.concurrency ?? 10;
	const stopGraceMs = options.stopGraceMs ?? 2000;

	/** Claims while there is room and jobs come back; each job runs on its own, the pass doesn't wait for it. */
	async function claimAndStart(service: DueJobsService): Promise<void> {
		const state = service.dueJobs;
		const claim = service[options.claim] as (limit: number) => Promise<unknown[]>;
		const run = service[options.run] as (job: unknown, signal: AbortSignal) => Promise<void>;
		while (!state.loop.stopped) {
			const room = concurrency - state.running.size;
			if (room <= 0) return;
			const jobs = await claim.call(service, room);
			for (const job of jobs) {
				const controller = new AbortController();
				const done = (async () => {
					try {
						await run.call(service, job, controller.signal);
					} catch (err) {
						service.logger.warn(`${options.name}: a job failed and will come back when its lease runs out:`, (err as Error).message);
					} finally {
						state.running.delete(controller);
						// A slot freed up while work may be waiting.
						if (!state.loop.stopped) service.kickDueJobs();
					}
				})();
				state.running.set(controller, done);
			}
			if (jobs.length < room) return;
		}
	}

	return {
		methods: {
			kickDueJobs(this: DueJobsService): void {
				void this.dueJobs.loop.run();
			},

			startDueJobs(this: DueJobsService): void {
				this.dueJobs.loop.start();
			},

			async stopDueJobs(this: DueJobsService): Promise<void> {
				const state = this.dueJobs;
				await state.loop.stop();
				const running = [...state.running.values()];
				if (running.length === 0) return;
				let graceTimer: NodeJS.Timeout | undefined;
				const grace = new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, stopGraceMs)));
				await Promise.race([Promise.allSettled(running), grace]);
				clearTimeout(graceTimer);
				for (const controller of state.running.keys()) controller.abort();
				await Promise.allSettled(running);
			},
		},

		created() {
			const service = this as unknown as DueJobsService;
			service.dueJobs = {
				loop: new RecurringPass({
					pass: () => claimAndStart(service),
					intervalMs: pollIntervalMs,
					onError: (err) => service.logger.warn(`${options.name}: claiming due jobs failed, will retry:`, (err as Error).message),
				}),
				running: new Map(),
			};
		},
	};
}
