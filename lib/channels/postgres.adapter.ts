/**
 * A @moleculer/channels adapter that keeps messages in PostgreSQL, for nodes without NATS (the single
 * embedded process). Same contract as the package's NATS JetStream adapter: at-least-once delivery,
 * every consumer group gets each message, the nodes of one group compete for it, failed messages are
 * retried (with backoff) up to `maxRetries` and then dead-lettered or dropped.
 *
 * Design
 * - One row per (message, group) in channels.messages. Publishing fans a message out to every group in
 *   channels.subscriptions (each (channel, group) that ever subscribed: durable, like a JetStream durable
 *   consumer, so a group whose nodes are all down still gets its rows). A message published to a channel
 *   nobody ever subscribed to is kept with group_name NULL and copied to each group when it first
 *   subscribes (kept `unclaimedRetentionMs`), so start-up order between producers and consumers doesn't
 *   lose work. An advisory lock per channel (shared for publishers, exclusive for a first subscription)
 *   keeps the two from racing.
 * - Delivery is a lease: a consumer claims rows with `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
 *   LOCKED)`, setting `locked_until` and counting the attempt; competing nodes of a group skip each
 *   other's rows. No transaction stays open while a handler runs; the lease is extended while it runs,
 *   and a node that dies simply stops extending it, so another node takes the row once it lapses.
 * - A row is deleted only after its handler resolves. On failure it becomes available again after
 *   `retryDelayMs * 2^(attempt-1)` (capped), or, past `maxRetries`, is moved to the dead-letter channel.
 * - Consumers poll every `pollIntervalMs`; a LISTEN/NOTIFY on `lattice_channels` wakes them at once
 *   when something is published.
 */
import path from "node:path";
import { Adapters } from "@moleculer/channels";
import type { Channel } from "@moleculer/channels/types/src";
import { Client, Pool, type PoolClient } from "pg";
import { acquireSequelize, migrateSchema, releaseSequelize } from "../database";
import { PROJECT_ROOT } from "../config";

const SCHEMA = "channels";
const NOTIFY_CHANNEL = "lattice_channels";
const MIGRATIONS_DIR = path.join(PROJECT_ROOT, "models", "platform", "channels", "migrations");

const HEADER_REDELIVERED_COUNT = "x-redelivered-count";
const HEADER_ORIGINAL_CHANNEL = "x-original-channel";
const HEADER_ORIGINAL_GROUP = "x-original-group";
const METRIC_ERRORS = "moleculer.channels.messages.errors.total";
const METRIC_RETRIES = "moleculer.channels.messages.retries.total";
const METRIC_DEAD_LETTERING = "moleculer.channels.messages.deadLettering.total";

export interface PostgresAdapterOptions {
	/** postgres://…; defaults to the node's database (broker.options.platform.databaseUrl) at connect time. */
	url?: string;
	prefix?: string;
	consumerName?: string;
	serializer?: string;
	maxRetries?: number;
	maxInFlight?: number;
	deadLettering?: { enabled?: boolean; queueName?: string };
	postgres?: {
		/** How often an idle consumer looks for work when no NOTIFY arrives. */
		pollIntervalMs?: number;
		/** How long a claimed message stays invisible to other consumers without being extended. */
		lockMs?: number;
		/** First retry delay; doubles each attempt up to maxRetryDelayMs. */
		retryDelayMs?: number;
		maxRetryDelayMs?: number;
		/** How long messages published before any group subscribed are kept for late subscribers. */
		unclaimedRetentionMs?: number;
		/** Connections of the adapter's own pool. */
		poolSize?: number;
	};
}

/** The part of the package's Channel definition this adapter reads. */
export interface PostgresChannel {
	id: string;
	name: string;
	group: string;
	unsubscribing: boolean;
	maxInFlight?: number | null;
	maxRetries?: number | null;
	deadLettering?: { enabled?: boolean; queueName?: string } | null;
	handler: (payload: unknown, raw: PostgresRawMessage) => Promise<unknown>;
}

/** What a handler receives as its second argument. */
export interface PostgresRawMessage {
	id: string;
	channel: string;
	group: string;
	attempts: number;
	headers: Record<string, string>;
	createdAt: Date;
}

interface MessageRow {
	id: string;
	channel: string;
	group_name: string;
	payload: Buffer;
	headers: Record<string, string> | null;
	attempts: number;
	created_at: Date;
}

interface Consumer {
	chan: PostgresChannel;
	timer?: NodeJS.Timeout;
	polling: boolean;
	pollAgain: boolean;
	active: Set<string>;
	idle?: () => void;
}

type Defaults = Required<NonNullable<PostgresAdapterOptions["postgres"]>>;

