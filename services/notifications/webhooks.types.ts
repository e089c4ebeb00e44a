/**
 * The shapes of the webhooks service: its settings, the endpoint row, its locals and methods, shared by the
 * endpoint API (webhooks.service.ts) and the delivery engine (webhook-delivery.ts).
 */
import type { Context } from "moleculer";
import type { DbMixinSettings } from "../../mixins/db.mixin";
import type { CallerMeta } from "../../lib/caller";
import type { OutboundClient } from "../../lib/outbound/client";
import type { SecretBox } from "../../lib/secret-box";
import type { EndpointRow, EndpointStatus } from "../../models/notifications/webhooks/webhook.models";
import type { DispatchParams, DispatchResult, PublicEndpoint } from "./contracts";
import type { AttemptOutcome, DeliveryJob, DeliveryView, WebhookDeliveryStore } from "./webhook-deliveries";

export type { EndpointRow } from "../../models/notifications/webhooks/webhook.models";

export interface WebhooksSettings extends DbMixinSettings {
	retryScheduleMs: number[];
	timeoutMs: number;
	disableAfterMs: number;
	/** Production endpoints must be https, unless their host is in OUTBOUND_ALLOW_HOSTS. */
	requireHttps: boolean;
}

export interface EndpointInput {
	url?: string;
	events?: string[];
	description?: string | null;
	status?: EndpointStatus;
}

export interface WebhooksLocals {
	outbound: OutboundClient;
	secretBox: SecretBox;
	store: WebhookDeliveryStore;
	purgeTimer?: NodeJS.Timeout;
}

export interface WebhooksMethods {
	isApiKeyCaller(ctx: Context<unknown, CallerMeta>): boolean;
	findDelivery(id: string): Promise<DeliveryView | undefined>;
	validateUrl(value: string): Promise<string>;
	toPublic(row: EndpointRow): PublicEndpoint;
	sealSecret(endpointId: string, column: SecretColumn, secret: string): string;
	openSecret(endpointId: string, column: SecretColumn, stored: string): string;
	resealSecrets(): Promise<void>;
	enqueue(input: DispatchParams & { eventId: string; endpointId?: string }): Promise<DispatchResult & { deliveryIds: string[] }>;
	claimDeliveries(limit: number): Promise<DeliveryJob[]>;
	attemptDelivery(job: DeliveryJob, signal: AbortSignal): Promise<void>;
	endpointFailed(job: DeliveryJob, outcome: AttemptOutcome): Promise<void>;
	announceDisabled(endpoint: { id: string; tenantId: string; url: string }, reason: string): Promise<void>;
}

export type WebhooksContext<P = Record<string, unknown>> = Context<P, CallerMeta>;
export type SecretColumn = "secret" | "previous_secret";
