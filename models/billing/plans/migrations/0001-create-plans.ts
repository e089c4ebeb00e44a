import type { MigrationContext } from "../../../../lib/database";
import { FREE_PLAN_LIMITS } from "../../../../services/billing/contracts";

/**
 * Billable metrics, plan versions and coupons. The free plan is seeded: it is what a tenant without a live
 * subscription is held to, and a super admin may give it new limits (a new version) like any plan.
 */
export async function up({ sequelize, schema }: MigrationContext): Promise<void> {
	const s = `"${schema}"`;
	await sequelize.query(`
		CREATE TABLE ${s}.metrics (
			id uuid PRIMARY KEY,
			code varchar(64) NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{0,63}$'),
			name varchar(200) NOT NULL,
			description text NOT NULL DEFAULT '',
			aggregation varchar(20) NOT NULL CHECK (aggregation IN ('count', 'sum', 'max', 'unique_count')),
			field varchar(64),
			created_at timestamptz NOT NULL,
			updated_at timestamptz NOT NULL,
			CHECK (aggregation <> 'unique_count' OR field IS NOT NULL)
		);
		CREATE TABLE ${s}.plans (
			id uuid PRIMARY KEY,
			code varchar(64) NOT NULL CHECK (code ~ '^[a-z][a-z0-9_-]{0,63}$'),
			version integer NOT NULL CHECK (version >= 1),
			"current" boolean NOT NULL DEFAULT true,
			name varchar(200) NOT NULL,
			description text NOT NULL DEFAULT '',
			interval varchar(10) NOT NULL CHECK (interval IN ('month', 'year')),
			amount bigint NOT NULL CHECK (amount >= 0),
			currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
			trial_days integer NOT NULL DEFAULT 0 CHECK (trial_days BETWEEN 0 AND 730),
			limits jsonb NOT NULL DEFAULT '{}',
			features jsonb NOT NULL DEFAULT '{}',
			charges jsonb NOT NULL DEFAULT '[]',
			tax_rate_basis_points integer CHECK (tax_rate_basis_points BETWEEN 0 AND 10000),
			status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
			created_at timestamptz NOT NULL,
			updated_at timestamptz NOT NULL,
			UNIQUE (code, version)
		);
		CREATE UNIQUE INDEX plans_one_current_version ON ${s}.plans (code) WHERE "current";
		CREATE TABLE ${s}.coupons (
			id uuid PRIMARY KEY,
			code varchar(64) NOT NULL UNIQUE,
			name varchar(200) NOT NULL,
			percent_off_basis_points integer CHECK (percent_off_basis_points BETWEEN 1 AND 10000),
			amount_off bigint CHECK (amount_off > 0),
			currency char(3) CHECK (currency ~ '^[A-Z]{3}$'),
			duration varchar(20) NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
			duration_periods integer CHECK (duration_periods >= 1),
			max_redemptions integer CHECK (max_redemptions >= 1),
			times_redeemed integer NOT NULL DEFAULT 0 CHECK (times_redeemed >= 0 AND (max_redemptions IS NULL OR times_redeemed <= max_redemptions)),
			expires_at timestamptz,
			status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
			created_at timestamptz NOT NULL,
			updated_at timestamptz NOT NULL,
			CHECK ((percent_off_basis_points IS NULL) <> (amount_off IS NULL)),
			CHECK ((amount_off IS NULL) = (currency IS NULL)),
			CHECK ((duration = 'repeating') = (duration_periods IS NOT NULL))
		);
	`);
	await sequelize.query(
		`INSERT INTO ${s}.plans (id, code, version, "current", name, description, interval, amount, currency, trial_days, limits, features, charges, status, created_at, updated_at)
		 VALUES (gen_random_uuid(), 'free', 1, true, 'Free', 'What every tenant gets without a subscription', 'month', 0, 'USD', 0, :limits, '{}', '[]', 'active', now(), now())`,
		{ replacements: { limits: JSON.stringify(FREE_PLAN_LIMITS) } },
	);
}

export async function down({ sequelize, schema }: MigrationContext): Promise<void> {
	await sequelize.query(`DROP TABLE IF EXISTS "${schema}".coupons, "${schema}".plans, "${schema}".metrics`);
}
