/**
 * Tenants' saved cards (a mixin of payments.service.ts), so billing can charge a subscription's invoices
 * without the payer, as Stripe Billing does: a processor customer per tenant (a Stripe customer, created the
 * first time it is needed), a SetupIntent the tenant's owner or admin confirms in the browser with Stripe.js
 * (`POST /payment-methods/setup` answers its client secret, once), and the processor's `setup_intent.succeeded`
 * webhook, which records the card (brand, last 4 digits, expiry; never the number or the processor's id in an
 * answer) as the tenant's default. `GET /payment-methods` lists them, `DELETE /payment-methods/:id` detaches
 * one at the processor and forgets it (the newest remaining card becomes the default, so invoices keep a card
 * to go to). Billing reads the default with `payments.defaultPaymentMethod { tenantId }`;
 * `payments.payInvoice` charges it (payments-invoices.ts).
 */
import type { Context, ServiceSchema } from "moleculer";
import type { Transaction } from "sequelize";
import { plainRow } from "../../mixins/db.mixin";
import { entityOf } from "../../middlewares/entity-scope.middleware";
import { requireTenant } from "../../lib/caller";
import { UnprocessableEntityError, isFinalRefusal } from "../../lib/errors";
import { apiPath } from "../../lib/api-path";
import { Type } from "../../lib/schema";
import { PAYMENT_METHOD_EVENTS, PaymentMethodSetupSchema, PublicSavedPaymentMethodSchema, type PaymentMethodSetup, type PublicSavedPaymentMethod } from "./contracts";
import { savesMethods, type PaymentProvider, type ProviderEvent, type SavedMethodDetails, type SavedMethodSupport } from "./payment-provider";
import type { PaymentCustomerRow, PaymentsContext, PaymentsDb, PaymentsLocals, PaymentsMethods, SavedMethodRow } from "./payments.types";

/** A card a confirmed set-up saved, read from the processor, for its tenant. */
export interface SavedCard {
	tenantId: string;
	provider: string;
	customerId: string;
	details: SavedMethodDetails;
}

export interface SavedMethodsMethods {
	/** The provider that keeps cards, or 422 METHOD_NOT_AVAILABLE (Stripe not configured). */
	cardVault(): PaymentProvider & SavedMethodSupport;
	/** The tenant's customer at the provider; created there (and recorded) when `create` and there is none. */
	customerOf(tenantId: string, provider: PaymentProvider & SavedMethodSupport, create: boolean): Promise<PaymentCustomerRow | undefined>;
	defaultSavedMethod(tenantId: string): Promise<SavedMethodRow | undefined>;
	/** The card a `setup_succeeded` event saved, read before the webhook's transaction; or why it is ignored. */
	savedMethodOfSetup(event: Extract<ProviderEvent, { kind: "setup_succeeded" }>, provider: PaymentProvider): Promise<SavedCard | { ignored: string }>;
	/** Records the card as its tenant's default, in the webhook's transaction. */
	recordSavedMethod(card: SavedCard, transaction: Transaction): Promise<SavedMethodRow>;
	toPublicSavedMethod(row: SavedMethodRow): PublicSavedPaymentMethod;
	/** The caller's tenant's saved cards, the default first. */
	listSavedMethods(ctx: PaymentsContext): Promise<PublicSavedPaymentMethod[]>;
}

type Host = PaymentsDb & PaymentsMethods & SavedMethodsMethods & PaymentsLocals;

