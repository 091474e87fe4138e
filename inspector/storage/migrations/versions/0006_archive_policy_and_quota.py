"""Archive policy and quota: an inspection's pictures may be ``not_kept`` (a PASS the recipe's archive policy did
not sample) or ``evicted`` (removed by the archive quota); a new artifact kind, ``anomaly_map`` (the compact map
the review renders, instead of an overlay rendered at frame size).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        batch.drop_constraint("artifacts", type_="check")
        batch.create_check_constraint("artifacts", "artifacts IN ('written', 'missing', 'not_kept', 'evicted')")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", "kind IN ('image', 'heatmap', 'thumbnail', 'anomaly_map')")


def downgrade() -> None:
    # Before 0006 a record had its pictures or missed them; anomaly maps had no kind (their files stay on disk).
    op.execute("UPDATE inspections SET artifacts = 'missing', artifacts_error = COALESCE(artifacts_error, "
               "'pictures not kept') WHERE artifacts IN ('not_kept', 'evicted')")
    op.execute("UPDATE inspections SET heatmap_artifact_id = NULL WHERE heatmap_artifact_id IN "
               "(SELECT id FROM artifacts WHERE kind = 'anomaly_map')")
    op.execute("DELETE FROM artifacts WHERE kind = 'anomaly_map'")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_constraint("kind", type_="check")
        batch.create_check_constraint("kind", "kind IN ('image', 'heatmap', 'thumbnail')")
    with op.batch_alter_table("inspections") as batch:
        batch.drop_constraint("artifacts", type_="check")
        batch.create_check_constraint("artifacts", "artifacts IN ('written', 'missing')")
