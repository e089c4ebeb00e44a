import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";
import { createOutboxTable } from "../../../../mixins/outbox.mixin";

/**
 * The screenshot-jobs service's own schema (`screenshot_jobs`, created by DbMixin before this runs): jobs, their
 * results (one per job and target, removed with the job) and the outbox. No foreign key to another service's
 * tables: the tenant, the creator and each result's file are plain values. Later changes are new files (0002-…),
 * never edits of this one: nodes that already ran it won't run it again.
 */
export async function up(context: MigrationContext): Promise<void> {
	const { queryInterface, sequelize, schema } = context;
	const jobs = { tableName: "screenshot_jobs", schema };
	await queryInterface.createTable(jobs, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		created_by: { type: DataTypes.UUID, allowNull: true },
		creator_kind: { type: DataTypes.STRING(16), allowNull: false },
		status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "queued" },
		progress: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		input: { type: DataTypes.JSONB, allowNull: false },
		html: { type: DataTypes.TEXT, allowNull: true },
		credentials: { type: DataTypes.TEXT, allowNull: true },
		targets: { type: DataTypes.JSONB, allowNull: false },
		images: { type: DataTypes.INTEGER, allowNull: false },
		attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		error_code: { type: DataTypes.STRING(40), allowNull: true },
		error: { type: DataTypes.TEXT, allowNull: true },
		started_at: { type: DataTypes.DATE, allowNull: true },
		finished_at: { type: DataTypes.DATE, allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await sequelize.query(`ALTER TABLE "${schema}".screenshot_jobs ADD CONSTRAINT screenshot_jobs_status_known CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled'))`);
	await sequelize.query(`ALTER TABLE "${schema}".screenshot_jobs ADD CONSTRAINT screenshot_jobs_progress_percent CHECK (progress BETWEEN 0 AND 100)`);
	await sequelize.query(`ALTER TABLE "${schema}".screenshot_jobs ADD CONSTRAINT screenshot_jobs_images_positive CHECK (images > 0)`);
	// Lists start from the tenant, newest first; the monthly quota sums a tenant's jobs since the month began.
	await queryInterface.addIndex(jobs, ["tenant_id", "created_at"], { name: "screenshot_jobs_tenant_created_idx" });
	await queryInterface.addIndex(jobs, ["tenant_id", "status"], { name: "screenshot_jobs_tenant_status_idx" });

	await queryInterface.createTable(
		{ tableName: "screenshot_results", schema },
		{
			job_id: { type: DataTypes.UUID, primaryKey: true, references: { model: jobs, key: "id" }, onDelete: "CASCADE" },
			target_id: { type: DataTypes.STRING(64), primaryKey: true },
			file_id: { type: DataTypes.UUID, allowNull: false },
			format: { type: DataTypes.STRING(8), allowNull: false },
			width: { type: DataTypes.INTEGER, allowNull: false },
			height: { type: DataTypes.INTEGER, allowNull: false },
			bytes: { type: DataTypes.INTEGER, allowNull: false },
			blocked_requests: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await createOutboxTable(context);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "outbox", schema });
	await queryInterface.dropTable({ tableName: "screenshot_results", schema });
	await queryInterface.dropTable({ tableName: "screenshot_jobs", schema });
}