const DEFAULTS: Defaults = {
	pollIntervalMs: 1_000,
	lockMs: 30_000,
	retryDelayMs: 1_000,
	maxRetryDelayMs: 60_000,
	unclaimedRetentionMs: 7 * 24 * 3600_000,
	poolSize: 5,
};

export class PostgresAdapter extends Adapters.Base {
	declare opts: InstanceType<typeof Adapters.Base>["opts"] & { url?: string; postgres: Defaults };
	private pool?: Pool;
	private listener?: Client;
	private url?: string;
	private stopping = false;
	private readonly consumers = new Map<string, Consumer>();
	private leaseTimer?: NodeJS.Timeout;

	constructor(options: PostgresAdapterOptions = {}) {
		super(options);
		this.opts.postgres = { ...DEFAULTS, ...(options.postgres ?? {}) };
	}

	override async connect(): Promise<void> {
		const url = this.opts.url ?? this.broker.options.platform?.databaseUrl;
		if (!url) throw new Error("The PostgreSQL channels adapter needs a database URL (broker.options.platform.databaseUrl)");
		this.url = url;
		this.stopping = false;
		const sequelize = acquireSequelize(url);
		try {
			await migrateSchema({ url, sequelize, schema: SCHEMA, migrationsDir: MIGRATIONS_DIR, logger: this.logger });
		} finally {
			await releaseSequelize(url);
		}
		this.pool = new Pool({ connectionString: url, max: this.opts.postgres.poolSize });
		this.pool.on("error", (err) => this.logger.warn("Channels pool error", err.message));
		await this.pool.query(`DELETE FROM ${SCHEMA}.messages WHERE group_name IS NULL AND created_at < now() - make_interval(secs => $1)`, [
			this.opts.postgres.unclaimedRetentionMs / 1000,
		]);
		await this.listen(url);
		// Extends the lease of every message a handler of this node is still working on.
		const every = Math.max(100, Math.floor(this.opts.postgres.lockMs / 3));
		this.leaseTimer = setInterval(() => void this.extendLeases(), every);
		this.leaseTimer.unref();
		this.connected = true;
	}

	/** LISTEN is an optimisation: if it fails, consumers still poll. */
	private async listen(url: string): Promise<void> {
		const listener = new Client({ connectionString: url });
		listener.on("error", (err) => this.logger.warn("Channels LISTEN connection error", err.message));
		listener.on("notification", (notification) => {
			for (const consumer of this.consumers.values()) {
				if (consumer.chan.name === notification.payload) this.poll(consumer);
			}
		});
		try {
			await listener.connect();
			await listener.query(`LISTEN ${NOTIFY_CHANNEL}`);
			this.listener = listener;
		} catch (err) {
			this.logger.warn("Channels LISTEN unavailable, polling only", (err as Error).message);
			await listener.end().catch(() => undefined);
		}
	}

	override async disconnect(): Promise<void> {
		this.stopping = true;
		for (const consumer of [...this.consumers.values()]) await this.unsubscribe(consumer.chan as unknown as Channel);
		clearInterval(this.leaseTimer);
		this.leaseTimer = undefined;
		await this.listener?.end().catch(() => undefined);
		this.listener = undefined;
		await this.pool?.end().catch(() => undefined);
		this.pool = undefined;
		this.connected = false;
	}

