"""The Alembic chain builds a fresh SQLite database that matches the models exactly."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from inspector.storage.database import default_sqlite_url, make_engine
from inspector.storage.migrate import current, differences, downgrade, head, upgrade
from inspector.storage.orm import Base


def test_fresh_database_upgrades_to_head_and_matches_the_models(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    assert current(url) is None
    upgrade(url)
    assert current(url) == head() == "0002"
    assert differences(url) == []
    upgrade(url)  # idempotent
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_the_comparison_sees_a_missing_index(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_inspections_score"))
        assert [d[0] for d in differences(engine)] == ["add_index"]
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_everything(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    upgrade(url)
    downgrade(url, "base")
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    assert current(url) is None
