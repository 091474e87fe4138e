"""Initial schema: stations, recipes, model bundles, artifacts, inspections, defect regions, users, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types (a migration must not change when the models do).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def _id(big: bool = False) -> sa.Column:
    return sa.Column("id", BIG_ID if big else sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "stations",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
        sa.UniqueConstraint("name", name=op.f("uq_stations_name")),
    )
    op.create_table(
        "recipes",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipes")),
        sa.UniqueConstraint("name", "version", name="uq_recipes_name_version"),
    )
    op.create_table(
        "model_bundles",
        _id(),
        sa.Column("bundle_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("architecture", sa.String(64), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("loaded_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_bundles")),
        sa.UniqueConstraint("bundle_id", name=op.f("uq_model_bundles_bundle_id")),
    )
    op.create_table(
        "artifacts",
        _id(big=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("relpath", sa.String(255), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.CheckConstraint("kind IN ('image', 'heatmap', 'thumbnail')", name=op.f("ck_artifacts_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("sha256", name=op.f("uq_artifacts_sha256")),
    )
    op.create_table(
        "users",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created", UTC_TIME, nullable=False),
        sa.CheckConstraint("role IN ('operator', 'qa', 'ml', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "audit_log",
        _id(big=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "inspections",
        _id(big=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("frame_id", sa.BigInteger(), nullable=False),
        sa.Column("camera", sa.String(128), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("recipe_id", sa.Integer(), nullable=False),
        sa.Column("bundle_id", sa.Integer(), nullable=True),
        sa.Column("acquired_at", UTC_TIME, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("verdict", sa.String(4), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("image_threshold", sa.Double(), nullable=True),
        sa.Column("pixel_threshold", sa.Double(), nullable=True),
        sa.Column("latency_acquire_ms", sa.Double(), nullable=True),
        sa.Column("latency_inference_ms", sa.Double(), nullable=True),
        sa.Column("latency_decision_ms", sa.Double(), nullable=True),
        sa.Column("latency_total_ms", sa.Double(), nullable=True),
        sa.Column("latencies", sa.JSON(), nullable=False),
        sa.Column("truth_defective", sa.Boolean(), nullable=True),
        sa.Column("truth_defect", sa.String(64), nullable=True),
        sa.Column("image_artifact_id", BIG_ID, nullable=False),
        sa.Column("heatmap_artifact_id", BIG_ID, nullable=True),
        sa.Column("thumbnail_artifact_id", BIG_ID, nullable=True),
        sa.Column("review_status", sa.String(16), server_default="unreviewed", nullable=False),
        sa.CheckConstraint("verdict IN ('PASS', 'FAIL')", name=op.f("ck_inspections_verdict")),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], name=op.f("fk_inspections_station_id_stations")),
        sa.ForeignKeyConstraint(["recipe_id"], ["recipes.id"], name=op.f("fk_inspections_recipe_id_recipes")),
        sa.ForeignKeyConstraint(["bundle_id"], ["model_bundles.id"],
                                name=op.f("fk_inspections_bundle_id_model_bundles")),
        sa.ForeignKeyConstraint(["image_artifact_id"], ["artifacts.id"],
                                name=op.f("fk_inspections_image_artifact_id_artifacts")),
        sa.ForeignKeyConstraint(["heatmap_artifact_id"], ["artifacts.id"],
                                name=op.f("fk_inspections_heatmap_artifact_id_artifacts")),
        sa.ForeignKeyConstraint(["thumbnail_artifact_id"], ["artifacts.id"],
                                name=op.f("fk_inspections_thumbnail_artifact_id_artifacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("uid", name=op.f("uq_inspections_uid")),
    )
    op.create_index("ix_inspections_acquired_at", "inspections", ["acquired_at"])
    op.create_index("ix_inspections_station_acquired", "inspections", ["station_id", "acquired_at"])
    op.create_index("ix_inspections_verdict_acquired", "inspections", ["verdict", "acquired_at"])
    op.create_index("ix_inspections_score", "inspections", ["score"])
    op.create_index("ix_inspections_recipe_id", "inspections", ["recipe_id"])
    op.create_index("ix_inspections_bundle_id", "inspections", ["bundle_id"])
    op.create_index("ix_inspections_review_status", "inspections", ["review_status"])
    op.create_table(
        "defect_regions",
        _id(big=True),
        sa.Column("inspection_id", BIG_ID, nullable=False),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("area", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"],
                                name=op.f("fk_defect_regions_inspection_id_inspections"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_defect_regions")),
    )
    op.create_index("ix_defect_regions_class_name", "defect_regions", ["class_name"])
    op.create_index("ix_defect_regions_inspection_id", "defect_regions", ["inspection_id"])


def downgrade() -> None:
    for table in ("defect_regions", "inspections", "audit_log", "users", "artifacts", "model_bundles", "recipes",
                  "stations"):
        op.drop_table(table)  # dropping a table drops its indexes
