import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";
import { createOutboxTable, dropOutboxTable } from "../../../../mixins/outbox.mixin";

/**
 * The reviews service's own schema (`reviews`, created by DbMixin before this runs): no foreign key to
 * another service's tables, the tenant and the source are plain indexed columns. Later changes are new files
 * (0002-…), never edits of this one: nodes that already ran it won't run it again.
 */
export async function up(context: MigrationContext): Promise<void> {
	const { queryInterface, sequelize, schema } = context;
	const table = { tableName: "reviews", schema };
	await queryInterface.createTable(table, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		source_id: { type: DataTypes.UUID, allowNull: false },
		external_id: { type: DataTypes.STRING(200), allowNull: false },
		rating: { type: DataTypes.SMALLINT, allowNull: true },
		title: { type: DataTypes.TEXT, allowNull: true },
		body: { type: DataTypes.TEXT, allowNull: false },
		author: { type: DataTypes.STRING(200), allowNull: true },
		language: { type: DataTypes.STRING(16), allowNull: true },
		app_version: { type: DataTypes.STRING(64), allowNull: true },
		country: { type: DataTypes.STRING(2), allowNull: true },
		published_at: { type: DataTypes.DATE, allowNull: true },
		raw: { type: DataTypes.JSONB, allowNull: true },
		previous_versions: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
		edit_count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		tags: { type: DataTypes.ARRAY(DataTypes.STRING(50)), allowNull: false, defaultValue: [] },
		assignee_id: { type: DataTypes.UUID, allowNull: true },
		labelled_topic: { type: DataTypes.STRING(40), allowNull: true },
		detected_language: { type: DataTypes.STRING(16), allowNull: true },
		sentiment_score: { type: DataTypes.REAL, allowNull: true },
		sentiment_label: { type: DataTypes.STRING(8), allowNull: true },
		keywords: { type: DataTypes.JSONB, allowNull: true },
		entities: { type: DataTypes.JSONB, allowNull: true },
		topics: { type: DataTypes.ARRAY(DataTypes.STRING(40)), allowNull: true },
		analyzed_at: { type: DataTypes.DATE, allowNull: true },
		analyzer_version: { type: DataTypes.STRING(100), allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	const checks = [
		"reviews_rating_range CHECK (rating BETWEEN 1 AND 5)",
		"reviews_sentiment_known CHECK (sentiment_label IN ('positive', 'neutral', 'negative'))",
		"reviews_sentiment_range CHECK (sentiment_score BETWEEN -1 AND 1)",
		"reviews_edit_count_positive CHECK (edit_count >= 0)",
		"reviews_country_code CHECK (country ~ '^[A-Z]{2}$')",
	];
	for (const check of checks) await sequelize.query(`ALTER TABLE "${schema}".reviews ADD CONSTRAINT ${check}`);
	// Stored once per source and external id: the upsert of reviews.store relies on this index.
	await queryInterface.addIndex(table, ["tenant_id", "source_id", "external_id"], { name: "reviews_source_external_key", unique: true });
	// Lists start from the tenant, newest published first; the filters read these.
	await sequelize.query(`CREATE INDEX reviews_tenant_published_idx ON "${schema}".reviews (tenant_id, published_at DESC NULLS LAST, id)`);
	await sequelize.query(`CREATE INDEX reviews_tenant_sentiment_idx ON "${schema}".reviews (tenant_id, sentiment_label)`);
	await sequelize.query(`CREATE INDEX reviews_topics_idx ON "${schema}".reviews USING GIN (topics)`);
	await sequelize.query(`CREATE INDEX reviews_tags_idx ON "${schema}".reviews USING GIN (tags)`);
	// Re-analysis pages through a tenant's (or a source's) reviews by id.
	await queryInterface.addIndex(table, ["tenant_id", "id"], { name: "reviews_tenant_id_idx" });
	// Training reads a tenant's labelled reviews.
	await sequelize.query(`CREATE INDEX reviews_labelled_idx ON "${schema}".reviews (tenant_id, labelled_topic) WHERE labelled_topic IS NOT NULL`);
	await createOutboxTable(context);
}

export async function down(context: MigrationContext): Promise<void> {
	await dropOutboxTable(context);
	await context.queryInterface.dropTable({ tableName: "reviews", schema: context.schema });
}
