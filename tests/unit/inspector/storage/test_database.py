"""Engine creation: URL rewriting, SQLite pragmas, the one-line connection check."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from inspector.storage.database import (
    DatabaseUnavailable,
    check_connection,
    default_sqlite_url,
    make_engine,
    mask_url,
    normalize_url,
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("given", ["postgresql://u:p@db/x", "postgres://u:p@db/x", "postgresql+psycopg://u:p@db/x"])
def test_postgres_urls_use_psycopg3(given: str) -> None:
    url = normalize_url(given)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.database, url.password) == ("db", "x", "p")


def test_mask_url_hides_the_password() -> None:
    assert "secret" not in mask_url("postgresql://inspector:secret@db:5432/qa")
    assert "inspector" in mask_url("postgresql://inspector:secret@db:5432/qa")


def test_default_sqlite_url(tmp_path: Path) -> None:
    assert default_sqlite_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/inspector.db"


def test_sqlite_engine_sets_pragmas(tmp_path: Path) -> None:
    (tmp_path / "new" / "folder").mkdir(parents=True)
    engine = make_engine(default_sqlite_url(tmp_path / "new" / "folder"))
    try:
        with engine.connect() as connection:
            pragma = {name: connection.execute(text(f"PRAGMA {name}")).scalar()
                      for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "folder" / "inspector.db").exists()
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 5000}


def test_check_connection_passes_on_sqlite(tmp_path: Path) -> None:
    check_connection(default_sqlite_url(tmp_path))


def test_a_sqlite_url_whose_folder_is_missing_is_one_clear_line_and_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nonexistent/dir/x.db"
    with pytest.raises(DatabaseUnavailable, match=r"its folder .*/nonexistent/dir does not exist") as caught:
        check_connection(url)
    assert "\n" not in str(caught.value) and not (tmp_path / "nonexistent").exists()


def test_check_connection_fails_fast_with_one_masked_line() -> None:
    url = f"postgresql://inspector:secret@127.0.0.1:{closed_port()}/qa"
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as caught:
        check_connection(url)
    message = str(caught.value)
    assert time.monotonic() - started < 3.5
    assert "\n" not in message and "secret" not in message
    assert "127.0.0.1" in message and "unavailable" in message


def test_check_connection_on_unopenable_sqlite(tmp_path: Path) -> None:
    (tmp_path / "a-folder.db").mkdir()
    with pytest.raises(DatabaseUnavailable, match="a-folder.db"):
        check_connection(f"sqlite:///{tmp_path / 'a-folder.db'}")
