import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";
import { createOutboxTable, dropOutboxTable } from "../../../../mixins/outbox.mixin";

/**
 * The nlp service's own schema (`nlp`): tenants' classifiers, and each tenant's corpus for TF-IDF (how many of
 * its analysed reviews contain each term, and which terms each review was counted with, so re-analysing a review
 * moves its counts instead of adding them twice). Review and tenant ids are plain columns: no foreign keys to
 * another service's tables. Later changes are new files (0002-…), never edits of this one.
 */
export async function up(context: MigrationContext): Promise<void> {
	const { queryInterface, sequelize, schema } = context;
	const classifiers = { tableName: "classifiers", schema };
	await queryInterface.createTable(classifiers, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(100), allowNull: false },
		topics: { type: DataTypes.ARRAY(DataTypes.STRING(40)), allowNull: false },
		include_defaults: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
		status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "untrained" },
		active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
		version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		model: { type: DataTypes.TEXT, allowNull: true },
		examples: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		trained_at: { type: DataTypes.DATE, allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await sequelize.query(`ALTER TABLE "${schema}".classifiers ADD CONSTRAINT classifiers_status_known CHECK (status IN ('untrained', 'trained'))`);
	await sequelize.query(`ALTER TABLE "${schema}".classifiers ADD CONSTRAINT classifiers_active_trained CHECK (NOT active OR status = 'trained')`);
	await sequelize.query(`ALTER TABLE "${schema}".classifiers ADD CONSTRAINT classifiers_topics_count CHECK (cardinality(topics) BETWEEN 2 AND 30)`);
	await queryInterface.addIndex(classifiers, ["tenant_id", "name"], { name: "classifiers_tenant_name_key", unique: true });
	await sequelize.query(`CREATE UNIQUE INDEX classifiers_one_active_key ON "${schema}".classifiers (tenant_id) WHERE active`);

	await sequelize.query(`CREATE TABLE "${schema}".corpus (
		tenant_id uuid PRIMARY KEY,
		documents integer NOT NULL CHECK (documents >= 0)
	)`);
	await sequelize.query(`CREATE TABLE "${schema}".term_stats (
		tenant_id uuid NOT NULL,
		term varchar(100) NOT NULL,
		documents integer NOT NULL,
		PRIMARY KEY (tenant_id, term)
	)`);
	await sequelize.query(`CREATE TABLE "${schema}".corpus_documents (
		review_id uuid PRIMARY KEY,
		tenant_id uuid NOT NULL,
		terms text[] NOT NULL
	)`);
	await createOutboxTable(context);
}

export async function down(context: MigrationContext): Promise<void> {
	const { queryInterface, sequelize, schema } = context;
	await dropOutboxTable(context);
	await sequelize.query(`DROP TABLE "${schema}".corpus_documents, "${schema}".term_stats, "${schema}".corpus`);
	await queryInterface.dropTable({ tableName: "classifiers", schema });
}
