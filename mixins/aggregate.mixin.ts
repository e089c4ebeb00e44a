/**
 * Helpers for a service that keeps one aggregate with a status in a DbMixin model (an order, a payment):
 *
 * - `guardedUpdate(id, from, changes, { where, channel, transaction })`: the one way a status changes, a
 *   single `UPDATE … WHERE id = :id AND status IN (:from) RETURNING *`, so of two nodes applying the same
 *   change only one gets the row back; with a channel, the outbox row (mixins/outbox.mixin.ts) commits in
 *   the same transaction, so there is never a change without its message or a message without its change.
 * - `transition(before, from, changes, { noOp, … })`: the same, and when the guard lost (a race, or the row
 *   had moved on) it reloads: a state `noOp` accepts (the same target reached by a concurrent call) is
 *   answered as it is, anything else is 409 INVALID_TRANSITION naming both states.
 * - `announce(ctx, event, row)`: after the commit, cleans every node's cache and emits `{ <entity>: public }`.
 *
 * Who may see a row is not decided here: actions declare `scope` (middlewares/entity-scope.middleware.ts).
 * The service provides `present(row, transaction?)`, the aggregate's public form (events, outbox, answers).
 */
import type { Context, ServiceSchema } from "moleculer";
import type { Model, ModelStatic, Transaction, WhereOptions } from "sequelize";
import { normalizeUuid } from "../lib/caller";
import { ConflictError } from "../lib/errors";
import { plainRow } from "./db.mixin";

export interface AggregateOptions<TStatus extends string = string> {
	/** The DbMixin model (by name) holding the aggregate. */
	model: string;
	/** How messages and events name it: "Order" (errors), "order" (the event and outbox key, `orderId`). */
	entityName: string;
	/** The allowed moves; a guarded update outside them is a programming error. */
	transitions?: Record<TStatus, readonly TStatus[]>;
	/** The outbox row's payload beyond `{ <entity>Id, <entity> }` (e.g. the payment's orderId). */
	outboxExtra?: (row: Record<string, unknown>) => Record<string, unknown>;
}

export interface GuardOptions {
	/** Further conditions of the guard (e.g. which payment). */
	where?: Record<string, unknown>;
	/** A durable channel: the outbox row commits with the change. */
	channel?: string;
	/** The caller's transaction; otherwise one of its own when there is an outbox row. */
	transaction?: Transaction;
}

export interface TransitionOptions<TRow> extends GuardOptions {
	/** A current state that means "already done" (the same target, by a concurrent call): answered, not refused. */
	noOp?: (current: TRow) => boolean;
}

interface StatusRow {
	id: string;
	status: string;
}

export interface AggregateMethods<TRow extends StatusRow, TStatus extends string = string, TPublic = unknown> {
	/** The row by id, whoever owns it (a malformed id names nothing): for platform work and reloads. */
	loadRow(id: string): Promise<TRow | undefined>;
	guardedUpdate(id: string, from: TStatus | readonly TStatus[], changes: { status: TStatus } & Record<string, unknown>, options?: GuardOptions): Promise<TRow | undefined>;
	transition(before: TRow, from: TStatus | readonly TStatus[], changes: { status: TStatus } & Record<string, unknown>, options?: TransitionOptions<TRow>): Promise<{ row: TRow; changed: boolean }>;
	invalidTransition(row: TRow, to: TStatus): ConflictError;
	/** `extra` joins the event payload beside the entity (e.g. which fields changed). */
	announce(ctx: Context, event: string, row: TRow, type?: "created" | "updated" | "removed", extra?: Record<string, unknown>): Promise<TPublic>;
}

/** What this mixin knows of any aggregate's row: an id and a status (and whatever else the service's model has). */
type AggregateRow = StatusRow & Record<string, unknown>;

type Host = {
	models: Record<string, ModelStatic<Model<AggregateRow, object>>>;
	adapter: { db: { transaction<T>(run: (transaction: Transaction) => Promise<T>): Promise<T> } };
	writeOutbox(transaction: Transaction, channel: string, payload: Record<string, unknown>): Promise<void>;
	entityChanged(type: "created" | "updated" | "removed", json: unknown, ctx: Context): Promise<void>;
	present(row: StatusRow, transaction?: Transaction): unknown;
} & AggregateMethods<StatusRow>;

export function AggregateMixin<TStatus extends string>(options: AggregateOptions<TStatus>): Partial<ServiceSchema> {
	const key = options.entityName.toLowerCase();
	return {
		methods: {
			async loadRow(this: Host, id: string) {
				const uuid = normalizeUuid(id);
				return uuid ? plainRow(await this.models[options.model].findByPk(uuid)) : undefined;
			},

			async guardedUpdate(this: Host, id: string, from: TStatus | readonly TStatus[], changes: { status: TStatus } & Record<string, unknown>, guard: GuardOptions = {}) {
				const states = (Array.isArray(from) ? from : [from]) as TStatus[];
				for (const status of states) {
					if (options.transitions && !options.transitions[status].includes(changes.status)) throw new Error(`No transition ${status} → ${changes.status}`);
				}
				const change = async (transaction?: Transaction) => {
					const [count, rows] = await this.models[options.model].update(changes, {
						where: { ...guard.where, id, status: states } as WhereOptions,
						returning: true,
						transaction,
					});
					if (count !== 1) return undefined;
					const row = rows[0].get({ plain: true });
					if (transaction && guard.channel) {
						const entity = await this.present(row, transaction);
						await this.writeOutbox(transaction, guard.channel, { [`${key}Id`]: row.id, ...options.outboxExtra?.(row as never), [key]: entity });
					}
					return row;
				};
				if (guard.transaction) return change(guard.transaction);
				return guard.channel ? this.adapter.db.transaction((transaction) => change(transaction)) : change();
			},

			async transition(this: Host, before: StatusRow, from: TStatus | readonly TStatus[], changes: { status: TStatus } & Record<string, unknown>, guard: TransitionOptions<StatusRow> = {}) {
				const row = await this.guardedUpdate(before.id, from, changes, guard);
				if (row) return { row, changed: true };
				// Lost a race, or the row had moved on: what is it now?
				const current = (await this.loadRow(before.id)) ?? before;
				if (guard.noOp?.(current)) return { row: current, changed: false };
				throw this.invalidTransition(current, changes.status);
			},

			invalidTransition(row: StatusRow, to: string): ConflictError {
				return new ConflictError(`${options.entityName} ${row.id} can't go from ${row.status} to ${to}`, "INVALID_TRANSITION", { [`${key}Id`]: row.id, from: row.status, to });
			},

			/** After the change committed: clean caches everywhere, tell the cluster, answer the public form. */
			async announce(this: Host, ctx: Context, event: string, row: StatusRow, type: "created" | "updated" | "removed" = "updated", extra: Record<string, unknown> = {}) {
				const entity = await this.present(row);
				await this.entityChanged(type, { id: row.id }, ctx);
				await ctx.emit(event, { [key]: entity, ...extra });
				return entity;
			},
		},
	};
}
