"""Accounts and a tamper-evident audit trail: password hashes, lockout and disabled users; ``engineer`` replaces
``ml``; the audit log becomes a hash chain (``seq``, ``prev_hash``, ``row_hash``, the ``audit_head`` row), the
rows already there chained in order; recipe signatures.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from inspector.storage.audit import GENESIS, row_hash
from inspector.storage.orm import UtcDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.Text(), nullable=True))
        batch.add_column(sa.Column("password_changed_at", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.text("false")))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("locked_until", UTC_TIME, nullable=True))
        batch.drop_constraint("role", type_="check")
    op.execute("UPDATE users SET role = 'engineer' WHERE role = 'ml'")
    with op.batch_alter_table("users") as batch:
        batch.create_check_constraint("role", "role IN ('operator', 'qa', 'engineer', 'admin')")

    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(64), nullable=True))
    bind = op.get_bind()
    audit = sa.table("audit_log", sa.column("id", sa.BigInteger()), sa.column("at", UtcDateTime()),
                     sa.column("user_id", sa.Integer()), sa.column("action", sa.String()),
                     sa.column("entity", sa.String()), sa.column("entity_id", sa.String()),
                     sa.column("detail", sa.JSON()))
    seq, prev = 0, GENESIS
    for row in bind.execute(sa.select(audit).order_by(audit.c.at, audit.c.id)).all():
        seq += 1
        detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail or "{}")
        digest = row_hash(prev, seq, row.at, row.user_id, row.action, row.entity, row.entity_id, detail)
        bind.execute(sa.text("UPDATE audit_log SET seq = :seq, prev_hash = :prev, row_hash = :hash WHERE id = :id"),
                     {"seq": seq, "prev": prev, "hash": digest, "id": row.id})
        prev = digest
    with op.batch_alter_table("audit_log") as batch:
        for column in ("seq", "prev_hash", "row_hash"):
            batch.alter_column(column, existing_type=sa.BigInteger() if column == "seq" else sa.String(64),
                               nullable=False)
        batch.create_unique_constraint("uq_audit_log_seq", ["seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": seq, "last_hash": prev}])
    op.create_table(
        "recipe_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("meaning", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_recipe_signatures_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipe_signatures")),
    )
    op.create_index("ix_recipe_signatures_name", "recipe_signatures", ["name"])


def downgrade() -> None:
    op.drop_index("ix_recipe_signatures_name", table_name="recipe_signatures")
    op.drop_table("recipe_signatures")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_seq", type_="unique")
        for column in ("row_hash", "prev_hash", "seq"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("role", type_="check")
    op.execute("UPDATE users SET role = 'ml' WHERE role = 'engineer'")
    with op.batch_alter_table("users") as batch:
        for column in ("locked_until", "failed_logins", "disabled", "password_changed_at", "password_hash"):
            batch.drop_column(column)
        batch.create_check_constraint("role", "role IN ('operator', 'qa', 'ml', 'admin')")
