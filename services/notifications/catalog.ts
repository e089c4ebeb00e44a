/**
 * The notification types the platform sends and the event types tenants can subscribe webhooks to. One
 * list, so the feed, preferences, templates and webhook subscriptions agree on names.
 *
 * A type's category decides whether users may silence it: security and billing messages are "critical"
 * and always reach every channel they are sent on (preferences for them are refused), as Stripe and
 * GitHub do for receipts and security alerts.
 */
export type NotificationChannel = "email" | "in_app" | "realtime";
export const NOTIFICATION_CHANNELS: readonly NotificationChannel[] = ["email", "in_app", "realtime"];

export type NotificationCategory = "security" | "billing" | "account" | "commerce" | "product" | "screenshots";
export const CRITICAL_CATEGORIES: ReadonlySet<NotificationCategory> = new Set(["security", "billing"]);

export interface NotificationTypeDefinition {
	category: NotificationCategory;
	/** Channels used when the user has set no preference for the type. */
	defaultChannels: readonly NotificationChannel[];
	/** Also delivered to the tenant's webhook endpoints subscribed to it (tenant events). */
	webhook: boolean;
	description: string;
}

export const NOTIFICATION_TYPES = {
	"account.welcome": { category: "account", defaultChannels: ["email", "in_app", "realtime"], webhook: false, description: "A new account was created" },
	"account.verify_email": { category: "security", defaultChannels: ["email"], webhook: false, description: "Confirm the email address of an account" },
	"security.password_changed": { category: "security", defaultChannels: ["email", "in_app", "realtime"], webhook: false, description: "The account's password was changed" },
	"order.paid": { category: "billing", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "An order was paid" },
	"order.refunded": { category: "billing", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "An order was refunded" },
	"payment.succeeded": { category: "billing", defaultChannels: ["in_app", "realtime"], webhook: true, description: "A payment settled" },
	"payment.failed": { category: "billing", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "A payment failed" },
	"payment.refunded": { category: "billing", defaultChannels: ["in_app", "realtime"], webhook: true, description: "A payment was refunded" },
	// Billing (services/billing): to the tenant's owners and the tenant's webhooks. What calls for action or
	// leaves a document (a failed payment, a trial about to bill, a new invoice, an ending subscription) is emailed.
	"subscription.created": { category: "billing", defaultChannels: ["in_app", "realtime"], webhook: true, description: "A subscription was started" },
	"subscription.updated": { category: "billing", defaultChannels: ["in_app", "realtime"], webhook: true, description: "A subscription changed: plan, status, or a pending cancellation" },
	"subscription.canceled": { category: "billing", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "A subscription was canceled" },
	"subscription.trial_will_end": { category: "billing", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "A subscription's trial ends in three days" },
	"invoice.finalized": { category: "billing", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "An invoice was issued" },
	"invoice.paid": { category: "billing", defaultChannels: ["in_app", "realtime"], webhook: true, description: "An invoice was paid" },
	"invoice.payment_failed": { category: "billing", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "An invoice's payment failed" },
	"invoice.voided": { category: "billing", defaultChannels: ["in_app", "realtime"], webhook: true, description: "An invoice was voided" },
	"webhook.endpoint_disabled": {
		category: "security",
		defaultChannels: ["email", "in_app", "realtime"],
		webhook: false,
		description: "A webhook endpoint was disabled after failing repeatedly",
	},
	"screenshot.job.succeeded": { category: "screenshots", defaultChannels: ["in_app", "realtime"], webhook: true, description: "A screenshot job rendered all its images" },
	"screenshot.job.failed": { category: "screenshots", defaultChannels: ["email", "in_app", "realtime"], webhook: true, description: "A screenshot job failed" },
	announcement: { category: "product", defaultChannels: ["in_app", "realtime"], webhook: false, description: "A platform-wide announcement" },
} as const satisfies Record<string, NotificationTypeDefinition>;

export type NotificationType = keyof typeof NOTIFICATION_TYPES;
export const NOTIFICATION_TYPE_NAMES = Object.keys(NOTIFICATION_TYPES) as NotificationType[];

export function isCritical(type: NotificationType): boolean {
	return CRITICAL_CATEGORIES.has(NOTIFICATION_TYPES[type].category);
}

/**
 * Event types a webhook endpoint may subscribe to: the tenant events above plus `ping`, which only
 * `POST /webhook-endpoints/:id/test` sends. An endpoint subscribed to no type gets every event.
 */
export const WEBHOOK_EVENT_TYPES: readonly string[] = [...NOTIFICATION_TYPE_NAMES.filter((type) => NOTIFICATION_TYPES[type].webhook), "ping"];
