/**
 * Payments of orders. A payment is created by the order's owner for a pending, unpaid order; its amount
 * and currency are copied from the order (never taken from the client). Non-card methods (bank transfer,
 * virtual account, e-wallet) answer instructions and a human-readable reference, and are settled later by a
 * super admin or by the bank's callback (`POST /payments/:id/verify`).
 *
 * Card payments (`credit_card`, only when STRIPE_SECRET_KEY is set; otherwise 422 METHOD_NOT_AVAILABLE) create
 * a Stripe PaymentIntent (Stripe idempotency key = the payment id) whose client secret is answered once, in
 * `instructions.clientSecret`, and never stored. They are settled by Stripe's webhook
 * (`POST /api/v1/webhooks/stripe`): the `Stripe-Signature` header is verified over the raw body with the
 * endpoint secret, the event id is recorded in `stripe_events` in the same transaction as the payment change
 * (a duplicate is acknowledged and changes nothing), and `payment_intent.succeeded` settles the payment
 * through the same outbox as `verify`. Refunding a card payment refunds it at Stripe first (idempotency key
 * `refund-<paymentId>`).
 *
 * The saga is durable: settling (or refunding) a payment changes the payment row and writes an outbox row
 * in ONE transaction (mixins/outbox.mixin.ts); the relay publishes it to the durable channel
 * `commerce.payment.settled` / `commerce.payment.refunded` (right after the commit, and every second for
 * what a crash left). The message carries the public payment: orders applies it (markPaid/markRefunded,
 * idempotent by paymentId), notifications tells the payer and the tenant. Delivery is at least once.
 *
 * Money and orders never disagree (payments-reconciliation.ts): cancelling an order fails its pending
 * payment, and a settlement that arrives anyway (the transfer was on its way, a verify raced the cancel)
 * is refunded by the saga, with the reason in `statusReason`.
 *
 *   status: pending → succeeded → refunded, pending → failed → succeeded (money that arrived after all)
 */
import crypto from "node:crypto";
import path from "node:path";
import type { Context } from "moleculer";
import { QueryTypes } from "sequelize";
import type Stripe from "stripe";
import { StripeCardProvider, toStripeAmount } from "./stripe-provider";
import { platformConfigOf } from "../../lib/node";
import { DbMixin, PAGE_PARAMS, plainRow, type DbServiceSchema } from "../../mixins/db.mixin";
import { AggregateMixin } from "../../mixins/aggregate.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { IdempotencyMixin, type IdempotencyMeta } from "../../mixins/idempotency.mixin";
import { OutboxMixin, outboxModel, type OutboxMethods } from "../../mixins/outbox.mixin";
import { PaymentsReconciliation, type ReconciliationMethods } from "./payments-reconciliation";
import type { ListParams, OrderView, PaymentRow, PaymentsContext, PaymentsLocals, PaymentsMethods, PaymentsSettings, PublicPayment, WebhookOutcome } from "./payments.types";
import {
	PaymentModel,
	PAYMENT_METHODS,
	PAYMENT_STATUSES,
	type PaymentMethod,
	type PaymentStatus,
} from "../../models/commerce/payments/payment.model";
import { requireUser, UUID_PATTERN, type CallerMeta } from "../../lib/caller";
import { BadRequestError, ConflictError, EntityNotFoundError, UnprocessableEntityError } from "../../lib/errors";
import { PAYMENT_CHANNELS, PAYMENT_EVENTS, PublicPaymentSchema, StripeWebhookAnswerSchema } from "./contracts";
import { apiPath, created } from "../../lib/api-path";
import { PageOf } from "../../lib/schema";

export { PAYMENT_EVENTS };
export type { PaymentRow, PaymentsContext, PaymentsLocals, PaymentsMethods, PaymentsSettings } from "./payments.types";
export type { PublicPayment } from "./contracts";

