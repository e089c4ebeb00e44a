/**
 * Billing's announcements (a mixin of billing.service.ts): each is a BillingMessage written to the
 * transactional outbox in the transaction of the change it announces, so none is lost and none is sent for
 * a change that rolled back; the relay publishes it on its BILLING_CHANNELS channel (notifications emails
 * and notifies the owners it names, and calls the tenant's webhooks).
 */
import { randomUUID } from "node:crypto";
import type { Transaction } from "sequelize";
import { BILLING_CHANNELS, type BillingEventType, type BillingMessage, type PublicInvoice, type PublicSubscription } from "./contracts";
import { type BillingHost, billingMixin } from "./billing.types";

export const Messages = billingMixin({
	methods: {
		async announceBilling(
			this: BillingHost,
			transaction: Transaction,
			type: BillingEventType,
			tenantId: string,
			owners: string[],
			at: Date,
			subject: { subscription?: PublicSubscription; invoice?: PublicInvoice },
		): Promise<void> {
			// occurredAt is billing time: under a test clock, when it happened for the tenant.
			const message: BillingMessage = { eventId: randomUUID(), type, tenantId, ownerIds: owners, occurredAt: at.toISOString(), ...subject };
			await this.writeOutbox(transaction, BILLING_CHANNELS[type], message as unknown as Record<string, unknown>);
		},
	},
});
