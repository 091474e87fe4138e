"""A headless station run whose recipe combines the anomaly model and a detector logs every region's class."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from inspector.cli import app
from inspector.storage.database import make_engine
from tests.integration.station.conftest import write_station

pytestmark = pytest.mark.slow
runner = CliRunner()


def _regions(url: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text("select i.verdict, i.reasons, r.class_name, r.score, r.area from defect_regions r "
                            "join inspections i on i.id = r.inspection_id")
            rows = [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()
    for row in rows:
        row["reasons"] = json.loads(row["reasons"]) if isinstance(row["reasons"], str) else row["reasons"]
    return rows


def test_anomaly_plus_detector_recipe_logs_each_region_with_its_class(tmp_path: Path, tiny_bundle: Path,
                                                                      tiny_detector: Path) -> None:
    station_yaml = write_station(tmp_path, tiny_bundle)
    recipe_path = tmp_path / "recipe.yaml"
    recipe = yaml.safe_load(recipe_path.read_text())
    classes = json.loads((tiny_detector / "manifest.json").read_text())["class_names"]
    # The tiny detector (2 epochs) is unsure of everything: a low box threshold makes it report boxes.
    recipe["models"] = [{"bundle": str(tiny_bundle)},
                        {"bundle": str(tiny_detector), "image_threshold": 0.02, "pixel_threshold": 0.02,
                         "override_calibration": True,
                         "reject_classes": classes}]
    recipe_path.write_text(yaml.safe_dump(recipe))

    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--headless", "--camera", "sim",
                                 "--frames", "8"])
    assert result.exit_code == 0, result.output
    rows = _regions(f"sqlite:///{station_yaml.parent / 'station' / 'inspector.db'}")
    assert rows, "no regions were logged"
    logged = {r["class_name"] for r in rows}
    assert logged & set(classes), f"no detector class among the logged regions {logged}"
    assert logged <= {"anomaly", *classes}
    assert all(r["area"] >= 10 for r in rows)  # the recipe's min_defect_area
    failed = [r for r in rows if r["class_name"] in classes]
    assert all(r["verdict"] == "FAIL" for r in failed)
    assert any(any(reason.startswith("reject class") for reason in r["reasons"]) for r in failed)


def test_reject_class_the_detector_does_not_know_stops_the_start(tmp_path: Path, tiny_bundle: Path,
                                                                  tiny_detector: Path) -> None:
    station_yaml = write_station(tmp_path, tiny_bundle)
    recipe_path = tmp_path / "recipe.yaml"
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["models"] = [{"bundle": str(tiny_bundle)}, {"bundle": str(tiny_detector), "reject_classes": ["crakc"]}]
    recipe_path.write_text(yaml.safe_dump(recipe))

    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--headless", "--camera", "sim",
                                 "--frames", "2"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "reject_classes ['crakc']" in lines[0] and "tiny-detector" in lines[0], result.output


def _model_rows(url: str) -> tuple[dict[int, list[tuple]], dict[int, tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            models = conn.execute(sa.text(
                "select m.inspection_id, m.position, b.bundle_id, m.score, m.image_threshold, m.pixel_threshold, "
                "m.error from inspection_models m join model_bundles b on b.id = m.bundle_id "
                "order by m.inspection_id, m.position")).all()
            headlines = conn.execute(sa.text(
                "select i.id, b.bundle_id, i.score, i.image_threshold, i.pixel_threshold from inspections i "
                "join model_bundles b on b.id = i.bundle_id")).all()
    finally:
        engine.dispose()
    by_inspection: dict[int, list[tuple]] = {}
    for row in models:
        by_inspection.setdefault(row[0], []).append(tuple(row[1:]))
    return by_inspection, {row[0]: tuple(row[1:]) for row in headlines}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_models_bundle_score_and_thresholds_are_logged(backend: str, request: pytest.FixtureRequest,
                                                            tmp_path: Path, tiny_bundle: Path,
                                                            tiny_detector: Path) -> None:
    station_yaml = write_station(tmp_path, tiny_bundle)
    url = (f"sqlite:///{tmp_path / 'station' / 'inspector.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    recipe_path = tmp_path / "recipe.yaml"
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["models"] = [{"bundle": str(tiny_bundle)},
                        {"bundle": str(tiny_detector), "image_threshold": 0.02, "pixel_threshold": 0.03,
                         "override_calibration": True}]
    recipe_path.write_text(yaml.safe_dump(recipe))
    result = runner.invoke(app, ["run", "--config", str(station_yaml), "--headless", "--camera", "sim",
                                 "--frames", "8"], env={"INSPECTOR_DATABASE_URL": url})
    assert result.exit_code == 0, result.output

    anomaly = json.loads((tiny_bundle / "manifest.json").read_text())
    detector = json.loads((tiny_detector / "manifest.json").read_text())
    models, headlines = _model_rows(url)
    assert len(models) == len(headlines) == 8
    for inspection_id, rows in models.items():
        assert [(position, bundle) for position, bundle, *_ in rows] == [
            (0, anomaly["bundle_id"]), (1, detector["bundle_id"])]
        (_, _, a_score, a_image, a_pixel, a_error), (_, _, d_score, d_image, d_pixel, d_error) = rows
        assert (a_image, a_pixel) == (anomaly["image_threshold"]["value"], anomaly["pixel_threshold"]["value"])
        assert (d_image, d_pixel) == (0.02, 0.03)
        assert a_score is not None and d_score is not None and a_error is None and d_error is None
        deciding = {r[1]: r for r in rows}[headlines[inspection_id][0]]
        assert headlines[inspection_id][1:] == (deciding[2], deciding[3], deciding[4])
