"""Alembic migrations of the inspection database (run through inspector.storage.migrate)."""
