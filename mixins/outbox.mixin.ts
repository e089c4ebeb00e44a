/**
 * Transactional outbox: how a service announces a change durably. The change and an outbox row naming a
 * durable channel commit in ONE transaction (`writeOutbox`), so there is never a change without its
 * message or a message without its change; a relay then publishes unpublished rows with
 * `broker.sendToChannel` and only then stamps them `published_at`. A node killed between commit and
 * publish loses nothing: whichever node relays next publishes the row.
 *
 *   mixins: [DbMixin({ ..., extraModels: [outboxModel()] }), OutboxMixin({ name: "Payments outbox" })]
 *   a migration of the service's schema: await createOutboxTable(context)
 *
 * The table lives in the service's own schema (database per service), like the rest of its data. Every
 * node running the service relays: right after a transaction with outbox rows commits, and every
 * `intervalMs` for rows a crash or a failed publish left behind. Rows go oldest first, in batches locked
 * with FOR UPDATE SKIP LOCKED, so two nodes never send the same row at once; a failed publish ends the
 * pass (later rows wait, so a channel's order holds) and the next pass tries again. A crash after
 * publishing and before the stamp commits sends a row twice: delivery is at least once, and consumers are
 * idempotent.
 *
 * The service starts and stops the relay itself (`startOutboxRelay()` in its `started`, `await
 * stopOutboxRelay()` in its `stopped`), for the reason DueJobsMixin gives: Moleculer runs the last mixin's
 * lifecycle handlers first, so a mixin's own `started` could relay before DbMixin has migrated, and its
 * `stopped` could still be relaying after the pool is gone.
 */
import type { ServiceSchema } from "moleculer";
import { DataTypes, Op, type Transaction } from "sequelize";
import type { MigrationContext } from "../lib/database";
import { RecurringPass } from "../lib/concurrency";
import type { DbService, ModelDefinition, ModelsOf } from "./db.mixin";

/** The model's name in `this.models`, and its table in the service's schema. */
const OUTBOX = "outbox";
const PURGE_EVERY_MS = 3_600_000;

export interface OutboxOptions {
	/** Names the relay in log lines. */
	name: string;
	/** How often every node sweeps for rows left unpublished. */
	intervalMs?: number;
	/** Rows taken (and locked) per transaction. */
	batchSize?: number;
	/** How long published rows are kept (for inspecting what was sent) before a sweep deletes them. */
	retentionMs?: number;
}

export interface OutboxMethods {
	/** Adds a message to the caller's transaction; it is published once (and only if) the transaction commits. */
	writeOutbox(transaction: Transaction, channel: string, payload: Record<string, unknown>): Promise<void>;
	/** One batch: publishes what it can, stamps it, and answers how many rows were published. */
	relayOutboxOnce(): Promise<number>;
	/** A full pass (batches until none is full); one at a time per node, a call during a pass runs another after it. */
	relayOutbox(): Promise<void>;
	/** A pass now instead of at the next sweep. */
	kickOutboxRelay(): void;
	/** Deletes rows published longer than `retentionMs` ago; answers how many. */
	purgeOutbox(): Promise<number>;
	/** Call from the service's own `started`, once its database is up. */
	startOutboxRelay(): void;
	/** Call from the service's own `stopped`, while its database is still up; waits for a running pass. */
	stopOutboxRelay(): Promise<void>;
}

