"""QA reviews: the ``reviews`` table, ``inspections.review_class``, keyset-paging indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)
INSPECTION_INDEXES = {
    "ix_inspections_acquired_id": ["acquired_at", "id"],  # ORDER BY acquired_at, id (keyset paging by time)
    "ix_inspections_score_id": ["score", "id"],  # ORDER BY score, id (keyset paging by score)
    "ix_inspections_review_class": ["review_class"],
}


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("inspection_id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint("action IN ('confirm', 'false_reject', 'escape', 'comment')",
                           name=op.f("ck_reviews_action")),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"],
                                name=op.f("fk_reviews_inspection_id_inspections"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index("ix_reviews_inspection_at", "reviews", ["inspection_id", "at"])
    op.create_index("ix_reviews_at", "reviews", ["at"])
    op.create_index("ix_reviews_class_name", "reviews", ["class_name"])
    with op.batch_alter_table("inspections") as batch:  # SQLite: a plain ADD COLUMN, no table rebuild
        batch.add_column(sa.Column("review_class", sa.String(64), nullable=True))
    for name, columns in INSPECTION_INDEXES.items():
        op.create_index(name, "inspections", columns)


def downgrade() -> None:
    for name in INSPECTION_INDEXES:
        op.drop_index(name, table_name="inspections")
    with op.batch_alter_table("inspections") as batch:
        batch.drop_column("review_class")
    op.drop_table("reviews")
