"""The start-up notice when the models cannot keep up with the camera, from the load-time check's times."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from inspector.inference.anomaly import AnomalyModel
from inspector.station.capacity import capacity_notice

pytestmark = pytest.mark.slow


def _timed(tiny_bundle: Path, ms: float | None) -> AnomalyModel:
    model = AnomalyModel.open(tiny_bundle, "onnxruntime")
    model.load_check = replace(model.load_check, ms_per_image=ms)
    return model


def test_models_slower_than_the_camera_give_a_notice_with_the_figures(tiny_bundle: Path) -> None:
    model = _timed(tiny_bundle, 50.0)  # 20 frames/s per worker, three quarters of it left by the station's own work
    notice = capacity_notice([model], workers=2, camera_fps=60)
    assert notice is not None and notice.startswith("models too slow for the camera"), notice
    assert "about 50 ms per frame on onnxruntime:cpu" in notice, notice
    assert "2 inference workers keep up with about 30 frames/s and the camera gives 60" in notice, notice
    assert capacity_notice([model], workers=2, camera_fps=30) is None  # keeps up, just
    assert capacity_notice([model, model], workers=2, camera_fps=30) is not None  # every model runs on each frame
    assert "1 inference worker keeps up with about 15 frames/s" in capacity_notice([model], workers=1, camera_fps=20)


def test_no_notice_without_a_rate_or_a_time(tiny_bundle: Path) -> None:
    assert capacity_notice([_timed(tiny_bundle, 50.0)], workers=1, camera_fps=None) is None  # triggered camera
    assert capacity_notice([_timed(tiny_bundle, None)], workers=1, camera_fps=1000) is None
    unchecked = AnomalyModel.open(tiny_bundle, "onnxruntime")
    unchecked.load_check = None  # a model loaded without the equivalence check
    assert capacity_notice([unchecked], workers=1, camera_fps=1000) is None