	override async subscribe(channel: Channel): Promise<void> {
		const chan = channel as unknown as PostgresChannel;
		if (chan.maxInFlight == null) chan.maxInFlight = this.opts.maxInFlight;
		if (chan.maxRetries == null) chan.maxRetries = this.opts.maxRetries;
		chan.deadLettering = { ...this.opts.deadLettering, ...(chan.deadLettering ?? {}) };
		if (chan.deadLettering.enabled && chan.deadLettering.queueName) {
			chan.deadLettering.queueName = this.addPrefixTopic(chan.deadLettering.queueName);
		}
		await this.transaction(async (client) => {
			await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`lattice:channels:${chan.name}`]);
			const inserted = await client.query(
				`INSERT INTO ${SCHEMA}.subscriptions (channel, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING channel`,
				[chan.name, chan.group],
			);
			if (inserted.rowCount) {
				// A new group: it gets what was published before anyone subscribed.
				await client.query(
					`INSERT INTO ${SCHEMA}.messages (channel, group_name, payload, headers, created_at)
					 SELECT channel, $2, payload, headers, created_at FROM ${SCHEMA}.messages WHERE channel = $1 AND group_name IS NULL ORDER BY id`,
					[chan.name, chan.group],
				);
			}
		});
		this.initChannelActiveMessages(chan.id);
		const consumer: Consumer = { chan, polling: false, pollAgain: false, active: new Set() };
		this.consumers.set(chan.id, consumer);
		this.logger.debug(`Subscribed to '${chan.name}' with group '${chan.group}'`);
		this.poll(consumer);
	}

	override async unsubscribe(channel: Channel): Promise<void> {
		const chan = channel as unknown as PostgresChannel;
		const consumer = this.consumers.get(chan.id);
		if (!consumer) return;
		chan.unsubscribing = true;
		clearTimeout(consumer.timer);
		// Let handlers in flight finish (and acknowledge) before the pool goes away.
		if (consumer.active.size > 0 || consumer.polling) {
			await new Promise<void>((resolve) => (consumer.idle = resolve));
		}
		this.consumers.delete(chan.id);
		this.stopChannelActiveMessages(chan.id);
	}

	override async publish(channelName: string, payload: unknown, opts: { raw?: boolean; headers?: Record<string, string> } = {}): Promise<void> {
		if (!this.connected || !this.pool) throw new Error("The PostgreSQL channels adapter is not connected");
		const data = opts.raw ? (payload as Buffer) : this.serializer.serialize(payload as Record<string, unknown>);
		await this.insertMessage(channelName, data, opts.headers ?? null);
	}

	private async insertMessage(channelName: string, data: Buffer, headers: Record<string, string> | null, client?: PoolClient): Promise<void> {
		const run = async (db: PoolClient) => {
			await db.query("SELECT pg_advisory_xact_lock_shared(hashtext($1))", [`lattice:channels:${channelName}`]);
			const fanned = await db.query(
				`INSERT INTO ${SCHEMA}.messages (channel, group_name, payload, headers)
				 SELECT channel, group_name, $2, $3 FROM ${SCHEMA}.subscriptions WHERE channel = $1`,
				[channelName, data, headers],
			);
			if (!fanned.rowCount) {
				await db.query(`INSERT INTO ${SCHEMA}.messages (channel, group_name, payload, headers) VALUES ($1, NULL, $2, $3)`, [channelName, data, headers]);
			}
			await db.query("SELECT pg_notify($1, $2)", [NOTIFY_CHANNEL, channelName]);
		};
		if (client) await run(client);
		else await this.transaction(run);
	}

	private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
		if (!this.pool) throw new Error("The PostgreSQL channels adapter is not connected");
		const client = await this.pool.connect();
		try {
			await client.query("BEGIN");
			const result = await work(client);
			await client.query("COMMIT");
			return result;
		} catch (err) {
			await client.query("ROLLBACK").catch(() => undefined);
			throw err;
		} finally {
			client.release();
		}
	}

	/** Claims what this consumer may take now and hands each message to the handler. */
	private poll(consumer: Consumer): void {
		if (consumer.chan.unsubscribing || this.stopping) return;
		if (consumer.polling) {
			consumer.pollAgain = true;
			return;
		}
		clearTimeout(consumer.timer);
		consumer.polling = true;
		void this.claim(consumer)
			.catch((err: Error) => {
				if (!this.stopping) this.logger.warn(`Polling '${consumer.chan.name}' failed`, err.message);
				return 0;
			})
			.then((claimed) => {
				consumer.polling = false;
				this.settle(consumer);
				if (consumer.chan.unsubscribing || this.stopping) return;
				const full = claimed > 0 && consumer.active.size < (consumer.chan.maxInFlight ?? 1);
				if (consumer.pollAgain || full) {
					consumer.pollAgain = false;
					this.poll(consumer);
				} else {
					this.schedule(consumer, this.opts.postgres.pollIntervalMs);
				}
			});
	}

	private schedule(consumer: Consumer, delayMs: number): void {
		if (consumer.chan.unsubscribing || this.stopping) return;
		clearTimeout(consumer.timer);
		consumer.timer = setTimeout(() => this.poll(consumer), delayMs);
		consumer.timer.unref();
	}

	private async claim(consumer: Consumer): Promise<number> {
		const { chan } = consumer;
		const room = (chan.maxInFlight ?? 1) - consumer.active.size;
		if (room <= 0 || !this.pool) return 0;
		const { rows } = await this.pool.query<MessageRow>(
			`UPDATE ${SCHEMA}.messages SET locked_until = now() + make_interval(secs => $4), attempts = attempts + 1
			 WHERE id IN (
				SELECT id FROM ${SCHEMA}.messages
				WHERE channel = $1 AND group_name = $2 AND available_at <= now() AND (locked_until IS NULL OR locked_until < now())
				ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
			 )
			 RETURNING id, channel, group_name, payload, headers, attempts, created_at`,
			[chan.name, chan.group, room, this.opts.postgres.lockMs / 1000],
		);
		rows.sort((a, b) => Number(a.id) - Number(b.id));
		for (const row of rows) {
			consumer.active.add(row.id);
			this.addChannelActiveMessages(chan.id, [row.id]);
			void this.deliver(consumer, row);
		}
		return rows.length;
	}

	private async deliver(consumer: Consumer, row: MessageRow): Promise<void> {
		const { chan } = consumer;
		const raw: PostgresRawMessage = {
			id: row.id,
			channel: row.channel,
			group: row.group_name,
			attempts: row.attempts,
			headers: { ...(row.headers ?? {}), [HEADER_REDELIVERED_COUNT]: String(row.attempts - 1) },
			createdAt: row.created_at,
		};
		try {
			let payload: unknown;
			try {
				payload = this.serializer.deserialize(row.payload);
			} catch (err) {
				// A message nobody can read would fail forever: treat it as a handler failure.
				throw new Error(`Cannot deserialize message ${row.id}: ${(err as Error).message}`);
			}
			await chan.handler(payload, raw);
			await this.pool?.query(`DELETE FROM ${SCHEMA}.messages WHERE id = $1`, [row.id]);
		} catch (err) {
			await this.failed(chan, row, err as Error).catch((failure: Error) =>
				// The lease lapses and the message comes back: at-least-once still holds.
				this.logger.error(`Could not record the failure of message ${row.id} on '${chan.name}'`, failure.message),
			);
		} finally {
			consumer.active.delete(row.id);
			this.removeChannelActiveMessages(chan.id, [row.id]);
			this.settle(consumer);
			if (!chan.unsubscribing && !this.stopping) this.poll(consumer);
		}
	}

	private async failed(chan: PostgresChannel, row: MessageRow, error: Error): Promise<void> {
		this.metricsIncrement(METRIC_ERRORS, chan as never);
		const maxRetries = chan.maxRetries ?? 0;
		if (row.attempts <= maxRetries) {
			this.metricsIncrement(METRIC_RETRIES, chan as never);
			const { retryDelayMs, maxRetryDelayMs } = this.opts.postgres;
			const delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** (row.attempts - 1));
			this.logger.debug(`Message ${row.id} on '${chan.name}' failed (attempt ${row.attempts}), retrying in ${delay} ms`, error.message);
			await this.pool?.query(
				`UPDATE ${SCHEMA}.messages SET locked_until = NULL, available_at = now() + make_interval(secs => $2) WHERE id = $1`,
				[row.id, delay / 1000],
			);
			const consumer = this.consumers.get(chan.id);
			if (consumer) this.schedule(consumer, Math.min(delay, this.opts.postgres.pollIntervalMs));
			return;
		}
		const deadLetter = chan.deadLettering?.enabled ? chan.deadLettering.queueName : undefined;
		await this.transaction(async (client) => {
			if (deadLetter) {
				const headers = { ...(row.headers ?? {}), [HEADER_ORIGINAL_CHANNEL]: chan.name, [HEADER_ORIGINAL_GROUP]: chan.group };
				await this.insertMessage(deadLetter, row.payload, headers, client);
			}
			await client.query(`DELETE FROM ${SCHEMA}.messages WHERE id = $1`, [row.id]);
		});
		if (deadLetter) {
			this.metricsIncrement(METRIC_DEAD_LETTERING, chan as never);
			this.logger.warn(`Message ${row.id} failed ${row.attempts} times, moved to '${deadLetter}'`, error.message);
		} else {
			this.logger.error(`Message ${row.id} on '${chan.name}' failed ${row.attempts} times, dropped`, error.message);
		}
	}

	private settle(consumer: Consumer): void {
		if (consumer.idle && consumer.active.size === 0 && !consumer.polling) {
			const idle = consumer.idle;
			consumer.idle = undefined;
			idle();
		}
	}

	private async extendLeases(): Promise<void> {
		const ids = [...this.consumers.values()].flatMap((consumer) => [...consumer.active]);
		if (ids.length === 0 || !this.pool) return;
		await this.pool
			.query(`UPDATE ${SCHEMA}.messages SET locked_until = now() + make_interval(secs => $2) WHERE id = ANY($1::bigint[])`, [
				ids,
				this.opts.postgres.lockMs / 1000,
			])
			.catch((err: Error) => this.logger.warn("Could not extend channel message leases", err.message));
	}

	override parseMessageHeaders(raw: PostgresRawMessage): Record<string, string> {
		return raw?.headers ?? {};
	}

	/** Where this adapter stores messages (for tests and operators). */
	get databaseUrl(): string | undefined {
		return this.url;
	}
}
