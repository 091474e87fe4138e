"""Every model's result: the ``inspection_models`` table and ``inspections.reason_codes``.

Existing inspections get one model row from their headline columns (bundle, score, thresholds); their reason
codes stay empty (unknown), their reasons text is kept.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inspection_models",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("inspection_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("bundle_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("image_threshold", sa.Double(), nullable=True),
        sa.Column("pixel_threshold", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"],
                                name=op.f("fk_inspection_models_inspection_id_inspections"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["bundle_id"], ["model_bundles.id"],
                                name=op.f("fk_inspection_models_bundle_id_model_bundles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_models")),
        sa.UniqueConstraint("inspection_id", "position", name="uq_inspection_models_inspection_position"),
    )
    op.create_index("ix_inspection_models_bundle_id", "inspection_models", ["bundle_id"])
    with op.batch_alter_table("inspections") as batch:  # SQLite: a plain ADD COLUMN, no table rebuild
        batch.add_column(sa.Column("reason_codes", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.execute("INSERT INTO inspection_models (inspection_id, position, bundle_id, score, image_threshold, "
               "pixel_threshold) SELECT id, 0, bundle_id, score, image_threshold, pixel_threshold FROM inspections "
               "WHERE bundle_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        batch.drop_column("reason_codes")
    op.drop_index("ix_inspection_models_bundle_id", table_name="inspection_models")
    op.drop_table("inspection_models")
