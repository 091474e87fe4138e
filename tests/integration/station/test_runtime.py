"""StationRuntime on the real station: states, rebuild on a change, typed start-up failures, the close sequence."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from inspector.station.errors import CameraUnavailable, ConfigInvalid, DatabaseUnreachable, ModelRefused
from inspector.station.runtime import State, StationRuntime

from .conftest import write_station

pytestmark = pytest.mark.slow


def test_states_rebuild_and_close(station_yaml: Path) -> None:
    runtime = StationRuntime(station_yaml)
    states: list[State] = []
    runtime.on_state(states.append)
    runtime.start(5)
    assert runtime.state is State.RUNNING and runtime.wait(60)
    first = runtime.parts
    runtime.stop()
    runtime.start(3)
    assert runtime.parts is first  # nothing changed: the built station is reused
    assert runtime.wait(60)
    runtime.stop()
    recipe = station_yaml.parent / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("min_defect_area: 10", "min_defect_area: 12"))
    runtime.start(2)
    assert runtime.parts is not first and first.camera.stats.closed and first.writer.journaled == 0
    assert runtime.parts.models[0].min_area == 12  # the rebuilt models are bound to the new recipe
    assert runtime.wait(60)
    report = runtime.close()
    assert states == [State.STARTING, State.RUNNING, State.STOPPING, State.STOPPED] * 2 + [
        State.STARTING, State.RUNNING, State.STOPPING, State.CLOSED]
    assert report.camera_closed and report.journaled == 0 and report.inspected == 10
    assert runtime.close() is report
    with pytest.raises(RuntimeError, match="closed"):
        runtime.start()


def test_start_up_objects_are_left_out_of_later_collections(station_yaml: Path) -> None:
    """A full collection walking the start-up heap (300,000 objects with the runtimes) held the interpreter for
    130 ms, and the camera thread lost a frame; once started, collections walk only what the run made."""
    gc.unfreeze()
    runtime = StationRuntime(station_yaml)
    try:
        runtime.start(5)
        assert gc.get_freeze_count() > 10 * len(gc.get_objects())
        assert runtime.wait(60)
    finally:
        runtime.close()
        gc.unfreeze()


def _bad_yaml(cfg: Path, recipe: Path) -> None:
    cfg.write_text("camera: [not, a, mapping")


def _no_bundle(cfg: Path, recipe: Path) -> None:
    recipe.write_text(recipe.read_text().replace("bundle:", "bundle: /nowhere #"))


def _dead_database(cfg: Path, recipe: Path) -> None:
    cfg.write_text(cfg.read_text() + "database: {url: 'postgresql://x@127.0.0.1:9/none', require_at_start: true}\n")


def _missing_camera(cfg: Path, recipe: Path) -> None:
    cfg.write_text(cfg.read_text().replace("kind: sim", "kind: genicam"))


@pytest.mark.parametrize("change, error, alarm", [
    (_bad_yaml, ConfigInvalid, "Configuration invalid: "),
    (_no_bundle, ModelRefused, "Model refused: "),
    (_dead_database, DatabaseUnreachable, "Database unreachable – station not started: "),
    (_missing_camera, CameraUnavailable, "Camera not available: "),
], ids=["config", "model", "database", "camera"])
def test_start_up_failures_are_typed_and_become_the_alarm(tmp_path: Path, tiny_bundle: Path, change, error,
                                                        alarm) -> None:
    config = write_station(tmp_path, tiny_bundle, genicam={"serial": "no-such-serial"})
    change(config, tmp_path / "recipe.yaml")
    runtime = StationRuntime(config)
    with pytest.raises(error) as caught:
        runtime.start(1)
    assert runtime.state is State.ERROR and runtime.startup_error is caught.value
    status = runtime.status()
    assert status.alarms == (caught.value.alarm,) and status.alarms[0].startswith(alarm)
    assert (status.model_refused is not None) == (error is ModelRefused)
    runtime.close()
    assert runtime.state is State.CLOSED
