from __future__ import annotations

from pathlib import Path

import pytest
import yaml


def write_station(tmp_path: Path, bundle: Path, **camera) -> Path:
    """A station.yaml + recipe in ``tmp_path`` using ``bundle``; returns the station.yaml path."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "tiny-washer", "version": 3, "models": [{"bundle": str(bundle)}],
                                      "min_defect_area": 10, "deadline_ms": 10_000}))
    config = {
        "station": {"name": "test-station", "data_dir": str(tmp_path / "station")},
        "camera": {"kind": "sim", "sim": {"product": "washer", "fps": 50, "size": 128, "defect_fraction": 0.3,
                                          "seed": 5}, **camera},
        "recipe": str(recipe),
        "pipeline": {"queue_size": 4, "backpressure": "block", "runtime": "onnxruntime"},
        "writer": {"batch_size": 8, "flush_interval_s": 0.2},
        # Signed recipes are the default; tests/integration/access covers them. These tests run unsigned ones.
        "security": {"require_signed_recipes": False},
    }
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def station_yaml(tmp_path: Path, tiny_bundle: Path) -> Path:
    return write_station(tmp_path, tiny_bundle)
