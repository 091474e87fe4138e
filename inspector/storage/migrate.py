"""Run the Alembic migrations from code: ``upgrade(url)`` to head, ``current(url)``, ``differences(url)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from inspector.storage.database import make_engine
from inspector.storage.orm import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config built in code (script location = this package's migrations folder)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def _engine(database: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(database, Engine):
        return database, False
    return make_engine(database), True


def upgrade(database: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (head by default); creates the schema on an empty database."""
    engine, owned = _engine(database)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if owned:
            engine.dispose()


def downgrade(database: str | URL | Engine, revision: str) -> None:
    engine, owned = _engine(database)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        if owned:
            engine.dispose()


def head() -> str:
    """The newest revision shipped with the code."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations under {MIGRATIONS}")
    return revision


def current(database: str | URL | Engine) -> str | None:
    """The database's revision (None for a database never migrated)."""
    engine, owned = _engine(database)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def differences(database: str | URL | Engine) -> list[Any]:
    """What autogenerate sees between the database and the models (empty when they match)."""
    engine, owned = _engine(database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        if owned:
            engine.dispose()
