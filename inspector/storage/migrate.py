"""Run the Alembic migrations from code: ``upgrade(url)`` to head, ``current(url)``, ``differences(url)``."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
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


MIGRATION_LOCK = 0x1A5_7A71  # the advisory lock id every station takes to migrate a shared PostgreSQL


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """On SQLite, an exclusive lock on ``<database>.migrate.lock`` beside the file, taken before connecting."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _migrating(database: str | URL | Engine) -> Iterator[Connection]:
    """A connection in one transaction, one migration at a time: PostgreSQL's transaction-level advisory lock
    (released at commit), or on SQLite a lock file taken before connecting. Others wait, then find the schema
    current. On SQLite, foreign keys are off meanwhile: a batch migration rebuilds a table (copy, drop, rename),
    and dropping it must not cascade into its children."""
    engine, owned = _engine(database)
    try:
        with _file_lock(engine), engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # On the driver's connection, outside any transaction (inside one it is a no-op).
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
            try:
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                    yield connection
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise RuntimeError(f"migration left {len(broken)} broken references, first {broken[0]}")
            finally:
                if sqlite:
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
    finally:
        if owned:
            engine.dispose()


def upgrade(database: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (head by default); creates the schema on an empty database.

    Safe when many stations start at once on one database: the migration runs under a lock.
    """
    with _migrating(database) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(database: str | URL | Engine, revision: str) -> None:
    with _migrating(database) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


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
