import type { MigrationContext } from "../../../../lib/database";

/**
 * A subscription keeps its coupon's terms as they were when it was redeemed (Stripe's discounts do): a later
 * change or archive of the coupon never alters a running discount, and renewals need no call to plans.
 * Payment outcomes record each payment billing applied, so an outcome heard twice (the synchronous answer of
 * payments.payInvoice and the durable commerce.payment.* message about the same payment) counts once.
 */
export async function up({ sequelize, schema }: MigrationContext): Promise<void> {
	const s = `"${schema}"`;
	await sequelize.query(`
		ALTER TABLE ${s}.subscriptions
			ADD COLUMN coupon_percent_off_basis_points integer CHECK (coupon_percent_off_basis_points BETWEEN 1 AND 10000),
			ADD COLUMN coupon_amount_off bigint CHECK (coupon_amount_off >= 0);

		CREATE TABLE ${s}.payment_outcomes (
			payment_id uuid PRIMARY KEY,
			invoice_id uuid NOT NULL REFERENCES ${s}.invoices (id),
			outcome varchar(20) NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
			created_at timestamptz NOT NULL DEFAULT now()
		);
		CREATE INDEX payment_outcomes_invoice_idx ON ${s}.payment_outcomes (invoice_id);
	`);
}

export async function down({ sequelize, schema }: MigrationContext): Promise<void> {
	const s = `"${schema}"`;
	await sequelize.query(`
		DROP TABLE IF EXISTS ${s}.payment_outcomes;
		ALTER TABLE ${s}.subscriptions DROP COLUMN IF EXISTS coupon_percent_off_basis_points, DROP COLUMN IF EXISTS coupon_amount_off;
	`);
}
