"""Parts and missing artifacts: ``inspections.part_id``, ``serial``, ``lot``, ``artifacts``, ``artifacts_error``;
the image becomes optional (a record journaled before its images were written, and they never were).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        batch.add_column(sa.Column("part_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("serial", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lot", sa.String(128), nullable=True))
        batch.add_column(sa.Column("artifacts", sa.String(16), nullable=False, server_default="written"))
        batch.add_column(sa.Column("artifacts_error", sa.Text(), nullable=True))
        batch.alter_column("image_artifact_id", existing_type=BIG_ID, nullable=True)
        batch.create_check_constraint("artifacts", "artifacts IN ('written', 'missing')")
    op.create_index("ix_inspections_serial", "inspections", ["serial"])
    op.create_index("ix_inspections_lot", "inspections", ["lot"])


def downgrade() -> None:
    op.drop_index("ix_inspections_lot", table_name="inspections")
    op.drop_index("ix_inspections_serial", table_name="inspections")
    with op.batch_alter_table("inspections") as batch:
        batch.drop_constraint("artifacts", type_="check")
        batch.alter_column("image_artifact_id", existing_type=BIG_ID, nullable=False)
        for column in ("artifacts_error", "artifacts", "lot", "serial", "part_id"):
            batch.drop_column(column)
