import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";

export const ENDPOINT_STATUSES = ["enabled", "disabled"] as const;
export type EndpointStatus = (typeof ENDPOINT_STATUSES)[number];

/**
 * pending (due at next_attempt_at) → sending (leased by a node) → succeeded, or → failed (a retry is due
 * at next_attempt_at) → … → exhausted (out of attempts, or the endpoint was disabled).
 */
export const DELIVERY_STATUSES = ["pending", "sending", "succeeded", "failed", "exhausted"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * A tenant's receiver. `secret` is the HMAC key every delivery is signed with, so it is sealed (recoverable
 * with SECRETS_KEY, lib/secret-box.ts) rather than hashed.
 */
export interface EndpointRow {
	id: string;
	tenantId: string;
	url: string;
	description: string | null;
	events: string[];
	/** Sealed (lib/secret-box.ts), as are previousSecret's. */
	secret: string;
	previousSecret: string | null;
	previousSecretExpiresAt: Date | null;
	status: EndpointStatus;
	enabledAt: Date;
	disabledAt: Date | null;
	disabledReason: string | null;
	lastSuccessAt: Date | null;
	createdBy: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const EndpointModel: ModelDefinition<"endpoint", EndpointRow, "events" | "status"> = {
	name: "endpoint",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		url: { type: DataTypes.STRING(2048), allowNull: false },
		description: { type: DataTypes.STRING(500), allowNull: true },
		/** Subscribed event types; empty: every event. */
		events: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
		secret: { type: DataTypes.TEXT, allowNull: false },
		/** The secret before the last rotation, still signed with until previousSecretExpiresAt; sealed like `secret`. */
		previousSecret: { type: DataTypes.TEXT, allowNull: true },
		previousSecretExpiresAt: { type: DataTypes.DATE, allowNull: true },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "enabled" },
		/** When the endpoint was created or last re-enabled: the start of its failure window. */
		enabledAt: { type: DataTypes.DATE, allowNull: false },
		disabledAt: { type: DataTypes.DATE, allowNull: true },
		disabledReason: { type: DataTypes.STRING(500), allowNull: true },
		lastSuccessAt: { type: DataTypes.DATE, allowNull: true },
		createdBy: { type: DataTypes.UUID, allowNull: true },
	},
	options: { tableName: "endpoints" },
};

/** One event of a tenant, with the exact body every endpoint receives (signed as stored). */
export interface MessageRow {
	id: string;
	tenantId: string;
	eventId: string;
	eventType: string;
	body: string;
	createdAt: Date;
	updatedAt: Date;
}

export const MessageModel: ModelDefinition<"message", MessageRow> = {
	name: "message",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		/** The `webhook-id` header: the producer's stable id, the same on every attempt. */
		eventId: { type: DataTypes.STRING(255), allowNull: false },
		eventType: { type: DataTypes.STRING(100), allowNull: false },
		body: { type: DataTypes.TEXT, allowNull: false },
	},
	options: { tableName: "messages" },
};

/** A message to one endpoint: the durable job that the delivery loop claims, attempts and reschedules. */
export interface DeliveryRow {
	id: string;
	tenantId: string;
	endpointId: string;
	messageId: string;
	status: DeliveryStatus;
	attempts: number;
	maxAttempts: number;
	nextAttemptAt: Date | null;
	leaseExpiresAt: Date | null;
	lastAttemptAt: Date | null;
	lastStatusCode: number | null;
	lastError: string | null;
	succeededAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

export const DeliveryModel: ModelDefinition<"delivery", DeliveryRow, "status" | "attempts"> = {
	name: "delivery",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		endpointId: { type: DataTypes.UUID, allowNull: false },
		messageId: { type: DataTypes.UUID, allowNull: false },
		status: { type: DataTypes.STRING(20), allowNull: false, defaultValue: "pending" },
		/** Attempts made so far; also the lease's fencing token (an outcome is recorded only for the current one). */
		attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		/** Attempts allowed before the delivery is exhausted: 1 + the retry schedule; a manual retry adds one. */
		maxAttempts: { type: DataTypes.INTEGER, allowNull: false },
		nextAttemptAt: { type: DataTypes.DATE, allowNull: true },
		leaseExpiresAt: { type: DataTypes.DATE, allowNull: true },
		lastAttemptAt: { type: DataTypes.DATE, allowNull: true },
		lastStatusCode: { type: DataTypes.INTEGER, allowNull: true },
		lastError: { type: DataTypes.TEXT, allowNull: true },
		succeededAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "deliveries" },
};

/** The log of one HTTP attempt of a delivery. */
export interface AttemptRow {
	id: string;
	deliveryId: string;
	tenantId: string;
	attempt: number;
	startedAt: Date;
	durationMs: number;
	statusCode: number | null;
	succeeded: boolean;
	error: string | null;
	responseBody: string | null;
	createdAt: Date;
	updatedAt: Date;
}

export const AttemptModel: ModelDefinition<"attempt", AttemptRow> = {
	name: "attempt",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		deliveryId: { type: DataTypes.UUID, allowNull: false },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		attempt: { type: DataTypes.INTEGER, allowNull: false },
		startedAt: { type: DataTypes.DATE, allowNull: false },
		durationMs: { type: DataTypes.INTEGER, allowNull: false },
		statusCode: { type: DataTypes.INTEGER, allowNull: true },
		succeeded: { type: DataTypes.BOOLEAN, allowNull: false },
		error: { type: DataTypes.TEXT, allowNull: true },
		/** The first bytes of the receiver's answer, as text. */
		responseBody: { type: DataTypes.TEXT, allowNull: true },
	},
	options: { tableName: "attempts" },
};
