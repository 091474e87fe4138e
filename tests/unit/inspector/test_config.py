"""Config errors name the file, the field, the value and what was expected; env overrides apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.config import ConfigError, load_recipe, load_station_config

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_configs_are_valid() -> None:
    config = load_station_config(ROOT / "configs" / "station.yaml", environ={})
    assert config.camera.kind == "sim" and config.database.url is None
    _, recipe = load_recipe(ROOT / "configs" / "recipes" / "washer.yaml")
    assert recipe.models and recipe.deadline_ms > 0


def test_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("camera: {kind: sim}\n")
    config = load_station_config(path, environ={"INSPECTOR_DATABASE_URL": "postgresql://x@h/db",
                                                "INSPECTOR_CAMERA__SIM__FPS": "7.5", "OTHER": "1"})
    assert config.database.url == "postgresql://x@h/db" and config.camera.sim.fps == 7.5


def test_other_commands_inspector_variables_leave_the_station_config_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("camera: {kind: sim}\n")
    config = load_station_config(path, environ={"INSPECTOR_ARTIFACTS": "/srv/pictures",
                                                "INSPECTOR_REVIEW_CLASSES": "crack,dent",
                                                "INSPECTOR_REQUIRE_SERVICES": "1"})
    assert config.camera.kind == "sim"
    with pytest.raises(ConfigError, match="environment overrides.*camra"):
        load_station_config(path, environ={"INSPECTOR_CAMRA__KIND": "sim"})  # a typo in a section is still named


@pytest.mark.parametrize("text, words", [
    ("camera: {sim: {fps: -1}}", ["s.yaml", "camera.sim.fps", "-1", "greater than 0"]),
    ("camera: {kind: usb}", ["camera.kind", "'usb'", "sim", "genicam", "replay"]),
    ("pipeline: {backpressure: wait}", ["pipeline.backpressure", "drop_oldest"]),
    ("camra: {}", ["camra", "Extra inputs"]),
    ("camera: [1, 2", ["s.yaml", "not valid YAML"]),
    ("- a\n- b", ["mapping"]),
    ("camera: {kind: replay}", ["replay.path"]),
])
def test_bad_station_config_is_named(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_station_config(path, environ={})
    for word in words:
        assert word in str(info.value)


def test_bad_environment_override_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="environment.*camera.sim.fps"):
        load_station_config(path, environ={"INSPECTOR_CAMERA__SIM__FPS": "fast"})


def test_missing_file_and_bad_recipe(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_station_config(tmp_path / "nope.yaml", environ={})
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nmodels: []\n")
    with pytest.raises(ConfigError, match="r.yaml: field models"):
        load_recipe(recipe)
    recipe.write_text("name: r\nmodels: [{bundle: b}]\nroi: {x0: 0.6, x1: 0.4}\n")
    with pytest.raises(ConfigError, match="x0 < x1"):
        load_recipe(recipe)


def test_the_recipe_archive_policy_and_the_station_quota(tmp_path: Path) -> None:
    """Shipped recipes keep every FAIL and 1 PASS in 50; a recipe may say otherwise; nonsense is named."""
    for name in ("washer", "pcb", "fabric", "washer-with-detector"):
        _, shipped = load_recipe(ROOT / "configs" / "recipes" / f"{name}.yaml")
        assert (shipped.archive.pass_every, shipped.archive.pass_thumbnails) == (50, True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nmodels: [{bundle: b}]\n")
    assert load_recipe(recipe)[1].archive.pass_every == 50  # the default without an archive section
    recipe.write_text("name: r\nmodels: [{bundle: b}]\narchive: {pass_every: 1, pass_thumbnails: false}\n")
    policy = load_recipe(recipe)[1].archive
    assert (policy.pass_every, policy.pass_thumbnails) == (1, False)
    recipe.write_text("name: r\nmodels: [{bundle: b}]\narchive: {pass_every: -1}\n")
    with pytest.raises(ConfigError, match="field archive.pass_every = -1"):
        load_recipe(recipe)
    recipe.write_text("name: r\nmodels: [{bundle: b}]\narchive: {keep: all}\n")
    with pytest.raises(ConfigError, match="field archive.keep"):
        load_recipe(recipe)
    station = ROOT / "configs" / "station.yaml"
    assert load_station_config(station, environ={}).station.archive_max_mb is None
    quota = {"INSPECTOR_STATION__ARCHIVE_MAX_MB": "512"}
    assert load_station_config(station, environ=quota).station.archive_max_mb == 512
    with pytest.raises(ConfigError, match="station.archive_max_mb"):
        load_station_config(station, environ={"INSPECTOR_STATION__ARCHIVE_MAX_MB": "0"})
