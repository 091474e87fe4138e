"""Issue 14's measured failure: classify on the demo washer with 8 images per defect type (4 to train).

Fine-tuning, the default before, reached a test macro F1 of 0.21 (0.58 on a rerun); the probe default is
deterministic and reaches 0.74 on the same data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app
from training.synth import generate_dataset

pytestmark = pytest.mark.slow


def test_probe_default_learns_the_demo_washer_from_eight_images_per_defect(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "data", seed=1, products=["washer"])  # the synth defaults: 8 per defect type
    out = tmp_path / "washer-classifier"
    result = CliRunner().invoke(app, ["classify", "--data", str(tmp_path / "data"), "--category", "washer",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "too few to judge" in result.output
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert metrics["training"]["head"] == "probe" and metrics["split"]["test"] == 24
    assert metrics["test"]["macro_f1"] >= 0.7, metrics["test"]
