"""`inspector run --headless` on the real pipeline: sim and viky cameras, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from inspector.cli import app
from inspector.storage.database import make_engine
from tests.integration.storage.conftest import pg

from .conftest import write_station

runner = CliRunner()
pytestmark = pytest.mark.slow


def _rows(url: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text(
                "select i.verdict, i.truth_defective, i.latency_total_ms, i.latency_inference_ms, i.score, "
                "im.relpath as image, im.sha256 as image_sha, hm.relpath as heatmap, hm.sha256 as heatmap_sha "
                "from inspections i join artifacts im on im.id = i.image_artifact_id "
                "left join artifacts hm on hm.id = i.heatmap_artifact_id")
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _check_artifacts(rows: list[dict], archive: Path) -> None:
    for row in rows:
        for kind in ("image", "heatmap"):
            assert row[kind] is not None, f"{kind} missing"
            data = (archive / row[kind]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row[f"{kind}_sha"]


def test_sim_run_logs_every_inspection_to_sqlite(station_yaml: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--headless", "--camera", "sim",
                                 "--frames", "40"])
    assert result.exit_code == 0, result.output
    assert "frames 40" in result.output and "inspections/s" in result.output
    url = f"sqlite:///{station_yaml.parent / 'station' / 'inspector.db'}"
    rows = _rows(url)
    assert len(rows) == 40
    _check_artifacts(rows, station_yaml.parent / "station" / "artifacts")
    assert all(r["latency_total_ms"] > 0 and r["latency_inference_ms"] > 0 for r in rows)
    agree = sum((r["verdict"] == "FAIL") == bool(r["truth_defective"]) for r in rows) / len(rows)
    print(f"agreement {agree:.3f}")
    assert agree >= 0.75, f"verdicts agree with ground truth on only {agree:.0%}"
    assert {r["verdict"] for r in rows} == {"PASS", "FAIL"}


@pytest.fixture
def postgres_url():
    """A fresh database on the test server (tests/postgres_server.py), dropped afterwards."""
    server = pg()
    name = f"inspector_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server.url("postgres").replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    yield server.url(name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


def test_sim_run_logs_to_postgresql(station_yaml: Path, postgres_url: str) -> None:
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "20"],
                           env={"INSPECTOR_DATABASE_URL": postgres_url})
    assert result.exit_code == 0, result.output
    rows = _rows(postgres_url)
    assert len(rows) == 20
    _check_artifacts(rows, station_yaml.parent / "station" / "artifacts")


def test_genicam_run_inspects_viky_frames(station_yaml: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--camera", "genicam", "--frames", "8"])
    assert result.exit_code == 0, result.output
    assert "VikyTL_DEV" in result.output or "Viky" in result.output
    assert len(_rows(f"sqlite:///{station_yaml.parent / 'station' / 'inspector.db'}")) == 8


def test_cameras_list_shows_vikys_three_devices() -> None:
    result = runner.invoke(app, ["cameras", "list"])
    assert result.exit_code == 0, result.output
    for colour in ("red", "green", "blue"):
        assert f"VikyTL_DEV_{colour}" in result.output
    assert "3 device(s)" in result.output


def _one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert "Traceback" not in text
    for word in words:
        assert word in text, text


def test_bad_config_is_one_line(tmp_path: Path, tiny_bundle: Path) -> None:
    path = write_station(tmp_path, tiny_bundle)
    path.write_text(path.read_text().replace("fps: 50", "fps: -3"))
    _one_line_error(runner.invoke(app, ["run", "--config", str(path), "--frames", "1"]),
                    "station.yaml", "camera.sim.fps", "-3")


def test_missing_camera_is_one_line(tmp_path: Path, tiny_bundle: Path) -> None:
    path = write_station(tmp_path, tiny_bundle, genicam={"serial": "no-such-serial"})
    _one_line_error(runner.invoke(app, ["run", "--config", str(path), "--camera", "genicam", "--frames", "1"]),
                    "no-such-serial")


def test_bad_bundle_is_one_line(tmp_path: Path, tiny_bundle: Path) -> None:
    copy = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, copy)
    (copy / "model.onnx").write_bytes(b"not a model")
    path = write_station(tmp_path, copy)
    _one_line_error(runner.invoke(app, ["run", "--config", str(path), "--frames", "1"]),
                    "model bundle refused", "model.onnx")


def test_unreachable_database_is_one_line(station_yaml: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "1"],
                           env={"INSPECTOR_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    _one_line_error(result, "database unreachable", "127.0.0.1:1")
