"""`inspector run --headless` on the real pipeline: sim and viky cameras, SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from inspector.cli import app
from inspector.review.export import CSV_COLUMNS
from inspector.storage.database import make_engine
from inspector.storage.journal import Journal

from .conftest import write_station

runner = CliRunner()
pytestmark = pytest.mark.slow


def _rows(url: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text(
                "select i.verdict, i.truth_defective, i.latency_total_ms, i.latency_inference_ms, i.score, "
                "i.artifacts, im.relpath as image, im.sha256 as image_sha, hm.relpath as heatmap, "
                "hm.sha256 as heatmap_sha, hm.kind as heatmap_kind "
                "from inspections i left join artifacts im on im.id = i.image_artifact_id "
                "left join artifacts hm on hm.id = i.heatmap_artifact_id order by i.id")
            return [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()


def _check_artifacts(rows: list[dict], archive: Path) -> None:
    """The recipe's default archive policy: every FAIL and the first PASS (1 in 50) keep image and anomaly map;
    the other PASSes keep their row, marked not kept."""
    first_pass = next(i for i, row in enumerate(rows) if row["verdict"] == "PASS")
    for i, row in enumerate(rows):
        if row["verdict"] == "PASS" and i != first_pass:
            assert (row["artifacts"], row["image"], row["heatmap"]) == ("not_kept", None, None)
            continue
        assert row["artifacts"] == "written" and row["heatmap_kind"] == "anomaly_map"
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


def test_the_recipes_archive_policy_decides_which_pictures_the_station_keeps(station_yaml: Path) -> None:
    recipe = station_yaml.parent / "recipe.yaml"
    recipe.write_text(recipe.read_text() + "archive: {pass_every: 0, pass_thumbnails: false}\n")
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--headless", "--camera", "sim",
                                 "--frames", "20"])
    assert result.exit_code == 0, result.output
    rows = _rows(f"sqlite:///{station_yaml.parent / 'station' / 'inspector.db'}")
    assert len(rows) == 20 and {r["verdict"] for r in rows} == {"PASS", "FAIL"}
    assert all((r["artifacts"], r["image"]) == ("not_kept", None) for r in rows if r["verdict"] == "PASS")
    assert all(r["artifacts"] == "written" and r["image"] for r in rows if r["verdict"] == "FAIL")
    archive = station_yaml.parent / "station" / "artifacts"
    fails = {archive / r[kind] for r in rows if r["verdict"] == "FAIL" for kind in ("image", "heatmap")}
    assert set(archive.glob("*/*.png")) == fails  # no thumbnail of a PASS either (a 128 px frame is its own)


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


def test_unreachable_database_at_start_is_journaled_then_drained(station_yaml: Path, postgres_url: str) -> None:
    """The station starts without its database: the journal carries the inspections until the next start."""
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "3"],
                           env={"INSPECTOR_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    assert result.exit_code == 1, result.output
    assert "still journaled 3" in result.output and "Traceback" not in result.output
    journal = station_yaml.parent / "station" / "journal"
    assert len(Journal(journal)) == 3
    again = runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "2"],
                          env={"INSPECTOR_DATABASE_URL": postgres_url})
    assert again.exit_code == 0, again.output
    assert _count(postgres_url) == 5 and len(Journal(journal)) == 0  # migrated and drained on the way


def test_unreachable_database_when_required_at_start_is_one_line(station_yaml: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "1"],
                           env={"INSPECTOR_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere",
                                "INSPECTOR_DATABASE__REQUIRE_AT_START": "true"})
    _one_line_error(result, "database unreachable", "127.0.0.1:1")


def _count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select count(*) from inspections")).scalar_one()
    except sa.exc.OperationalError:
        return 0  # not created yet
    finally:
        engine.dispose()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_runs_the_one_close_sequence(station_yaml: Path, sig: signal.Signals) -> None:
    """Ctrl+C, or SIGTERM from a service manager: camera closed, writer flushed, journal empty, exit 0."""
    url = f"sqlite:///{station_yaml.parent / 'station' / 'inspector.db'}"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "inspector.cli", "run", "--config", str(station_yaml),
                             "--headless", "--camera", "sim"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + 180
        while _count(url) < 10:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the station logged nothing"
            time.sleep(0.2)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    inspected = int(re.search(r"frames (\d+) \|", output).group(1))
    closing = re.search(r"closed: (.*)", output).group(1)
    assert closing == (f"acquisition stopped; pipeline drained ({inspected} inspected); writer closed ({inspected} "
                       f"logged, 0 journaled); camera sim-washer closed"), output
    assert _count(url) == inspected >= 10
    assert not any((station_yaml.parent / "station" / "journal").glob("*.json"))


def _with_camera_features(station_yaml: Path, features: dict) -> None:
    recipe = station_yaml.parent / "recipe.yaml"
    recipe.write_text(recipe.read_text() + f"camera_features: {features!r}\n".replace("'", '"'))


def test_recipe_camera_features_are_set_on_the_genicam_device(station_yaml: Path) -> None:
    _with_camera_features(station_yaml, {"Width": 320, "Height": 240, "ExposureTime": 5000})
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--camera", "genicam", "--frames", "4"])
    assert result.exit_code == 0, result.output
    assert "has no feature ExposureTime" in result.output  # viky has no exposure: a warning, not an error
    engine = make_engine(f"sqlite:///{station_yaml.parent / 'station' / 'inspector.db'}")
    try:
        with engine.connect() as conn:
            sizes = set(conn.execute(sa.text("select a.width, a.height from inspections i "
                                             "join artifacts a on a.id = i.image_artifact_id")).all())
    finally:
        engine.dispose()
    assert sizes == {(320, 240)}


def test_recipe_camera_features_on_a_camera_without_features_are_a_warning(station_yaml: Path) -> None:
    _with_camera_features(station_yaml, {"ExposureTime": 5000})
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--camera", "sim", "--frames", "2"])
    assert result.exit_code == 0, result.output
    assert "recipe camera feature ExposureTime=5000 ignored" in result.output


def test_inspections_commands_read_through_the_review(station_yaml: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "6"]).exit_code == 0
    listed = runner.invoke(app, ["inspections", "list", "--config", str(station_yaml)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("tiny-washer v3") == 6
    bundle = json.loads((Path(yaml.safe_load((station_yaml.parent / "recipe.yaml").read_text())["models"][0]
                               ["bundle"]) / "manifest.json").read_text())["bundle_id"]
    shown = runner.invoke(app, ["inspections", "show", "1", "--config", str(station_yaml)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert f"model 1 {bundle}: score " in shown.output and "verdict " in shown.output
    out = tmp_path / "inspections.csv"
    exported = runner.invoke(app, ["inspections", "export", "--csv", str(out), "--config", str(station_yaml)])
    assert exported.exit_code == 0 and "wrote 6 rows" in exported.output
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 7  # the QA review's layout
    missing = runner.invoke(app, ["inspections", "show", "99", "--config", str(station_yaml)])
    assert missing.exit_code == 2 and "no inspection with id 99" in missing.output


def test_models_too_slow_for_the_camera_are_a_warning(station_yaml: Path, monkeypatch) -> None:
    """The station times each model at load (the equivalence check); here 50 ms a frame against 50 frames/s."""
    config = yaml.safe_load(station_yaml.read_text())
    config["pipeline"]["inference_workers"] = 2
    station_yaml.write_text(yaml.safe_dump(config))
    monkeypatch.setattr("inspector.inference.equivalence.per_image_ms", lambda timings: 50.0)
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "3"])
    assert result.exit_code == 0, result.output
    assert "models too slow for the camera: about 50 ms per frame on onnxruntime:cpu" in result.output
    assert "2 inference workers keep up with about 30 frames/s and the camera gives 50" in result.output
    monkeypatch.setattr("inspector.inference.equivalence.per_image_ms", lambda timings: 10.0)  # 150 frames/s
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--frames", "3"])
    assert result.exit_code == 0, result.output
    assert "too slow" not in result.output
