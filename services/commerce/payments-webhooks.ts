/**
 * Processors' webhooks (a mixin of payments.service.ts): `POST /api/v1/webhooks/stripe`. The provider
 * verifies the signature over the raw body (`Stripe-Signature`, STRIPE_WEBHOOK_SECRET; bad, missing or older
 * than 5 minutes: 400 INVALID_STRIPE_SIGNATURE) and reads the event into a ProviderEvent; this file acts on it
 * without knowing Stripe.
 *
 * Each event is handled once: its id goes into `stripe_events` in the same transaction as the change it
 * makes, so a redelivery answers `{received: true, duplicate: true}` and changes nothing, and a failure rolls
 * the id back so the processor's retry is handled again. A payment's success settles it through the same
 * outbox as `verify` (the amount and currency must match; a payment failed by an earlier attempt still
 * settles: the money was taken), a failure fails a pending one with the processor's decline code; for a charge
 * the payments service made itself (an invoice's off-session charge), whichever of the charge's answer and the
 * webhook comes second finds the change made and changes nothing. A confirmed set-up saves the card as its
 * tenant's default (payments-saved-methods.ts). Other types, and unknown intents, answer 200 and are ignored
 * (processors retry anything else).
 */
import type { ServiceSchema } from "moleculer";
import { Op, QueryTypes, type Transaction } from "sequelize";
import { plainRow } from "../../mixins/db.mixin";
import type { OutboxMethods } from "../../mixins/outbox.mixin";
import { normalizeUuid } from "../../lib/caller";
import { BadRequestError } from "../../lib/errors";
import { apiPath } from "../../lib/api-path";
import { PAYMENT_CHANNELS, PAYMENT_EVENTS, PAYMENT_METHOD_EVENTS, StripeWebhookAnswerSchema } from "./contracts";
import { failureColumns, type PaymentProvider, type ProviderEvent } from "./payment-provider";
import type { PaymentRow, PaymentsContext, PaymentsDb, PaymentsLocals, PaymentsMethods, WebhookOutcome } from "./payments.types";
import type { SavedMethodsMethods } from "./payments-saved-methods";
import type { IdempotencyMeta } from "../../mixins/idempotency.mixin";

type Host = PaymentsDb & PaymentsMethods & OutboxMethods & SavedMethodsMethods & PaymentsLocals;
type PaymentEventOf = Extract<ProviderEvent, { kind: "payment_succeeded" | "payment_failed" }>;

/** Where the processors' events already handled are recorded (one table for every provider). */
const EVENTS_TABLE = `"payments".stripe_events`;

