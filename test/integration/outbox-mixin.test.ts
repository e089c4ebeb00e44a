/**
 * OutboxMixin on the real PostgreSQL and NATS JetStream: a message written in a committed transaction is
 * published (right after the commit) and stamped; a rolled-back one never is; two nodes relaying the same
 * rows at the same moment publish each row once; rows a crash left behind go out with the periodic sweep.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { ServiceBroker, type Service } from "moleculer";
import { createBrokerOptions } from "../../moleculer.config";
import { loadConfig } from "../../lib/config";
import { baseEnv } from "../helpers/nodes";
import { removeStreams } from "../helpers/jetstream";
import { sql } from "../helpers/db";
import { LEDGER_CHANNEL, ledgerService, type LedgerMethods } from "../fixtures/outbox/ledger.service";

const testEnv = inject("testEnv");
const schema = `outbox_${testEnv.runId}`;
const namespace = `${testEnv.namespace}-outbox`;
const brokers: ServiceBroker[] = [];
/** Every message the consumer group received, in order. */
const received: Array<{ entryId: string; title: string }> = [];

type Ledger = Service & LedgerMethods;

function startBroker(options: { intervalMs: number; batchSize?: number; consumer?: boolean }): Promise<{ broker: ServiceBroker; ledger: Ledger }> {
	const broker = new ServiceBroker(createBrokerOptions(loadConfig(baseEnv({ SERVICES: "platform", TRANSPORTER: testEnv.natsUrl, NAMESPACE: namespace }))));
	const ledger = broker.createService(ledgerService(schema, options)) as unknown as Ledger;
	if (options.consumer) {
		broker.createService({
			name: "ledger-consumer",
			channels: {
				[LEDGER_CHANNEL]: {
					group: "ledger-consumer",
					handler(payload: { entryId: string; title: string }) {
						received.push(payload);
					},
				},
			},
		});
	}
	brokers.push(broker);
	return broker.start().then(() => ({ broker, ledger }));
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
	const started = Date.now();
	while (!(await check())) {
		if (Date.now() - started > timeoutMs) throw new Error("Timed out waiting for a condition");
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

const receivedTitles = () => received.map((message) => message.title);

async function unpublished(): Promise<number> {
	const [row] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".outbox WHERE published_at IS NULL`);
	return row.n;
}

/** What a node killed between commit and publish leaves: committed rows nobody has relayed. */
async function leaveRows(titles: string[]): Promise<void> {
	await sql(
		`INSERT INTO "${schema}".outbox (id, channel, payload, created_at, updated_at)
		 SELECT gen_random_uuid(), $1, jsonb_build_object('entryId', gen_random_uuid(), 'title', title), clock_timestamp(), now()
		 FROM unnest($2::text[]) WITH ORDINALITY AS t(title, position) ORDER BY position`,
		[LEDGER_CHANNEL, titles],
	);
}

let first: Ledger;
let second: Ledger;

beforeAll(async () => {
	// The sweep is an hour away on these two: whatever they publish went out because of a kick.
	({ ledger: first } = await startBroker({ intervalMs: 3_600_000, batchSize: 7, consumer: true }));
	({ ledger: second } = await startBroker({ intervalMs: 3_600_000, batchSize: 7 }));
});

afterAll(async () => {
	await Promise.all(brokers.map((broker) => (broker.started ? broker.stop() : undefined)));
	await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
	await removeStreams(namespace);
});

describe("OutboxMixin", () => {
	it("publishes a message written in a committed transaction right after the commit, and stamps it", async () => {
		const id = await first.record("committed");
		await until(() => receivedTitles().includes("committed"));
		expect(received.find((message) => message.title === "committed")).toEqual({ entryId: id, title: "committed" });
		await until(async () => (await unpublished()) === 0);
		const [row] = await sql<{ published_at: Date | null }>(`SELECT published_at FROM "${schema}".outbox WHERE payload->>'entryId' = $1`, [id]);
		expect(row.published_at).toBeInstanceOf(Date);
	});

	it("publishes nothing for a rolled-back transaction", async () => {
		await expect(first.record("rolled back", true)).rejects.toThrow(/rolled back/);
		// Rows go out in commit order: once a later message has arrived, the rolled-back one never will.
		await first.record("after the rollback");
		await until(() => receivedTitles().includes("after the rollback"));
		expect(receivedTitles()).not.toContain("rolled back");
		const left = await sql(`SELECT 1 FROM "${schema}".outbox WHERE payload->>'title' = 'rolled back' UNION ALL SELECT 1 FROM "${schema}".entries WHERE title = 'rolled back'`);
		expect(left).toEqual([]);
	});

	it("publishes each row once when two nodes relay the same rows at the same moment", async () => {
		const titles = Array.from({ length: 60 }, (_, index) => `race ${index}`);
		await leaveRows(titles);
		// Both nodes relay at once, several times over, in batches of 7: SKIP LOCKED splits the rows between them.
		await Promise.all([first.relayOutbox(), second.relayOutbox(), first.relayOutbox(), second.relayOutbox()]);
		await Promise.all([first.relayOutbox(), second.relayOutbox()]);
		expect(await unpublished()).toBe(0);
		await until(() => receivedTitles().filter((title) => title.startsWith("race ")).length >= titles.length);
		await new Promise((resolve) => setTimeout(resolve, 300));
		const raced = receivedTitles().filter((title) => title.startsWith("race "));
		expect(raced.length).toBe(titles.length);
		expect(new Set(raced).size).toBe(titles.length);
	});

	it("deletes published rows once they are past their retention (7 days), and only those", async () => {
		const rows = await sql<{ id: string }>(
			`INSERT INTO "${schema}".outbox (id, channel, payload, published_at, created_at, updated_at)
			 SELECT gen_random_uuid(), $1, jsonb_build_object('title', 'retention ' || age), now() - (age || ' days')::interval, now() - (age || ' days')::interval, now()
			 FROM unnest(ARRAY[8, 6]) AS age RETURNING id`,
			[LEDGER_CHANNEL],
		);
		expect(rows).toHaveLength(2);
		expect(await first.purgeOutbox()).toBeGreaterThanOrEqual(1);
		const left = await sql<{ title: string }>(`SELECT payload->>'title' AS title FROM "${schema}".outbox WHERE payload->>'title' LIKE 'retention %'`);
		expect(left.map((row) => row.title)).toEqual(["retention 6"]);
	});

	it("sweeps rows left by a crash on its own, without a kick", async () => {
		await leaveRows(["left by a crash"]);
		const { broker } = await startBroker({ intervalMs: 100 });
		await until(() => receivedTitles().includes("left by a crash"));
		expect(await unpublished()).toBe(0);
		await broker.stop();
	});

	it("stops relaying when the service stops, and finishes the pass it is in", async () => {
		const { broker, ledger } = await startBroker({ intervalMs: 50 });
		await leaveRows(["before the stop"]);
		const pass = ledger.relayOutbox();
		await broker.stop();
		await pass;
		await until(() => receivedTitles().includes("before the stop"));
		await leaveRows(["after the stop"]);
		await new Promise((resolve) => setTimeout(resolve, 300));
		// The stopped node's timer is gone; the other nodes sweep only hourly, so the row waits.
		expect(receivedTitles()).not.toContain("after the stop");
		expect(await unpublished()).toBe(1);
		await first.relayOutbox();
		await until(() => receivedTitles().includes("after the stop"));
	});
});
