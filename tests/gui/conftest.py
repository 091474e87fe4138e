"""GUI tests drive the real station: the simulated camera, a real tiny PatchCore bundle and real SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from inspector.gui.qt_station_window import QtStationWindow
from inspector.gui.station_controller import StationController
from tests.integration.station.conftest import write_station

SIM = {"product": "washer", "fps": 20, "size": 128, "defect_fraction": 0.4, "seed": 5}


@pytest.fixture
def station_config(tmp_path: Path, tiny_bundle: Path) -> Path:
    """station.yaml + recipe for the tiny bundle, the sim camera at line rate (20 fps) and SQLite in tmp_path."""
    return write_station(tmp_path, tiny_bundle, sim=SIM)


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[..., QtStationWindow]]:
    """Build shown station windows; at teardown their stations are stopped and their writers closed."""
    controllers: list[StationController] = []

    def make(config: Path, camera: str | None = None, review=None, lines: tuple[str, ...] = (), access=None,
             idle_logout_s: float = 900.0) -> QtStationWindow:
        controller = StationController(config, camera, lines=lines, access=access)
        controllers.append(controller)
        window = QtStationWindow(controller, review=review, access=access, idle_logout_s=idle_logout_s)
        qtbot.addWidget(window)
        window.resize(1600, 1000)
        window.show()
        return window

    yield make
    for controller in controllers:
        controller.shutdown(wait=True)
