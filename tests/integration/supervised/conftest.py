"""Tiny labeled synthetic data and tiny supervised bundles (64 px, 2 epochs), trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import install_network_guard
from training.cli import app
from training.synth import generate_dataset

runner = CliRunner()
TINY = ["--image-size", "64", "--epochs", "2", "--batch-size", "8"]


@pytest.fixture(scope="session")
def labeled_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MVTec product folder, with classification/ and detection/ labels written by the generator."""
    root = tmp_path_factory.mktemp("labeled")
    generate_dataset(root, seed=5, products=["washer"], n_train=4, n_test_good=4, n_test_per_defect=3, size=128)
    return root / "washer"


def train(command: str, data: Path, out: Path, *extra: str):
    """Run ``inspector-train <command>`` with the network guarded; the result carries the attempts."""
    with pytest.MonkeyPatch.context() as patch:
        guard = install_network_guard(patch)
        result = runner.invoke(app, [command, "--data", str(data), "--out", str(out), *TINY, *extra])
    result.network_attempts = guard.attempts
    return result


@pytest.fixture(scope="session")
def tiny_detector(labeled_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("supervised-models") / "tiny-detector"
    result = train("detect", labeled_data / "detection", out)
    assert result.exit_code == 0, result.output
    assert result.network_attempts == []
    return out
