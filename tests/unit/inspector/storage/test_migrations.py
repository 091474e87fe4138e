"""The Alembic chain builds a fresh SQLite database that matches the models exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from inspector.storage.database import default_sqlite_url, make_engine
from inspector.storage.migrate import current, differences, downgrade, head, upgrade
from inspector.storage.orm import Base


def test_fresh_database_upgrades_to_head_and_matches_the_models(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    assert current(url) is None
    upgrade(url)
    assert current(url) == head() == "0006"
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


def test_0003_gives_existing_inspections_their_model_row(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    upgrade(url, "0002")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO stations (id, name, created) VALUES (1, 's', '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO recipes (id, name, version, body) VALUES (1, 'r', 1, '{}')"))
            conn.execute(text("INSERT INTO model_bundles (id, bundle_id, name, task, architecture, manifest, "
                              "loaded_at) VALUES (7, 'b-7', 'b', 'anomaly', 'patchcore', '{}', '2026-01-01')"))
            conn.execute(text("INSERT INTO artifacts (id, kind, sha256, relpath, bytes, media_type) "
                              "VALUES (1, 'image', 'aa', 'aa.png', 1, 'image/png')"))
            conn.execute(text(
                "INSERT INTO inspections (id, uid, frame_id, camera, station_id, recipe_id, bundle_id, acquired_at, "
                "created_at, verdict, reasons, score, image_threshold, pixel_threshold, latencies, "
                "image_artifact_id, review_status) VALUES (1, 'u1', 1, 'c', 1, 1, 7, '2026-01-01', '2026-01-01', "
                "'FAIL', '[\"old reason\"]', 0.9, 0.5, 0.4, '{}', 1, 'unreviewed')"))
        upgrade(url)
        with engine.connect() as conn:
            models = conn.execute(text("SELECT inspection_id, position, bundle_id, score, image_threshold, "
                                       "pixel_threshold FROM inspection_models")).all()
            codes = conn.execute(text("SELECT reason_codes FROM inspections")).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(m) for m in models] == [(1, 0, 7, 0.9, 0.5, 0.4)]
    assert codes == "[]"


def _insert_inspection(conn, artifacts: str, heatmap_kind: str = "heatmap") -> None:
    conn.execute(text("INSERT INTO stations (id, name, created) VALUES (1, 's', '2026-01-01 00:00:00')"))
    conn.execute(text("INSERT INTO recipes (id, name, version, body) VALUES (1, 'r', 1, '{}')"))
    conn.execute(text("INSERT INTO artifacts (id, kind, sha256, relpath, bytes, media_type) "
                      f"VALUES (1, '{heatmap_kind}', 'aa', 'aa.png', 1, 'image/png')"))
    conn.execute(text(
        "INSERT INTO inspections (id, uid, frame_id, camera, station_id, recipe_id, acquired_at, created_at, verdict, "
        "reasons, latencies, heatmap_artifact_id, review_status, artifacts) VALUES (1, 'u1', 1, 'c', 1, 1, "
        f"'2026-01-01', '2026-01-01', 'PASS', '[]', '{{}}', 1, 'unreviewed', '{artifacts}')"))


def test_0006_lets_pictures_be_not_kept_or_evicted_and_maps_be_stored(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    upgrade(url, "0005")
    engine = make_engine(url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert_inspection(conn, "evicted")  # refused before 0006
        upgrade(url)
        with engine.begin() as conn:
            _insert_inspection(conn, "evicted", "anomaly_map")
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE inspections SET artifacts = 'gone'"))  # the constraint is still there
        downgrade(url, "0005")  # evicted becomes missing; the map's artifact row goes
        with engine.connect() as conn:
            state = conn.execute(text("SELECT artifacts, heatmap_artifact_id FROM inspections")).one()
            kinds = conn.execute(text("SELECT count(*) FROM artifacts")).scalar_one()
    finally:
        engine.dispose()
    assert tuple(state) == ("missing", None) and kinds == 0