export const PaymentsWebhooks: Partial<ServiceSchema> = {
	actions: {
		stripeWebhook: {
			rest: { method: "POST", fullPath: apiPath("webhooks/stripe") },
			responses: { 200: { description: "The event was handled, or acknowledged and ignored", body: StripeWebhookAnswerSchema } },
			auth: "public",
			rawBody: true,
			headers: ["stripe-signature"],
			summary: "Stripe's webhook: settles or fails card payments, saves confirmed cards",
			description:
				"Verifies `Stripe-Signature` over the raw body with STRIPE_WEBHOOK_SECRET (400 INVALID_STRIPE_SIGNATURE otherwise). Each event id is handled once (a duplicate answers `duplicate: true`). `payment_intent.succeeded` settles the payment (the order or invoice is paid through the saga), `payment_intent.payment_failed` fails it, `setup_intent.succeeded` saves the card as the tenant's default; other types and unknown intents are acknowledged and ignored.",
			params: { $$strict: false },
			async handler(ctx: PaymentsContext) {
				const provider = this.providers.webhookSource("stripe");
				if (!provider) throw new BadRequestError("Stripe webhooks are not configured (STRIPE_SECRET_KEY)", "INVALID_STRIPE_SIGNATURE");
				const meta = ctx.meta as IdempotencyMeta & { headers?: Record<string, string> };
				const event = provider.parseWebhook(meta.rawBody ?? "", meta.headers?.["stripe-signature"]);
				const { changed, saved, ...answer } = await this.handleProviderEvent(event, provider);
				if (changed) await this.announce(ctx, changed.event, changed.row);
				if (saved) {
					await this.entityChanged("updated", { id: saved.id }, ctx);
					await ctx.emit(PAYMENT_METHOD_EVENTS.saved, { paymentMethod: this.toPublicSavedMethod(saved) });
				}
				return answer;
			},
		},
	},

	methods: {
		/**
		 * The payment's status now: a guarded change that lost waited for the one that won (the payments service's
		 * own answer to an off-session charge, say), whose commit this read sees.
		 */
		async currentStatus(this: Host, row: PaymentRow, transaction: Transaction): Promise<PaymentRow["status"]> {
			return plainRow(await this.models.payment.findByPk(row.id, { transaction }))?.status ?? row.status;
		},

		async handleProviderEvent(this: Host, event: ProviderEvent, provider: PaymentProvider): Promise<WebhookOutcome> {
			// What needs the processor (the card's details) is read before the transaction, which then stays short.
			const card = event.kind === "setup_succeeded" ? await this.savedMethodOfSetup(event, provider) : undefined;
			return this.adapter.db.transaction(async (transaction) => {
				const inserted = await this.adapter.db.query<{ id: string }>(
					`INSERT INTO ${EVENTS_TABLE} (id, type, received_at) VALUES (:id, :type, now()) ON CONFLICT (id) DO NOTHING RETURNING id`,
					{ replacements: { id: event.id, type: event.type }, type: QueryTypes.SELECT, transaction },
				);
				if (inserted.length === 0) return { received: true, duplicate: true } as WebhookOutcome;
				if (event.kind === "ignored") return { received: true, ignored: `event type ${event.type}` } as WebhookOutcome;
				if (event.kind === "setup_succeeded") {
					if (!card || "ignored" in card) return { received: true, ignored: card?.ignored ?? "no card" } as WebhookOutcome;
					const saved = await this.recordSavedMethod(card, transaction);
					return { received: true, paymentMethodId: saved.id, saved } as WebhookOutcome;
				}
				return this.applyPaymentEvent(event, transaction);
			});
		},

		async applyPaymentEvent(this: Host, event: PaymentEventOf, transaction: Transaction): Promise<WebhookOutcome> {
			const metadataId = normalizeUuid(event.paymentId);
			// By the intent's id, or, not yet stamped with it (the webhook beat our own update), by the id the metadata
			// names. One statement, so one snapshot: two reads could miss the row as our update commits between them.
			const candidates = (
				await this.models.payment.findAll({
					where: { [Op.or]: [{ providerReference: event.providerReference }, ...(metadataId ? [{ id: metadataId, method: "credit_card", providerReference: null }] : [])] },
					transaction,
				})
			).map((found) => found.get({ plain: true }));
			const row = candidates.find((found) => found.providerReference === event.providerReference) ?? candidates[0];
			if (!row) {
				this.logger.warn(`Stripe event ${event.id} (${event.type}) is for an unknown payment intent ${event.providerReference}; acknowledged, ignored`);
				return { received: true, ignored: "unknown payment intent" };
			}
			if (event.kind === "payment_failed") {
				const failure = event.failure ? failureColumns(event.failure) : {};
				const failed = await this.guardedUpdate(row.id, "pending", { status: "failed", failedAt: new Date(), providerReference: event.providerReference, ...failure }, { channel: PAYMENT_CHANNELS.failed, transaction });
				if (!failed) return { received: true, paymentId: row.id, status: await this.currentStatus(row, transaction) };
				return { received: true, paymentId: row.id, status: failed.status, changed: { row: failed, event: PAYMENT_EVENTS.failed } };
			}
			if (event.amount !== Number(row.amount) || event.currency !== row.currency) {
				this.logger.warn(`Stripe event ${event.id}: intent ${event.providerReference} is ${event.amount ?? "?"} ${event.currency}, payment ${row.id} is ${row.amount} ${row.currency}; not settled`);
				return { received: true, ignored: "amount or currency mismatch", paymentId: row.id, status: row.status };
			}
			const settle = { status: "succeeded" as const, settledAt: new Date(), providerReference: event.providerReference, statusReason: null };
			// A payment failed by an earlier attempt can still succeed at Stripe (the customer retried the
			// intent): the money was taken, so it settles; a paid-otherwise order reports order.payment_conflict.
			const settled = await this.guardedUpdate(row.id, ["pending", "failed"], settle, { channel: PAYMENT_CHANNELS.settled, transaction });
			if (!settled) return { received: true, paymentId: row.id, status: await this.currentStatus(row, transaction) };
			return { received: true, paymentId: row.id, status: settled.status, changed: { row: settled, event: PAYMENT_EVENTS.succeeded } };
		},
	},
};
