"""How many inference workers the station runs, and with how many runtime threads each."""

from __future__ import annotations

import pytest

from inspector.config import PipelineSection
from inspector.station.factory import inference_plan


@pytest.mark.parametrize(("settings", "cores", "plan"), [
    ({"runtime": "onnxruntime"}, 2, (2, 1)),  # two frames at once, one core each
    ({"runtime": "onnxruntime"}, 16, (2, 8)),
    ({"runtime": "onnxruntime"}, 1, (1, None)),
    ({"runtime": "torch"}, 16, (1, None)),  # torch keeps its own pool
    ({"runtime": "auto", "device": "cuda"}, 16, (1, None)),
    ({"runtime": "onnxruntime", "inference_workers": 3}, 12, (3, 4)),
    ({"runtime": "onnxruntime", "inference_threads": 2}, 16, (2, 2)),
    ({"runtime": "onnxruntime", "inference_workers": 1}, 16, (1, None)),
])
def test_inference_plan(settings: dict, cores: int, plan: tuple) -> None:
    assert inference_plan(PipelineSection(**settings), cores) == plan


def test_workers_below_one_are_a_config_error() -> None:
    with pytest.raises(ValueError, match="inference_workers"):
        PipelineSection(inference_workers=0)