export const PaymentsSavedMethods: Partial<ServiceSchema> = {
	actions: {
		setupPaymentMethod: {
			rest: { method: "POST", fullPath: apiPath("payment-methods/setup") },
			responses: { 200: { description: "The SetupIntent's client secret, for Stripe.js (answered only here)", body: PaymentMethodSetupSchema } },
			errors: { 422: ["METHOD_NOT_AVAILABLE", "PAYMENT_PROVIDER_REJECTED"], 503: ["PAYMENT_PROVIDER_UNAVAILABLE"] },
			permissions: ["tenant:admin"],
			summary: "Save a card for your organization's invoices: starts a Stripe SetupIntent (tenant owners and admins)",
			description:
				"Creates the organization's Stripe customer if it has none, and a SetupIntent for a card to be charged later without you (`usage: off_session`). Confirm it with Stripe.js (`confirmCardSetup` with `clientSecret`); Stripe's `setup_intent.succeeded` webhook then saves the card as the organization's default. 422 METHOD_NOT_AVAILABLE when Stripe is not configured.",
			params: { $$strict: "remove" },
			async handler(ctx: PaymentsContext): Promise<PaymentMethodSetup> {
				const tenantId = requireTenant(ctx.meta);
				const vault = this.cardVault();
				const customer = (await this.customerOf(tenantId, vault, true))!;
				const setup = await vault.startSetup({ customerId: customer.customerId, tenantId });
				return { provider: vault.name, setupIntentId: setup.setupId, clientSecret: setup.clientSecret };
			},
		},

		listPaymentMethods: {
			rest: { method: "GET", fullPath: apiPath("payment-methods") },
			responses: { 200: { description: "The organization's saved cards, the default first", body: Type.Array(PublicSavedPaymentMethodSchema) } },
			permissions: ["tenant:admin"],
			summary: "Your organization's saved cards (tenant owners and admins)",
			params: { $$strict: "remove" },
			async handler(ctx: PaymentsContext): Promise<PublicSavedPaymentMethod[]> {
				return this.listSavedMethods(ctx);
			},
		},

		deletePaymentMethod: {
			rest: { method: "DELETE", fullPath: apiPath("payment-methods/:id") },
			responses: { 204: "Detached at the processor and forgotten" },
			errors: { 503: ["PAYMENT_PROVIDER_UNAVAILABLE"] },
			permissions: ["tenant:admin"],
			summary: "Remove a saved card (tenant owners and admins); the newest remaining card becomes the default",
			params: { id: "string|max:64" },
			scope: { entity: "savedMethod", name: "PaymentMethod" },
			async handler(ctx: PaymentsContext<{ id: string }>) {
				const row = entityOf<SavedMethodRow>(ctx);
				const vault = this.providers.savedMethods();
				if (vault?.name === row.provider) {
					try {
						await vault.detachSavedMethod(row.providerMethodId);
					} catch (err) {
						// Already detached or gone at the processor: nothing left to charge, so it goes here too.
						if (!isFinalRefusal(err)) throw err;
						this.logger.warn(`Saved card ${row.id} (${row.providerMethodId}) could not be detached, forgotten anyway: ${(err as Error).message}`);
					}
				}
				await this.adapter.db.transaction(async (transaction: Transaction) => {
					await this.models.savedMethod.destroy({ where: { id: row.id }, transaction });
					if (!row.isDefault) return;
					const newest = await this.models.savedMethod.findOne({ where: { tenantId: row.tenantId }, order: [["createdAt", "DESC"]], transaction });
					if (newest) await newest.update({ isDefault: true }, { transaction });
				});
				await this.entityChanged("removed", { id: row.id }, ctx);
				await ctx.emit(PAYMENT_METHOD_EVENTS.removed, { paymentMethod: this.toPublicSavedMethod({ ...row, isDefault: false }) });
				ctx.meta.$statusCode = 204;
				return null;
			},
		},

		/** Internal (billing): the card the tenant's invoices are charged to, or null. */
		defaultPaymentMethod: {
			visibility: "public",
			permissions: ["super_admin"],
			params: { tenantId: "uuid", $$strict: "remove" },
			async handler(ctx: Context<{ tenantId: string }>): Promise<PublicSavedPaymentMethod | null> {
				const row = await this.defaultSavedMethod(ctx.params.tenantId.toLowerCase());
				return row ? this.toPublicSavedMethod(row) : null;
			},
		},
	},

	methods: {
		async listSavedMethods(this: Host, ctx: PaymentsContext): Promise<PublicSavedPaymentMethod[]> {
			const rows = await this.scoped(ctx, "savedMethod").findAll({}, {
				order: [
					["isDefault", "DESC"],
					["createdAt", "DESC"],
					["id", "ASC"],
				],
			});
			return rows.map((row) => this.toPublicSavedMethod(row));
		},

		cardVault(this: Host) {
			const vault = this.providers.savedMethods();
			if (!vault) throw new UnprocessableEntityError("Saved cards are not available: Stripe is not configured", "METHOD_NOT_AVAILABLE", { method: "credit_card" });
			return vault;
		},

		async customerOf(this: Host, tenantId: string, provider: PaymentProvider & SavedMethodSupport, create: boolean): Promise<PaymentCustomerRow | undefined> {
			const where = { tenantId, provider: provider.name };
			const found = plainRow(await this.models.paymentCustomer.findOne({ where }));
			if (found || !create) return found;
			// The same key on every attempt: two set-ups started at once make one customer at the processor.
			const { customerId } = await provider.createCustomer({ tenantId, idempotencyKey: `customer-${tenantId}` });
			try {
				return (await this.models.paymentCustomer.create({ tenantId, provider: provider.name, customerId })).get({ plain: true });
			} catch (err) {
				if ((err as Error).name !== "SequelizeUniqueConstraintError") throw err;
				return plainRow(await this.models.paymentCustomer.findOne({ where }))!;
			}
		},

		async defaultSavedMethod(this: Host, tenantId: string): Promise<SavedMethodRow | undefined> {
			return plainRow(await this.models.savedMethod.findOne({ where: { tenantId, isDefault: true } }));
		},

		async savedMethodOfSetup(this: Host, event: Extract<ProviderEvent, { kind: "setup_succeeded" }>, provider: PaymentProvider): Promise<SavedCard | { ignored: string }> {
			if (!savesMethods(provider) || !event.customerId || !event.methodId) return { ignored: "no customer or payment method" };
			const customer = plainRow(await this.models.paymentCustomer.findOne({ where: { provider: provider.name, customerId: event.customerId } }));
			if (!customer) {
				this.logger.warn(`Set-up ${event.setupId} (event ${event.id}) is for an unknown customer ${event.customerId}; acknowledged, ignored`);
				return { ignored: "unknown customer" };
			}
			return { tenantId: customer.tenantId, provider: provider.name, customerId: customer.customerId, details: await provider.describeSavedMethod(event.methodId) };
		},

		async recordSavedMethod(this: Host, card: SavedCard, transaction: Transaction): Promise<SavedMethodRow> {
			// One tenant's cards change one at a time (its customer row is the lock), so it never has two defaults.
			await this.models.paymentCustomer.findOne({ where: { tenantId: card.tenantId, provider: card.provider }, lock: transaction.LOCK.UPDATE, transaction });
			await this.models.savedMethod.update({ isDefault: false }, { where: { tenantId: card.tenantId, isDefault: true }, transaction });
			const { brand, last4, expMonth, expYear, type, methodId } = card.details;
			const values = { tenantId: card.tenantId, provider: card.provider, customerId: card.customerId, providerMethodId: methodId, type, brand, last4, expMonth, expYear, isDefault: true };
			const existing = await this.models.savedMethod.findOne({ where: { provider: card.provider, providerMethodId: methodId }, transaction });
			const row = existing ? await existing.update(values, { transaction }) : await this.models.savedMethod.create(values, { transaction });
			return row.get({ plain: true });
		},

		toPublicSavedMethod(row: SavedMethodRow): PublicSavedPaymentMethod {
			return {
				id: row.id,
				tenantId: row.tenantId,
				type: "card",
				brand: row.brand,
				last4: row.last4,
				expMonth: Number(row.expMonth),
				expYear: Number(row.expYear),
				isDefault: Boolean(row.isDefault),
				createdAt: new Date(row.createdAt).toISOString(),
			};
		},
	},
};