const SCHEMA = "payments";
/** Payments belong to people: API keys and anonymous platform work have none of their own. */
const NO_PAYMENTS = "Only signed-in users have payments";
/** No 0/O, 1/I/L: a reference is read aloud and typed into banking apps. */
const REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const NON_CARD_METHODS: readonly PaymentMethod[] = ["bank_transfer", "e_wallet", "virtual_account"];

function iso(value: Date | string | null | undefined): string | null {
	return value ? new Date(value).toISOString() : null;
}

function randomChars(alphabet: string, length: number): string {
	let out = "";
	for (let index = 0; index < length; index += 1) out += alphabet[crypto.randomInt(alphabet.length)];
	return out;
}

const PaymentsService: DbServiceSchema<PaymentsSettings, PaymentsMethods & OutboxMethods & ReconciliationMethods, PaymentsLocals, typeof PaymentModel> = {
	name: "payments",
	mixins: [
		DbMixin({
			schema: SCHEMA,
			migrations: path.join(__dirname, "../../models/commerce/payments/migrations"),
			model: PaymentModel,
			extraModels: [outboxModel()],
			// A payment is its payer's: others get 404 (lists: their own), platform callers see all.
			owner: { owner: "user", userRequired: NO_PAYMENTS },
			entityName: "Payment",
		}),
		OutboxMixin({ name: "Payments outbox" }),
		IdempotencyMixin(),
		AggregateMixin<PaymentStatus>({ model: "payment", entityName: "Payment", outboxExtra: (row) => ({ orderId: row.orderId }) }),
		PaymentsReconciliation,
	],

	settings: {
		bankAccount: { bankName: "Lattice Example Bank", accountName: "Lattice Marketplace", iban: "XX00 LATT 0000 0000 0000 00", bic: "LATTXXXXXXX" },
		virtualAccountPrefix: "8808",
		walletDeepLinkBase: "https://pay.lattice.example/wallet",
		bankCallbackSecret: undefined,
	},

	actions: {
		createPayment: {
			rest: "POST /",
			responses: { 201: { description: "The pending payment (a card payment's instructions carry Stripe's clientSecret)", body: PublicPaymentSchema, headers: { Location: "The payment's URL" } } },
			errors: { 404: ["ENTITY_NOT_FOUND"], 409: ["ORDER_NOT_PAYABLE", "PAYMENT_PENDING", "IDEMPOTENCY_REQUEST_IN_PROGRESS"], 422: ["METHOD_NOT_AVAILABLE", "PAYMENT_PROVIDER_REJECTED", "IDEMPOTENCY_KEY_REUSED"], 503: ["PAYMENT_PROVIDER_UNAVAILABLE"] },
			idempotent: true,
			summary: "Pay one of your pending orders (send an Idempotency-Key to retry safely)",
			description:
				"The amount and currency are the order's. bank_transfer, virtual_account and e_wallet answer instructions and a reference; credit_card creates a Stripe PaymentIntent and answers its client secret in `instructions.clientSecret` (only in this answer), or 422 METHOD_NOT_AVAILABLE when Stripe is not configured.",
			params: {
				orderId: { type: "uuid" },
				method: { type: "enum", values: PAYMENT_METHODS },
				// Anything else (an `amount`, say) is dropped: the amount is always the order's.
				$$strict: "remove",
			},
			async handler(ctx: PaymentsContext<{ orderId: string; method: PaymentMethod }>) {
				const userId = requireUser(ctx.meta, NO_PAYMENTS);
				const { method } = ctx.params;
				if (!this.availableMethods().includes(method)) {
					throw new UnprocessableEntityError(
						"Card payments are not available; pay by bank_transfer, virtual_account or e_wallet",
						"METHOD_NOT_AVAILABLE",
						{ method, available: this.availableMethods() },
					);
				}
				// As the caller: someone else's order answers 404 exactly like a missing one.
				const order: OrderView = await ctx.call("orders.getOrder", { id: ctx.params.orderId });
				if (order.status !== "pending" || order.paymentStatus !== "unpaid") {
					throw new ConflictError(`Order ${order.id} can't be paid: it is ${order.status} (${order.paymentStatus})`, "ORDER_NOT_PAYABLE", {
						orderId: order.id,
						status: order.status,
						paymentStatus: order.paymentStatus,
					});
				}
				const pendingConflict = (existing?: PaymentRow) =>
					new ConflictError(`Order ${order.id} already has a pending payment`, "PAYMENT_PENDING", { orderId: order.id, paymentId: existing?.id });
				const existing = plainRow(await this.models.payment.findOne({ where: { orderId: order.id, status: "pending" } }));
				if (existing) throw pendingConflict(existing);

				let row: PaymentRow | undefined;
				for (let attempt = 0; !row; attempt += 1) {
					const reference = this.newReference();
					try {
						row = plainRow(
							await this.models.payment.create({
								orderId: order.id,
								userId,
								tenantId: order.tenantId ?? null,
								amount: order.totalAmount,
								currency: order.currency,
								method,
								status: "pending",
								paymentReference: reference,
								instructions: this.instructionsFor(method, reference, order.totalAmount, order.currency),
							}),
						);
					} catch (err) {
						const error = err as Error & { parent?: { constraint?: string }; original?: { constraint?: string } };
						if (error.name !== "SequelizeUniqueConstraintError") throw err;
						const constraint = error.parent?.constraint ?? error.original?.constraint;
						if (constraint === "payments_one_pending_per_order") {
							throw pendingConflict(plainRow(await this.models.payment.findOne({ where: { orderId: order.id, status: "pending" } })));
						}
						// A reference collision (31^8 of them): draw again.
						if (attempt >= 3) throw err;
					}
				}
				// The order may have been cancelled since it was read: its cancel fails pending payments, and one
				// committed after that pass would be missed. Read again now that this one is visible: either the
				// cancel's pass sees this payment or this read sees the cancel.
				await this.refuseIfOrderMovedOn(row);
				if (method === "credit_card") {
					// Fails the payment (the order can be paid again) and throws Stripe's 422/503 when Stripe refuses.
					const started = await this.startCardPayment(row);
					await this.entityChanged("created", { id: row.id }, ctx);
					created(ctx, "payments", row.id);
					return started;
				}
				await this.entityChanged("created", { id: row.id }, ctx);
				created(ctx, "payments", row.id);
				return this.toPublic(row);
			},
		},

		listPayments: {
			rest: "GET /",
			responses: { 200: { description: "A page of payments, newest first", body: PageOf(PublicPaymentSchema) } },
			summary: "Your payments, newest first (super admins: everyone's)",
			params: {
				...PAGE_PARAMS,
				status: { type: "enum", values: PAYMENT_STATUSES, optional: true },
				orderId: { type: "uuid", optional: true },
				$$strict: "remove",
			},
			async handler(ctx: PaymentsContext<ListParams>) {
				const { page, pageSize, status, orderId } = ctx.params;
				const where = { ...(status ? { status } : {}), ...(orderId ? { orderId: orderId.toLowerCase() } : {}) };
				return this.scoped(ctx).page({ page, pageSize, where }, (row) => this.toPublic(row));
			},
		},

		getPayment: {
			rest: "GET /:id",
			responses: { 200: { description: "The payment", body: PublicPaymentSchema } },
			summary: "One of your payments (super admins: any)",
			params: { id: "string|max:64" },
			scope: { entity: "payment", name: "Payment" },
			async handler(ctx: PaymentsContext<{ id: string }>) {
				return this.toPublic(entityOf<PaymentRow>(ctx));
			},
		},

		verifyPayment: {
			rest: "POST /:id/verify",
			responses: { 200: { description: "The settled payment (also when it already was)", body: PublicPaymentSchema } },
			errors: { 409: ["INVALID_TRANSITION", "ORDER_NOT_PAYABLE"], 422: ["METHOD_NOT_AVAILABLE"] },
			// Anonymous bank callbacks reach the permission checks; `$isBankCallback` decides for them.
			auth: "optional",
			permissions: ["super_admin", "$isBankCallback"],
			summary: "Settle a pending non-card payment (super admins, or the bank's callback with its secret)",
			description:
				"outcome `succeeded` (default) settles the payment and, through the durable saga, pays the order; `failed` closes a pending one so the owner can pay again. Money that arrives for a failed payment (its order was cancelled) settles too, and is refunded automatically when the order can't take it (`statusReason`).",
			params: {
				id: "string|max:64",
				outcome: { type: "enum", values: ["succeeded", "failed"], optional: true, default: "succeeded" },
				callbackSecret: { type: "string", max: 500, optional: true },
				$$strict: "remove",
			},
			async handler(ctx: PaymentsContext<{ id: string; outcome: "succeeded" | "failed" }>) {
				const before = await this.loadRow(ctx.params.id);
				if (!before) throw new EntityNotFoundError("Payment", ctx.params.id);
				if (before.method === "credit_card") throw new UnprocessableEntityError("Card payments are not verified here", "METHOD_NOT_AVAILABLE");
				const succeeded = ctx.params.outcome === "succeeded";
				const to: PaymentStatus = succeeded ? "succeeded" : "failed";
				if (before.status === to) return this.toPublic(before);
				// Money that arrives for a failed payment (failed by its order's cancel, or too early by the bank) was
				// received all the same: it settles, and the saga refunds it if the order can't take it.
				const settle = { status: "succeeded" as const, settledAt: new Date(), statusReason: null };
				// A concurrent verify of the same outcome is a no-op.
				const noOp = (current: PaymentRow) => current.status === to;
				const { row, changed } = succeeded
					? await this.transition(before, ["pending", "failed"], settle, { channel: PAYMENT_CHANNELS.settled, noOp })
					: await this.transition(before, "pending", { status: "failed", failedAt: new Date() }, { channel: PAYMENT_CHANNELS.failed, noOp });
				return changed ? this.announce(ctx, succeeded ? PAYMENT_EVENTS.succeeded : PAYMENT_EVENTS.failed, row) : this.toPublic(row);
			},
		},

		refundPayment: {
			rest: "POST /:id/refund",
			responses: { 200: { description: "The refunded payment", body: PublicPaymentSchema } },
			errors: { 409: ["INVALID_TRANSITION"], 422: ["METHOD_NOT_AVAILABLE", "PAYMENT_PROVIDER_REJECTED"], 503: ["PAYMENT_PROVIDER_UNAVAILABLE"] },
			permissions: ["super_admin"],
			summary: "Refund a settled payment (cards: at Stripe first); the order becomes refunded through the saga",
			params: { id: "string|max:64" },
			async handler(ctx: PaymentsContext<{ id: string }>) {
				const before = await this.loadRow(ctx.params.id);
				if (!before) throw new EntityNotFoundError("Payment", ctx.params.id);
				return this.refundSettled(ctx, before, null);
			},
		},

		stripeWebhook: {
			rest: { method: "POST", fullPath: apiPath("webhooks/stripe") },
			responses: { 200: { description: "The event was handled, or acknowledged and ignored", body: StripeWebhookAnswerSchema } },
			auth: "public",
			rawBody: true,
			headers: ["stripe-signature"],
			summary: "Stripe's webhook: settles or fails card payments",
			description:
				"Verifies `Stripe-Signature` over the raw body with STRIPE_WEBHOOK_SECRET (400 INVALID_STRIPE_SIGNATURE otherwise). Each event id is handled once (a duplicate answers `duplicate: true`). `payment_intent.succeeded` settles the payment (the order is paid through the saga), `payment_intent.payment_failed` fails it; other types and unknown intents are acknowledged and ignored.",
			params: { $$strict: false },
			async handler(ctx: PaymentsContext) {
				if (!this.cardProvider) throw new BadRequestError("Stripe webhooks are not configured (STRIPE_SECRET_KEY)", "INVALID_STRIPE_SIGNATURE");
				const meta = ctx.meta as IdempotencyMeta & { headers?: Record<string, string> };
				const event = this.cardProvider.verifyWebhook(meta.rawBody ?? "", meta.headers?.["stripe-signature"]);
				const { changed, ...answer } = await this.handleStripeEvent(event);
				if (changed) await this.announce(ctx, changed.event, changed.row);
				return answer;
			},
		},
	},

	methods: {
		/** The bank's callback: it presents the configured shared secret. No secret configured: never. */
		isBankCallback(ctx: Context<{ callbackSecret?: string }, CallerMeta>): boolean {
			const expected = this.settings.bankCallbackSecret;
			const given = ctx.params?.callbackSecret;
			if (!expected || typeof given !== "string") return false;
			const a = crypto.createHash("sha256").update(expected).digest();
			const b = crypto.createHash("sha256").update(given).digest();
			return crypto.timingSafeEqual(a, b);
		},

		present(row: PaymentRow): PublicPayment {
			return this.toPublic(row);
		},

		toPublic(row: PaymentRow): PublicPayment {
			return {
				id: row.id,
				orderId: row.orderId,
				userId: row.userId,
				tenantId: row.tenantId ?? null,
				amount: Number(row.amount),
				currency: row.currency,
				method: row.method,
				status: row.status,
				paymentReference: row.paymentReference,
				instructions: row.instructions,
				createdAt: iso(row.createdAt)!,
				updatedAt: iso(row.updatedAt)!,
				settledAt: iso(row.settledAt),
				failedAt: iso(row.failedAt),
				refundedAt: iso(row.refundedAt),
				providerReference: row.providerReference ?? null,
				statusReason: row.statusReason ?? null,
			};
		},

		/** `LAT-XXXX-XXXX` from a crypto-random, unambiguous alphabet. */
		newReference(): string {
			return `LAT-${randomChars(REFERENCE_ALPHABET, 4)}-${randomChars(REFERENCE_ALPHABET, 4)}`;
		},

		instructionsFor(method: PaymentMethod, reference: string, amount: number, currency: string): Record<string, unknown> {
			const common = { type: method, reference, amount, currency };
			switch (method) {
				case "bank_transfer":
					return { ...common, ...this.settings.bankAccount, note: `Put ${reference} in the transfer's description` };
				case "virtual_account":
					return { ...common, bankName: this.settings.bankAccount.bankName, virtualAccountNumber: `${this.settings.virtualAccountPrefix}${randomChars("0123456789", 10)}` };
				case "e_wallet": {
					const query = new URLSearchParams({ ref: reference, amount: String(amount), currency });
					const deepLink = `${this.settings.walletDeepLinkBase}?${query.toString()}`;
					return { ...common, deepLink, qrPayload: deepLink };
				}
				default:
					return common;
			}
		},


		availableMethods(): PaymentMethod[] {
			return this.cardProvider ? [...NON_CARD_METHODS, "credit_card"] : [...NON_CARD_METHODS];
		},

		/**
		 * Creates the PaymentIntent of a new card payment and stores its id. Stripe refusing (422) or failing
		 * (503): the payment is failed, so the order can be paid again, and the error propagates.
		 */
		async startCardPayment(row: PaymentRow): Promise<PublicPayment> {
			let intent;
			try {
				intent = await this.cardProvider!.createPaymentIntent({
					amount: Number(row.amount),
					currency: row.currency,
					paymentId: row.id,
					orderId: row.orderId,
					idempotencyKey: row.id,
				});
			} catch (err) {
				await this.guardedUpdate(row.id, "pending", { status: "failed", failedAt: new Date() });
				throw err;
			}
			const instructions = { ...row.instructions, provider: this.cardProvider!.name, paymentIntentId: intent.id };
			const [, rows] = await this.models.payment.update({ providerReference: intent.id, instructions }, { where: { id: row.id }, returning: true });
			const updated = plainRow(rows[0]) ?? { ...row, providerReference: intent.id, instructions };
			const payment = this.toPublic(updated);
			// The client secret confirms the payment in the browser: answered to the payer once, never stored.
			return { ...payment, instructions: { ...payment.instructions, clientSecret: intent.clientSecret } };
		},

		/**
		 * One Stripe event, in one transaction with its id in `stripe_events`: a duplicate (the id is already
		 * there) changes nothing, and a failure rolls the id back so Stripe's retry is handled again.
		 */
		async handleStripeEvent(event: Stripe.Event): Promise<WebhookOutcome> {
			const table = `"${SCHEMA}".stripe_events`;
			return this.adapter.db.transaction(async (transaction) => {
				const inserted = await this.adapter.db.query<{ id: string }>(
					`INSERT INTO ${table} (id, type, received_at) VALUES (:id, :type, now()) ON CONFLICT (id) DO NOTHING RETURNING id`,
					{ replacements: { id: event.id, type: event.type }, type: QueryTypes.SELECT, transaction },
				);
				if (inserted.length === 0) return { received: true, duplicate: true } as WebhookOutcome;
				if (event.type !== "payment_intent.succeeded" && event.type !== "payment_intent.payment_failed") {
					return { received: true, ignored: `event type ${event.type}` } as WebhookOutcome;
				}
				const intent = event.data.object;
				const byReference = plainRow(await this.models.payment.findOne({ where: { providerReference: intent.id }, transaction }));
				const metadataId = intent.metadata?.paymentId;
				// Created but not yet stamped with the intent id (the webhook beat our own update): the metadata names it.
				const row =
					byReference ??
					(metadataId && UUID_PATTERN.test(metadataId)
						? plainRow(await this.models.payment.findOne({ where: { id: metadataId.toLowerCase(), method: "credit_card", providerReference: null }, transaction }))
						: undefined);
				if (!row) {
					this.logger.warn(`Stripe event ${event.id} (${event.type}) is for an unknown payment intent ${intent.id}; acknowledged, ignored`);
					return { received: true, ignored: "unknown payment intent" } as WebhookOutcome;
				}
				if (event.type === "payment_intent.payment_failed") {
					const failed = await this.guardedUpdate(row.id, "pending", { status: "failed", failedAt: new Date(), providerReference: intent.id }, { channel: PAYMENT_CHANNELS.failed, transaction });
					if (!failed) return { received: true, paymentId: row.id, status: row.status } as WebhookOutcome;
					return { received: true, paymentId: row.id, status: failed.status, changed: { row: failed, event: PAYMENT_EVENTS.failed } } as WebhookOutcome;
				}
				if (Number(intent.amount) !== toStripeAmount(Number(row.amount), row.currency) || intent.currency.toUpperCase() !== row.currency) {
					this.logger.warn(`Stripe event ${event.id}: intent ${intent.id} is ${intent.amount} ${intent.currency}, payment ${row.id} is ${row.amount} ${row.currency}; not settled`);
					return { received: true, ignored: "amount or currency mismatch", paymentId: row.id, status: row.status } as WebhookOutcome;
				}
				const settle = { status: "succeeded" as const, settledAt: new Date(), providerReference: intent.id, statusReason: null };
				// A payment failed by an earlier attempt can still succeed at Stripe (the customer retried the
				// intent): the money was taken, so it settles; a paid-otherwise order reports order.payment_conflict.
				const settled =
					await this.guardedUpdate(row.id, ["pending", "failed"], settle, { channel: PAYMENT_CHANNELS.settled, transaction });
				if (!settled) return { received: true, paymentId: row.id, status: row.status } as WebhookOutcome;
				return { received: true, paymentId: row.id, status: settled.status, changed: { row: settled, event: PAYMENT_EVENTS.succeeded } } as WebhookOutcome;
			});
		},

	},

	created() {
		const payments = platformConfigOf(this.broker).payments;
		this.settings.bankCallbackSecret = payments.bankCallbackSecret;
		if (payments.stripe.secretKey) {
			this.cardProvider = new StripeCardProvider({ secretKey: payments.stripe.secretKey, webhookSecret: payments.stripe.webhookSecret, apiBase: payments.stripe.apiBase });
		}
	},

	started() {
		this.startOutboxRelay();
	},

	async stopped() {
		await this.stopOutboxRelay();
	},
};

export default PaymentsService;
