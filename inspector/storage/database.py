"""Engines: URL handling, SQLite in WAL mode, PostgreSQL through psycopg 3, a fast connection check."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 3


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached; the message names the (masked) URL and the reason."""


WRITE_INTENT = "inspector_write_intent"


def default_sqlite_url(data_dir: str | Path) -> str:
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / 'inspector.db'}"


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` / ``postgres://`` become ``postgresql+psycopg://``."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL as text with its password hidden."""
    try:
        return normalize_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given, password masked by pattern
        return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", str(url))


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(database)


def _sqlite_begin(connection: Any) -> None:
    """BEGIN, or BEGIN IMMEDIATE for a unit of work that will write (``UnitOfWork.for_writing``): a deferred
    transaction that read first cannot upgrade to a write once another connection committed (SQLITE_BUSY at once,
    no busy wait)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE_INTENT)
                               else "BEGIN")


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite begins transactions itself, late, and lets a SAVEPOINT commit the outer work; hand the
    # transaction to SQLAlchemy instead (its documented recipe), so savepoints nest as on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:  # switching a new file to WAL can be refused at once (no busy wait) while others open it
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def make_engine(url: str | URL, *, echo: bool = False, connect_timeout: float = CONNECT_TIMEOUT_S,
                **kwargs: Any) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL (psycopg 3).

    A SQLite file's folder is never created here: only the station's own ``data_dir`` is (by the station).
    """
    parsed = normalize_url(url)
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if parsed.get_backend_name() == "sqlite":
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(parsed, echo=echo, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        connect_args.setdefault("connect_timeout", max(1, round(connect_timeout)))
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, echo=echo, connect_args=connect_args, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (rows are handed to other threads as plain data)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def describe_error(exc: BaseException) -> str:
    """The first line of the driver's message (not SQLAlchemy's boilerplate)."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return f"{type(original).__name__}: {lines[0] if lines else 'no detail'}"


def check_connection(url: str | URL | Engine, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Connect once and run ``SELECT 1``; raise :class:`DatabaseUnavailable` (one line) if that fails."""
    owned = not isinstance(url, Engine)
    try:
        engine = make_engine(url, connect_timeout=timeout, poolclass=NullPool) if owned else url
        path = _sqlite_file(engine.url) if engine.url.get_backend_name() == "sqlite" else None
        if path is not None and not path.expanduser().parent.is_dir():
            raise DatabaseUnavailable(f"database {mask_url(engine.url)} unavailable: its folder "
                                      f"{path.expanduser().parent} does not exist")
    except (SQLAlchemyError, ValueError) as exc:
        raise DatabaseUnavailable(f"database {mask_url(url)} unavailable: {describe_error(exc)}") from exc
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailable(f"database {mask_url(engine.url)} unavailable: {describe_error(exc)}") from exc
    finally:
        if owned:
            engine.dispose()
