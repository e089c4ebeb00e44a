import { DataTypes } from "sequelize";
import type { ModelDefinition } from "../../../mixins/db.mixin";
import type { CLASSIFIER_STATUSES } from "../../../services/reviews/contracts";

/** untrained: created, no model yet; trained: `model` holds natural's serialised BayesClassifier. */
export type ClassifierStatus = (typeof CLASSIFIER_STATUSES)[number];

/**
 * A tenant's topic classifier. At most one per tenant is active (a partial unique index): the one the tenant's
 * reviews are classified with; none active means the default classifier. Each training bumps `version`, which
 * the results name (`analyzer_version`) and nodes key their cache of restored classifiers on.
 */
export const ClassifierModel: ModelDefinition = {
	name: "classifier",
	define: {
		id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
		tenantId: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(100), allowNull: false },
		topics: { type: DataTypes.ARRAY(DataTypes.STRING(40)), allowNull: false },
		includeDefaults: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
		status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "untrained" },
		active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
		version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
		model: { type: DataTypes.TEXT, allowNull: true },
		examples: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
		trainedAt: { type: DataTypes.DATE, allowNull: true },
	},
	options: { tableName: "classifiers" },
};

export interface ClassifierRow {
	id: string;
	tenantId: string;
	name: string;
	topics: string[];
	includeDefaults: boolean;
	status: ClassifierStatus;
	active: boolean;
	version: number;
	model: string | null;
	/** The tenant's labelled reviews it was trained on, per topic. */
	examples: Record<string, number>;
	trainedAt: Date | null;
	createdAt: Date;
	updatedAt: Date;
}
