import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";
import type { EntityType, ReviewVersion, SentimentLabel } from "../../../services/reviews/contracts";

/**
 * A review as stored once per (tenant, source, external id), with the NLP results beside it. Columns are
 * snake_case in PostgreSQL (the shared pool defines models `underscored`), camelCase here.
 */
export const ReviewModel: ModelDefinition = {
	name: "review",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		/** The owning tenant and the source it came from: plain values (no foreign key across services). */
		tenantId: { type: DataTypes.UUID, allowNull: false },
		sourceId: { type: DataTypes.UUID, allowNull: false },
		externalId: { type: DataTypes.STRING(200), allowNull: false },
		rating: { type: DataTypes.SMALLINT, allowNull: true },
		title: { type: DataTypes.TEXT, allowNull: true },
		body: { type: DataTypes.TEXT, allowNull: false },
		author: { type: DataTypes.STRING(200), allowNull: true },
		language: { type: DataTypes.STRING(16), allowNull: true },
		appVersion: { type: DataTypes.STRING(64), allowNull: true },
		country: { type: DataTypes.STRING(2), allowNull: true },
		publishedAt: { type: DataTypes.DATE, allowNull: true },
		raw: { type: DataTypes.JSONB, allowNull: true },
		previousVersions: { type: DataTypes.JSONB, allowNull: false, defaultValue: [] },
		editCount: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		tags: { type: DataTypes.ARRAY(DataTypes.STRING(50)), allowNull: false, defaultValue: [] },
		assigneeId: { type: DataTypes.UUID, allowNull: true },
		labelledTopic: { type: DataTypes.STRING(40), allowNull: true },
		// NLP results (written by the nlp service through reviews.saveAnalysis).
		detectedLanguage: { type: DataTypes.STRING(16), allowNull: true },
		sentimentScore: { type: DataTypes.REAL, allowNull: true },
		sentimentLabel: { type: DataTypes.STRING(8), allowNull: true },
		keywords: { type: DataTypes.JSONB, allowNull: true },
		entities: { type: DataTypes.JSONB, allowNull: true },
		topics: { type: DataTypes.ARRAY(DataTypes.STRING(40)), allowNull: true },
		analyzedAt: { type: DataTypes.DATE, allowNull: true },
		analyzerVersion: { type: DataTypes.STRING(100), allowNull: true },
	},
	options: { tableName: "reviews" },
};

/** A row as Sequelize gives it. */
export interface ReviewRow {
	id: string;
	tenantId: string;
	sourceId: string;
	externalId: string;
	rating: number | null;
	title: string | null;
	body: string;
	author: string | null;
	language: string | null;
	appVersion: string | null;
	country: string | null;
	publishedAt: Date | null;
	raw: Record<string, unknown> | null;
	previousVersions: ReviewVersion[];
	editCount: number;
	tags: string[];
	assigneeId: string | null;
	labelledTopic: string | null;
	detectedLanguage: string | null;
	sentimentScore: number | null;
	sentimentLabel: SentimentLabel | null;
	keywords: Array<{ term: string; score: number }> | null;
	entities: Array<{ type: EntityType; text: string; value: string }> | null;
	topics: string[] | null;
	analyzedAt: Date | null;
	analyzerVersion: string | null;
	createdAt: Date;
	updatedAt: Date;
}
