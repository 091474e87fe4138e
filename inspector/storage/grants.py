"""PostgreSQL grants for the role stations log in as: read and insert; UPDATE only where the app must; never
UPDATE or DELETE of the audit trail or of the machine's inspection records (the evidence its seals cover: the archive
quota may only mark an inspection's pictures evicted and clear their links)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL

from inspector.storage.database import make_engine

INSERT_ONLY = ("audit_log", "inspections", "inspection_models", "defect_regions", "reviews", "recipe_signatures",
               "artifacts")
UPDATABLE = {"users": None, "audit_head": None, "model_bundles": None, "recipes": None, "stations": None,
             "inspections": ("review_status", "review_class", "artifacts", "artifacts_error", "image_artifact_id",
                             "heatmap_artifact_id", "thumbnail_artifact_id")}  # None: every column


def grant_statements(role: str, schema: str = "public") -> list[str]:
    for name in (role, schema):
        if not name.replace("_", "").isalnum():
            raise ValueError(f"{name!r}: expected letters, digits and _")
    tables = sorted(set(INSERT_ONLY) | set(UPDATABLE))
    statements = [f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
                  f'REVOKE ALL ON {", ".join(tables)} FROM "{role}"',
                  f'GRANT SELECT, INSERT ON {", ".join(tables)} TO "{role}"',
                  f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"']
    for table, columns in sorted(UPDATABLE.items()):
        cols = "" if columns is None else f" ({', '.join(columns)})"
        statements.append(f'GRANT UPDATE{cols} ON {table} TO "{role}"')
    statements.append(f'GRANT SELECT ON alembic_version TO "{role}"')
    return statements


def apply_grants(url: str | URL, role: str) -> None:
    """Run :func:`grant_statements` (as a role that owns the tables)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name != "postgresql":
                raise ValueError("grants apply to PostgreSQL; SQLite has no database roles (protect the file)")
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            for statement in grant_statements(role, schema):
                conn.execute(text(statement))
    finally:
        engine.dispose()
