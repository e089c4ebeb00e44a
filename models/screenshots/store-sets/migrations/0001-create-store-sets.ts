import { DataTypes } from "sequelize";
import type { MigrationContext } from "../../../../lib/database";

/**
 * The store-sets service's own schema (`store_sets`, created by DbMixin before this runs): apps, their store sets
 * and the sets' screens. Foreign keys stay inside this schema (a set's app, a screen's set); the tenant and every
 * file (icon, screenshots, background image) are plain values of other services.
 */
export async function up({ queryInterface, sequelize, schema }: MigrationContext): Promise<void> {
	const apps = { tableName: "apps", schema };
	await queryInterface.createTable(apps, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		name: { type: DataTypes.STRING(100), allowNull: false },
		bundle_id: { type: DataTypes.STRING(155), allowNull: true },
		package_name: { type: DataTypes.STRING(155), allowNull: true },
		app_store_id: { type: DataTypes.STRING(20), allowNull: true },
		platforms: { type: DataTypes.ARRAY(DataTypes.STRING(16)), allowNull: false, defaultValue: [] },
		icon_file_id: { type: DataTypes.UUID, allowNull: true },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await sequelize.query(`ALTER TABLE "${schema}".apps ADD CONSTRAINT apps_platforms_known CHECK (platforms <@ ARRAY['ios', 'android']::varchar[])`);
	// One app per bundle id and per package name in a tenant: a second is 409 ALREADY_EXISTS.
	await sequelize.query(`CREATE UNIQUE INDEX apps_tenant_bundle_id ON "${schema}".apps (tenant_id, bundle_id) WHERE bundle_id IS NOT NULL`);
	await sequelize.query(`CREATE UNIQUE INDEX apps_tenant_package_name ON "${schema}".apps (tenant_id, package_name) WHERE package_name IS NOT NULL`);
	await queryInterface.addIndex(apps, ["tenant_id", "created_at"], { name: "apps_tenant_created_idx" });

	const sets = { tableName: "store_sets", schema };
	await queryInterface.createTable(sets, {
		id: { type: DataTypes.UUID, primaryKey: true },
		tenant_id: { type: DataTypes.UUID, allowNull: false },
		app_id: { type: DataTypes.UUID, allowNull: false, references: { model: apps, key: "id" }, onDelete: "CASCADE" },
		name: { type: DataTypes.STRING(100), allowNull: false },
		locales: { type: DataTypes.ARRAY(DataTypes.STRING(16)), allowNull: false },
		theme: { type: DataTypes.JSONB, allowNull: false },
		frame: { type: DataTypes.STRING(16), allowNull: false, defaultValue: "device" },
		created_at: { type: DataTypes.DATE, allowNull: false },
		updated_at: { type: DataTypes.DATE, allowNull: false },
	});
	await sequelize.query(`ALTER TABLE "${schema}".store_sets ADD CONSTRAINT store_sets_frame_known CHECK (frame IN ('device', 'none'))`);
	await sequelize.query(`ALTER TABLE "${schema}".store_sets ADD CONSTRAINT store_sets_locales_present CHECK (cardinality(locales) BETWEEN 1 AND 20)`);
	await queryInterface.addIndex(sets, ["tenant_id", "created_at"], { name: "store_sets_tenant_created_idx" });
	await queryInterface.addIndex(sets, ["app_id"], { name: "store_sets_app_idx" });

	await queryInterface.createTable(
		{ tableName: "store_screens", schema },
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			store_set_id: { type: DataTypes.UUID, allowNull: false, references: { model: sets, key: "id" }, onDelete: "CASCADE" },
			position: { type: DataTypes.INTEGER, allowNull: false },
			file_id: { type: DataTypes.UUID, allowNull: false },
			tablet_file_id: { type: DataTypes.UUID, allowNull: true },
			captions: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
			created_at: { type: DataTypes.DATE, allowNull: false },
			updated_at: { type: DataTypes.DATE, allowNull: false },
		},
	);
	await sequelize.query(`ALTER TABLE "${schema}".store_screens ADD CONSTRAINT store_screens_position_positive CHECK (position >= 1)`);
	// Positions are unique in a set, checked at commit: a reorder moves every screen in one transaction.
	await sequelize.query(`ALTER TABLE "${schema}".store_screens ADD CONSTRAINT store_screens_set_position UNIQUE (store_set_id, position) DEFERRABLE INITIALLY DEFERRED`);
}

export async function down({ queryInterface, schema }: MigrationContext): Promise<void> {
	await queryInterface.dropTable({ tableName: "store_screens", schema });
	await queryInterface.dropTable({ tableName: "store_sets", schema });
	await queryInterface.dropTable({ tableName: "apps", schema });
}
