"""Binding thresholds: finite, inside the task's score range, and near the calibrated value unless meant."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspector.bundle.store import BundleError, open_bundle
from inspector.cli import app
from inspector.inference.thresholds import resolve_threshold
from tests.integration.station.conftest import write_station

pytestmark = pytest.mark.slow


def test_the_calibrated_thresholds_bind_when_the_recipe_sets_none(tiny_bundle: Path) -> None:
    bundle = open_bundle(tiny_bundle)
    assert resolve_threshold(bundle, "image", None, False) == bundle.manifest.image_threshold.value


@pytest.mark.parametrize("value, words", [(float("nan"), "is not a finite number"),
                                          (float("inf"), "is not a finite number"),
                                          (-0.5, "outside the anomaly score range 0..inf"),
                                          (1e9, "more than 10x from the calibrated")])
def test_a_bad_override_is_refused_in_one_line(tiny_bundle: Path, value: float, words: str) -> None:
    with pytest.raises(BundleError, match=words) as caught:
        resolve_threshold(open_bundle(tiny_bundle), "image", value, False)
    assert "recipe image_threshold" in str(caught.value) and "\n" not in str(caught.value)


def test_a_far_override_that_is_meant_binds_and_is_logged(tiny_bundle: Path, caplog: pytest.LogCaptureFixture) -> None:
    bundle = open_bundle(tiny_bundle)
    far = bundle.manifest.image_threshold.value * 50
    with caplog.at_level(logging.WARNING):
        assert resolve_threshold(bundle, "image", far, True) == far
    assert "overrides the calibrated" in caplog.text


@pytest.mark.parametrize("value, words", [("1.0e9", "more than 10x"), ("-1", "outside the anomaly score range"),
                                          (".nan", "image_threshold")])
def test_the_station_refuses_a_recipe_that_would_pass_everything(tmp_path: Path, tiny_bundle: Path, value: str,
                                                                 words: str) -> None:
    """Before, ``.nan`` and ``1e9`` passed every part silently (score >= nan is False) and negatives loaded."""
    config = write_station(tmp_path, tiny_bundle)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace(f"- bundle: {tiny_bundle}",
                                                 f"- bundle: {tiny_bundle}\n  image_threshold: {value}"))
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--frames", "3"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.output