export interface OutboxRow {
	id: string;
	channel: string;
	payload: Record<string, unknown>;
	publishedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export type OutboxModelDefinition = ModelDefinition<"outbox", OutboxRow>;

/** The service as this mixin sees it: its outbox model, typed, beside whatever else it has. */
type OutboxService = Omit<DbService, "models"> & { models: ModelsOf<OutboxModelDefinition> } & OutboxMethods & { outboxRelay: RecurringPass };

/** The outbox table's model; DbMixin defines it in the service's own schema (`extraModels`). */
export function outboxModel(): OutboxModelDefinition {
	return {
		name: OUTBOX,
		define: {
			id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
			channel: { type: DataTypes.STRING(200), allowNull: false },
			payload: { type: DataTypes.JSONB, allowNull: false },
			publishedAt: { type: DataTypes.DATE, allowNull: true },
		},
		options: { tableName: OUTBOX },
	};
}

/**
 * The outbox table of a schema, for that service's migrations. Applied migrations call it, so what it creates
 * must never change: a later change to the table is a new migration of its own.
 */
export async function createOutboxTable({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	await queryInterface.createTable(
		{ tableName: OUTBOX, schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			channel: { type: DataTypes.STRING(200), allowNull: false },
			payload: { type: DataTypes.JSONB, allowNull: false },
			published_at: { type: DataTypes.DATE, allowNull: true },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	// The relay reads only what is still to publish; published rows stay out of its index.
	await sequelize.query(`CREATE INDEX outbox_unpublished_idx ON "${schema}".outbox (created_at) WHERE published_at IS NULL`);
}

export async function dropOutboxTable({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: OUTBOX, schema });
}

export function OutboxMixin(options: OutboxOptions): Partial<ServiceSchema> {
	const intervalMs = options.intervalMs ?? 1000;
	const batchSize = options.batchSize ?? 50;
	const retentionMs = options.retentionMs ?? 7 * 86_400_000;

	return {
		methods: {
			async writeOutbox(this: OutboxService, transaction: Transaction, channel: string, payload: Record<string, unknown>): Promise<void> {
				await this.models[OUTBOX].create({ channel, payload }, { transaction });
				// Published as soon as it commits, not at the next sweep; a rollback leaves nothing to publish.
				transaction.afterCommit(() => this.kickOutboxRelay());
			},

			async relayOutboxOnce(this: OutboxService): Promise<number> {
				// The channels connect after every service has started (the middleware's `started` hook); rows
				// written before that (a bootstrap admin's account) wait for the next sweep instead of a failed publish.
				if ((this.broker as { channelAdapter?: { connected?: boolean } }).channelAdapter?.connected === false) return 0;
				const outbox = this.models[OUTBOX];
				return this.adapter.db.transaction(async (transaction) => {
					const rows = (
						await outbox.findAll({
							where: { publishedAt: null },
							order: [
								["createdAt", "ASC"],
								["id", "ASC"],
							],
							limit: batchSize,
							lock: transaction.LOCK.UPDATE,
							skipLocked: true,
							transaction,
						})
					).map((row) => row.get({ plain: true }));
					const published: string[] = [];
					for (const row of rows) {
						try {
							await this.broker.sendToChannel(row.channel, row.payload);
							published.push(row.id);
						} catch (err) {
							this.logger.warn(`${options.name}: publishing ${row.id} to ${row.channel} failed, will retry:`, (err as Error).message);
							break;
						}
					}
					if (published.length > 0) await outbox.update({ publishedAt: new Date() }, { where: { id: published }, transaction });
					return published.length;
				});
			},

			async purgeOutbox(this: OutboxService): Promise<number> {
				return this.models[OUTBOX].destroy({ where: { publishedAt: { [Op.lt]: new Date(Date.now() - retentionMs) } } });
			},

			relayOutbox(this: OutboxService): Promise<void> {
				return this.outboxRelay.run();
			},

			kickOutboxRelay(this: OutboxService): void {
				void this.outboxRelay.run();
			},

			startOutboxRelay(this: OutboxService): void {
				this.outboxRelay.start();
			},

			stopOutboxRelay(this: OutboxService): Promise<void> {
				return this.outboxRelay.stop();
			},
		},

		created() {
			const service = this as unknown as OutboxService;
			// Published rows would pile up forever; an hourly sweep (on every node, harmlessly) keeps the table small.
			let purgedAt = Date.now();
			service.outboxRelay = new RecurringPass({
				// Batches until one comes back short: nothing more to send now, or a publish failed.
				pass: async () => {
					while (!service.outboxRelay.stopped && (await service.relayOutboxOnce()) === batchSize);
					if (Date.now() - purgedAt >= PURGE_EVERY_MS) {
						purgedAt = Date.now();
						await service.purgeOutbox();
					}
				},
				intervalMs,
				onError: (err) => service.logger.warn(`${options.name}: relaying failed, will retry:`, (err as Error).message),
			});
		},
	};
}
