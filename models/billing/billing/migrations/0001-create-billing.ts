import type { MigrationContext } from "../../../../lib/database";

/**
 * Subscriptions, invoices and their lines, per-tenant billing accounts (tax, test clock), invoice number
 * sequences and billing's due jobs. Plans and usage live in other services' schemas: referred to by id or
 * code only.
 */
export async function up({ sequelize, schema }: MigrationContext): Promise<void> {
	const s = `"${schema}"`;
	await sequelize.query(`
		CREATE TABLE ${s}.subscriptions (
			id uuid PRIMARY KEY,
			tenant_id uuid NOT NULL,
			plan_id uuid NOT NULL,
			plan_code varchar(64) NOT NULL,
			status varchar(20) NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'unpaid', 'canceled')),
			payment_method varchar(30) NOT NULL,
			current_period_start timestamptz NOT NULL,
			current_period_end timestamptz NOT NULL CHECK (current_period_end > current_period_start),
			trial_start timestamptz,
			trial_end timestamptz,
			cancel_at_period_end boolean NOT NULL DEFAULT false,
			canceled_at timestamptz,
			ended_at timestamptz,
			pending_plan_id uuid,
			coupon_id uuid,
			coupon_code varchar(64),
			coupon_periods_left integer CHECK (coupon_periods_left >= 0),
			created_by uuid,
			created_at timestamptz NOT NULL,
			updated_at timestamptz NOT NULL
		);
		-- One live subscription per tenant.
		CREATE UNIQUE INDEX subscriptions_one_live_per_tenant ON ${s}.subscriptions (tenant_id) WHERE status <> 'canceled';
		CREATE INDEX subscriptions_tenant_idx ON ${s}.subscriptions (tenant_id, created_at);
		CREATE INDEX subscriptions_plan_idx ON ${s}.subscriptions (plan_id) WHERE status <> 'canceled';

		CREATE TABLE ${s}.invoices (
			id uuid PRIMARY KEY,
			tenant_id uuid NOT NULL,
			subscription_id uuid REFERENCES ${s}.subscriptions (id),
			number varchar(32),
			status varchar(20) NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
			reason varchar(30) NOT NULL,
			currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
			subtotal bigint NOT NULL DEFAULT 0,
			discount bigint NOT NULL DEFAULT 0 CHECK (discount >= 0),
			tax bigint NOT NULL DEFAULT 0 CHECK (tax >= 0),
			total bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
			amount_paid bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
			tax_rate_basis_points integer NOT NULL DEFAULT 0 CHECK (tax_rate_basis_points BETWEEN 0 AND 10000),
			tax_inclusive boolean NOT NULL DEFAULT false,
			period_start timestamptz,
			period_end timestamptz,
			payment_attempts integer NOT NULL DEFAULT 0,
			next_payment_attempt_at timestamptz,
			payment_id uuid UNIQUE,
			pdf_file_id uuid,
			issued_at timestamptz,
			paid_at timestamptz,
			voided_at timestamptz,
			created_at timestamptz NOT NULL,
			updated_at timestamptz NOT NULL,
			CHECK ((status = 'draft') = (number IS NULL))
		);
		CREATE UNIQUE INDEX invoices_number_per_tenant ON ${s}.invoices (tenant_id, number) WHERE number IS NOT NULL;
		CREATE INDEX invoices_tenant_created_idx ON ${s}.invoices (tenant_id, created_at DESC);
		CREATE INDEX invoices_subscription_idx ON ${s}.invoices (subscription_id);

		CREATE TABLE ${s}.invoice_lines (
			id uuid PRIMARY KEY,
			invoice_id uuid NOT NULL REFERENCES ${s}.invoices (id) ON DELETE CASCADE,
			position integer NOT NULL,
			kind varchar(30) NOT NULL CHECK (kind IN ('fixed_fee', 'proration_credit', 'proration_charge', 'metered', 'discount', 'tax')),
			description varchar(500) NOT NULL,
			metric varchar(64),
			quantity bigint NOT NULL,
			amount bigint NOT NULL,
			period_start timestamptz,
			period_end timestamptz,
			details jsonb NOT NULL DEFAULT '{}',
			UNIQUE (invoice_id, position)
		);

		CREATE TABLE ${s}.billing_accounts (
			tenant_id uuid PRIMARY KEY,
			tax_rate_basis_points integer NOT NULL DEFAULT 0 CHECK (tax_rate_basis_points BETWEEN 0 AND 10000),
			tax_inclusive boolean NOT NULL DEFAULT false,
			clock_offset_ms bigint NOT NULL DEFAULT 0 CHECK (clock_offset_ms >= 0),
			created_at timestamptz NOT NULL,
			updated_at timestamptz NOT NULL
		);

		-- Invoice numbers per tenant and year, without gaps: taken under the row's lock in the finalizing transaction.
		CREATE TABLE ${s}.invoice_sequences (
			tenant_id uuid NOT NULL,
			year integer NOT NULL,
			last_number integer NOT NULL,
			PRIMARY KEY (tenant_id, year)
		);

		CREATE TABLE ${s}.jobs (
			id uuid PRIMARY KEY,
			kind varchar(30) NOT NULL CHECK (kind IN ('trial_will_end', 'trial_end', 'period_end', 'payment_retry')),
			tenant_id uuid NOT NULL,
			subject_id uuid NOT NULL,
			due_at timestamptz NOT NULL,
			status varchar(20) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'canceled', 'failed')),
			attempts integer NOT NULL DEFAULT 0,
			leased_until timestamptz,
			last_error text,
			created_at timestamptz NOT NULL,
			updated_at timestamptz NOT NULL
		);
		-- A timer is set once: the same kind for the same subject and moment is one job.
		CREATE UNIQUE INDEX jobs_once ON ${s}.jobs (kind, subject_id, due_at);
		CREATE INDEX jobs_due_idx ON ${s}.jobs (due_at) WHERE status = 'pending';
		CREATE INDEX jobs_tenant_due_idx ON ${s}.jobs (tenant_id, due_at) WHERE status = 'pending';
	`);
}

export async function down({ sequelize, schema }: MigrationContext): Promise<void> {
	const s = `"${schema}"`;
	await sequelize.query(`DROP TABLE IF EXISTS ${s}.jobs, ${s}.invoice_sequences, ${s}.billing_accounts, ${s}.invoice_lines, ${s}.invoices, ${s}.subscriptions`);
}
