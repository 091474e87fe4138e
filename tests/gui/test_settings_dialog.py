"""The settings dialog validates with the station's pydantic models, shows errors inline, saves only when valid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from inspector.config import load_recipe, load_station_config
from inspector.gui.qt_settings_dialog import QtSettingsDialog, update_yaml_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dialog(qtbot, tmp_path: Path) -> QtSettingsDialog:
    """The dialog over copies of the shipped, commented configs/station.yaml and washer recipe."""
    station, recipe = tmp_path / "station.yaml", tmp_path / "washer.yaml"
    shutil.copy(ROOT / "configs" / "station.yaml", station)
    shutil.copy(ROOT / "configs" / "recipes" / "washer.yaml", recipe)
    made = QtSettingsDialog(station, recipe)
    qtbot.addWidget(made)
    made.show()
    return made


def test_shows_the_current_values_and_is_valid(dialog: QtSettingsDialog) -> None:
    assert dialog.editor("camera.kind").currentText() == "sim"
    assert dialog.editor("camera.sim.fps").text() == "20"
    assert dialog.editor("min_defect_area").text() == "30"
    assert dialog.editor("models.0.image_threshold").text() == ""
    assert dialog.validate() and dialog.save_button.isEnabled()


def test_negative_fps_is_shown_next_to_the_field_and_not_saved(dialog: QtSettingsDialog) -> None:
    before = dialog.paths["station"].read_text()
    dialog.editor("camera.sim.fps").setText("-1")
    error = dialog.error_text("camera.sim.fps")
    assert "camera.sim.fps" in error and "greater than 0" in error
    assert dialog.errors[next(s for s in dialog.errors if s.path == ("camera", "sim", "fps"))].isVisible()
    assert not dialog.save_button.isEnabled()
    assert dialog.save() is False
    assert dialog.paths["station"].read_text() == before
    dialog.editor("camera.sim.fps").setText("25")
    assert dialog.error_text("camera.sim.fps") == "" and dialog.save_button.isEnabled()


def test_recipe_and_feature_errors_name_their_fields(dialog: QtSettingsDialog) -> None:
    dialog.editor("min_defect_area").setText("-5")
    dialog.editor("deadline_ms").setText("soon")
    dialog.editor("camera.genicam.features").setText("{ExposureTime: 5000")
    assert "min_defect_area" in dialog.error_text("min_defect_area")
    assert "deadline_ms" in dialog.error_text("deadline_ms") and "number" in dialog.error_text("deadline_ms")
    assert "camera.genicam.features: not valid YAML" in dialog.error_text("camera.genicam.features")
    assert not dialog.save_button.isEnabled()


def test_replay_without_a_path_is_refused_at_the_kind(dialog: QtSettingsDialog) -> None:
    dialog.editor("camera.kind").setCurrentText("replay")
    assert "replay.path is not set" in dialog.error_text("camera.kind")
    assert not dialog.save_button.isEnabled()


def test_valid_settings_are_saved_with_the_comments_kept(dialog: QtSettingsDialog, qtbot) -> None:
    dialog.editor("camera.sim.fps").setText("12.5")
    dialog.editor("camera.sim.defect_fraction").setText("0.1")
    dialog.editor("camera.sim.product").setCurrentText("pcb")
    dialog.editor("camera.genicam.serial").setText("SN-0042")
    dialog.editor("camera.genicam.features").setText("{ExposureTime: 5000, PixelFormat: RGB8}")
    dialog.editor("models.0.image_threshold").setText("3.5")
    dialog.editor("deadline_ms").setText("1500")
    with qtbot.waitSignal(dialog.saved, timeout=1_000):
        assert dialog.save()
    station = load_station_config(dialog.paths["station"], environ={})
    assert (station.camera.sim.fps, station.camera.sim.defect_fraction, station.camera.sim.product) == (12.5, 0.1,
                                                                                                       "pcb")
    assert station.camera.genicam.serial == "SN-0042"
    assert station.camera.genicam.features == {"ExposureTime": 5000, "PixelFormat": "RGB8"}
    config, _ = load_recipe(dialog.paths["recipe"])
    assert config.models[0].image_threshold == 3.5 and config.deadline_ms == 1500
    text = dialog.paths["station"].read_text()
    assert "# parts per second on the line" in text and "fps: 12.5" in text
    assert "# a result later than this after acquisition is FAIL" in dialog.paths["recipe"].read_text()


def test_yaml_update_keeps_layout_and_falls_back_to_a_plain_dump() -> None:
    text = "a:  # section\n  b: 1   # one\n  c:\n    d: 2\nitems:\n  - x: 1\n    y: null  # why\n"
    edited = update_yaml_text(text, {("a", "b"): 5, ("a", "c"): {"e": 3}, ("items", 0, "y"): 0.5, ("a", "n"): "z"})
    assert yaml.safe_load(edited) == {"a": {"b": 5, "c": {"e": 3}, "n": "z"}, "items": [{"x": 1, "y": 0.5}]}
    # each comment stays in its column
    assert "b: 5   # one" in edited and "y: 0.5   # why" in edited and "# section" in edited
    flow = update_yaml_text("a: {b: 1}\n", {("a", "b"): 2})
    assert yaml.safe_load(flow) == {"a": {"b": 2}}
