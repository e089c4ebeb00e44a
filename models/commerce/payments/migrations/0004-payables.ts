import type { MigrationContext } from "../../../../lib/database";

/**
 * A payment pays a payable: an order (as every payment did until now) or an invoice of billing.
 * `payable_type`/`payable_id` name it; `order_id` stays the order's id for orders (null otherwise), so
 * everything that reads payments by order keeps working. Existing rows are orders: backfilled.
 *
 * Rows written by the previous version (nodes still running it during a rolling deploy, or a test writing a
 * row by hand) name only `order_id`: a trigger fills the payable from it, so they stay valid.
 *
 * An invoice is paid by its tenant, not a user (`user_id` may be null, never for an order). One pending
 * payment per payable replaces one per order. `idempotency_key` lets an internal caller (billing) replay a
 * request and get the same payment; `failure_code`, `decline_code` and `failure_message` say why a processor
 * refused a charge.
 */
export async function up({ sequelize, schema }: MigrationContext): Promise<void> {
	const table = `"${schema}".payments`;
	await sequelize.query(`
		ALTER TABLE ${table}
			ADD COLUMN payable_type VARCHAR(20) NOT NULL DEFAULT 'order',
			ADD COLUMN payable_id UUID,
			ADD COLUMN idempotency_key VARCHAR(255),
			ADD COLUMN failure_code VARCHAR(100),
			ADD COLUMN decline_code VARCHAR(100),
			ADD COLUMN failure_message VARCHAR(500)`);
	await sequelize.query(`UPDATE ${table} SET payable_id = order_id WHERE payable_id IS NULL`);
	await sequelize.query(`
		CREATE FUNCTION "${schema}".payments_fill_payable() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.payable_id IS NULL AND NEW.payable_type = 'order' THEN
				NEW.payable_id := NEW.order_id;
			END IF;
			RETURN NEW;
		END $$`);
	await sequelize.query(`CREATE TRIGGER payments_fill_payable BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION "${schema}".payments_fill_payable()`);
	await sequelize.query(`
		ALTER TABLE ${table}
			ALTER COLUMN payable_id SET NOT NULL,
			ALTER COLUMN order_id DROP NOT NULL,
			ALTER COLUMN user_id DROP NOT NULL,
			ADD CONSTRAINT payments_payable_type_known CHECK (payable_type IN ('order', 'invoice')),
			ADD CONSTRAINT payments_order_is_payable CHECK ((payable_type = 'order') = (order_id IS NOT NULL) AND (order_id IS NULL OR order_id = payable_id)),
			ADD CONSTRAINT payments_order_has_payer CHECK (payable_type <> 'order' OR user_id IS NOT NULL),
			ADD CONSTRAINT payments_invoice_has_tenant CHECK (payable_type <> 'invoice' OR tenant_id IS NOT NULL),
			DROP CONSTRAINT payments_status_reason_known,
			ADD CONSTRAINT payments_status_reason_known CHECK (status_reason IN ('order_cancelled', 'order_already_paid', 'order_not_payable', 'invoice_voided'))`);
	await sequelize.query(`CREATE INDEX payments_payable_idx ON ${table} (payable_type, payable_id)`);
	// At most one pending payment per payable (an order, an invoice), even when two nodes create one at once.
	await sequelize.query(`CREATE UNIQUE INDEX payments_one_pending_per_payable ON ${table} (payable_type, payable_id) WHERE status = 'pending'`);
	await sequelize.query(`DROP INDEX "${schema}".payments_one_pending_per_order`);
	await sequelize.query(`CREATE UNIQUE INDEX payments_idempotency_key ON ${table} (payable_type, payable_id, idempotency_key) WHERE idempotency_key IS NOT NULL`);
}

export async function down({ sequelize, schema }: MigrationContext): Promise<void> {
	const table = `"${schema}".payments`;
	await sequelize.query(`DELETE FROM ${table} WHERE payable_type <> 'order'`);
	await sequelize.query(`CREATE UNIQUE INDEX payments_one_pending_per_order ON ${table} (order_id) WHERE status = 'pending'`);
	await sequelize.query(`DROP INDEX "${schema}".payments_one_pending_per_payable`);
	await sequelize.query(`DROP INDEX "${schema}".payments_idempotency_key`);
	await sequelize.query(`DROP INDEX "${schema}".payments_payable_idx`);
	await sequelize.query(`UPDATE ${table} SET status_reason = NULL WHERE status_reason = 'invoice_voided'`);
	await sequelize.query(`
		ALTER TABLE ${table}
			DROP CONSTRAINT payments_status_reason_known,
			ADD CONSTRAINT payments_status_reason_known CHECK (status_reason IN ('order_cancelled', 'order_already_paid', 'order_not_payable')),
			DROP CONSTRAINT payments_payable_type_known,
			DROP CONSTRAINT payments_order_is_payable,
			DROP CONSTRAINT payments_order_has_payer,
			DROP CONSTRAINT payments_invoice_has_tenant,
			ALTER COLUMN order_id SET NOT NULL,
			ALTER COLUMN user_id SET NOT NULL`);
	await sequelize.query(`DROP TRIGGER payments_fill_payable ON ${table}`);
	await sequelize.query(`DROP FUNCTION "${schema}".payments_fill_payable()`);
	await sequelize.query(`
		ALTER TABLE ${table}
			DROP COLUMN payable_type,
			DROP COLUMN payable_id,
			DROP COLUMN idempotency_key,
			DROP COLUMN failure_code,
			DROP COLUMN decline_code,
			DROP COLUMN failure_message`);
}
