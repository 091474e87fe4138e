"""User mistakes end in one clear line and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from training.cli import app

runner = CliRunner()


def _run(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_missing_dataset_folder(tmp_path: Path) -> None:
    result = _run("anomaly", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m"))
    assert result.exit_code == 2
    assert "nope" in result.output and "Traceback" not in result.output


def test_only_corrupt_training_images(tmp_path: Path) -> None:
    good = tmp_path / "cat" / "train" / "good"
    good.mkdir(parents=True)
    (good / "000.png").write_bytes(b"garbage")
    test_good = tmp_path / "cat" / "test" / "good"
    test_good.mkdir(parents=True)
    cv2.imwrite(str(test_good / "000.png"), np.zeros((16, 16, 3), np.uint8))
    result = _run("anomaly", "--data", str(tmp_path), "--category", "cat", "--out", str(tmp_path / "m"))
    assert result.exit_code == 2
    assert "000.png" in result.output
    assert not (tmp_path / "m").exists()


def test_unknown_model_and_backbone(tmp_path: Path) -> None:
    result = _run("anomaly", "--data", str(tmp_path), "--model", "bogus", "--out", str(tmp_path / "m"))
    assert result.exit_code == 2 and "bogus" in result.output
    result = _run("anomaly", "--data", str(tmp_path), "--backbone", "resnet", "--out", str(tmp_path / "m"))
    assert result.exit_code == 2 and "resnet" in result.output


def test_verify_and_evaluate_name_a_missing_bundle(tmp_path: Path) -> None:
    result = _run("verify", str(tmp_path / "ghost"))
    assert result.exit_code == 2 and "ghost" in result.output
    result = _run("evaluate", str(tmp_path / "ghost"), "--data", str(tmp_path))
    assert result.exit_code == 2 and "ghost" in result.output
