/**
 * The platform super admin named by BOOTSTRAP_ADMIN_EMAIL/BOOTSTRAP_ADMIN_PASSWORD: created at the first start,
 * once, whichever auth node gets there first. The node's readiness waits for it, so a client that waits for
 * /readyz can sign in as that admin at once.
 */
import type { Logger as LoggerInstance, ServiceBroker } from "moleculer";
import { systemCall } from "../../lib/caller";
import { addReadinessCheck } from "../../lib/readiness";
import { platformConfigOf } from "../../lib/node";
import type { AuditEntry } from "../../mixins/audit.mixin";

interface CreatedUser {
	id: string;
	email: string;
}

const MAX_RETRY_MS = 30_000;

async function ensureBootstrapAdmin(broker: ServiceBroker, logger: LoggerInstance, audit: (entry: AuditEntry) => Promise<void>): Promise<void> {
	const admin = platformConfigOf(broker).bootstrapAdmin;
	if (!admin) return;
	await broker.waitForServices(["users", "tenants"], 60_000);
	const existing = await broker.call<CreatedUser | null, object>("users.findByEmail", { email: admin.email }, systemCall());
	if (existing) return;
	try {
		const user = await broker.call<CreatedUser, object>("users.createAccount", { email: admin.email, password: admin.password, fullName: "Platform administrator", persona: "super_admin", emailVerified: true }, systemCall());
		await broker.call("tenants.createForOwner", { name: "Platform", ownerId: user.id }, systemCall());
		await audit({ action: "auth.bootstrap_admin_created", actorId: user.id, actorEmail: user.email });
		logger.info(`Created the bootstrap super admin ${admin.email}`);
	} catch (err) {
		// Another node won the race: the account exists, which is all that matters.
		if ((err as { type?: string }).type !== "EMAIL_TAKEN") throw err;
	}
}

/**
 * In the background (users and tenants may live on nodes that start later), retried until it exists; until
 * then the node's readiness check `bootstrapAdmin` is down. Answers the function that stops it.
 */
export function startBootstrapAdmin(broker: ServiceBroker, logger: LoggerInstance, audit: (entry: AuditEntry) => Promise<void>): () => void {
	if (!platformConfigOf(broker).bootstrapAdmin) return () => undefined;
	let done = false;
	let stopped = false;
	let waiting = "the bootstrap super admin is being created";
	let timer: NodeJS.Timeout | undefined;
	const removeCheck = addReadinessCheck(broker, "bootstrapAdmin", () => {
		if (done) return "up";
		throw new Error(waiting);
	});
	const attempt = (retryMs: number) => {
		ensureBootstrapAdmin(broker, logger, audit).then(
			() => (done = true),
			(err: Error) => {
				if (stopped) return;
				waiting = `creating the bootstrap super admin failed (retrying): ${err.message}`;
				logger.error("Creating the bootstrap super admin failed; retrying", err);
				timer = setTimeout(() => attempt(Math.min(retryMs * 2, MAX_RETRY_MS)), retryMs);
			},
		);
	};
	attempt(1_000);
	return () => {
		stopped = true;
		clearTimeout(timer);
		removeCheck();
	};
}
