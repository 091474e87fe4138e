"""Tiny end-to-end runs of classify, detect and segment: bundles that verify, reports, runtime equivalence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inspector.bundle.manifest import EQUIVALENCE_INPUTS_NAME
from inspector.bundle.store import open_bundle
from inspector.domain.frame import Frame
from inspector.inference.runtimes import load_runtime
from inspector.inference.supervised import SupervisedModel
from training.cli import app
from training.datasets import read_image

from .conftest import train

pytestmark = pytest.mark.slow
runner = CliRunner()


def _frame(path: Path) -> Frame:
    image = read_image(path)
    return Frame(id=1, timestamp=0.0, monotonic=0.0, image=image, camera="test")


def _check_bundle(out: Path, task: str, outputs: tuple[str, ...], backbone: str = "tf_efficientnet_lite0") -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == task and manifest["backbone"] == backbone
    assert manifest["input"]["height"] == 64 and manifest["equivalence"]["passed"] is True
    assert {r["name"]: tuple(r["outputs"]) for r in manifest["runtimes"]} == {"torch": outputs, "onnxruntime": outputs}
    for name in ("report/metrics.json", "report/confusion_matrix.png", "report/predictions.png"):
        assert name in manifest["files"], name
    verified = runner.invoke(app, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output
    assert "bundle verified" in verified.output
    # the two runtimes agree on the stored sample inputs, output by output
    bundle = open_bundle(out)
    inputs = np.load(out / EQUIVALENCE_INPUTS_NAME)
    torch_out = load_runtime(bundle, "torch").run_raw(inputs[:1])
    onnx_out = load_runtime(bundle, "onnxruntime").run_raw(inputs[:1])
    for a, b in zip(torch_out, onnx_out, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    return manifest


def test_detector_bundle(tiny_detector: Path, labeled_data: Path) -> None:
    manifest = _check_bundle(tiny_detector, "detection", ("boxes", "scores", "labels"))
    assert manifest["class_names"] == ["scratch", "crack", "dent", "stain"]
    assert manifest["image_threshold"]["method"] == "box_f1"
    metrics = manifest["metrics"]["test"]
    assert {"map", "map_50", "backend"} <= set(metrics)
    model = SupervisedModel.open(tiny_detector, runtime="onnxruntime", pixel_threshold=0.0,
                                 override_calibration=True)
    output = model.infer(_frame(labeled_data / "test" / "crack" / "000.png"))
    assert output.error is None and output.regions and output.score is not None
    assert {r.class_name for r in output.regions} <= set(manifest["class_names"])
    assert all(r.x >= 0 and r.x + r.width <= 128 + 1 for r in output.regions)  # frame coordinates (128 px)


def test_classifier_trains_on_an_mvtec_layout_folder(labeled_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-classifier"
    result = train("classify", labeled_data.parent, out, "--category", "washer")
    assert result.exit_code == 0, result.output
    assert result.network_attempts == []
    assert "macro_f1" in result.output and "(mvtec)" in result.output
    assert "station latency per image (batch 1, measured on this machine at export): " in result.output
    manifest = _check_bundle(out, "classification", ("probs",), "tf_efficientnet_lite2")  # the probe's default
    assert manifest["class_names"] == ["good", "crack", "dent", "scratch", "stain"]
    assert np.array(manifest["metrics"]["test"]["confusion_matrix"]).shape == (5, 5)
    output = SupervisedModel.open(out).infer(_frame(labeled_data / "test" / "dent" / "000.png"))
    ((name, probability),) = output.classes
    assert name in manifest["class_names"] and 0.0 <= probability <= 1.0 and 0.0 <= output.score <= 1.0
    # a few images per class: the default head is the linear probe on frozen features
    assert manifest["architecture"] == "timm-pooled-probe"
    training = manifest["metrics"]["training"]
    assert training["head"] == "probe" and training["history"][0]["phase"].startswith("probe LDA on ")
    assert training["backbone"] == "lite2" and training["history"][-1]["phase"].startswith("refit LDA on ")
    assert training["probe_views"] == 8


def test_classifier_fine_tunes_when_asked(labeled_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "fine-tuned"
    result = train("classify", labeled_data / "classification", out, "--head", "fine-tune")
    assert result.exit_code == 0, result.output
    manifest = _check_bundle(out, "classification", ("probs",))
    assert manifest["architecture"] == "timm-linear-head"
    assert manifest["metrics"]["training"]["head"] == "fine-tune"
    assert manifest["metrics"]["training"]["epochs_run"] >= 1


def test_unknown_head_is_one_line(labeled_data: Path, tmp_path: Path) -> None:
    result = train("classify", labeled_data / "classification", tmp_path / "m", "--head", "linear")
    assert result.exit_code == 2, result.output
    assert "--head 'linear' is not one of auto, probe, fine-tune" in result.output
    assert "Traceback" not in result.output


def test_segmenter_bundle(labeled_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-segmenter"
    result = train("segment", labeled_data, out)
    assert result.exit_code == 0, result.output
    manifest = _check_bundle(out, "segmentation", ("scores", "probs"))
    assert manifest["class_names"] == ["background", "crack", "dent", "scratch", "stain"]
    assert {"mean_iou", "mean_dice"} <= set(manifest["metrics"]["test"])
    model = SupervisedModel.open(out, pixel_threshold=0.0, override_calibration=True)
    output = model.infer(_frame(labeled_data / "test" / "stain" / "000.png"))
    assert output.anomaly_map.shape == (128, 128)
    assert output.regions and output.regions[0].class_name in manifest["class_names"][1:]


def test_resume_without_a_checkpoint_is_one_line(labeled_data: Path, tmp_path: Path) -> None:
    result = train("classify", labeled_data / "classification", tmp_path / "m", "--resume")
    assert result.exit_code == 2, result.output
    assert "no checkpoint to resume from" in result.output and "Traceback" not in result.output


def test_broken_annotations_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations.json").write_text("")
    result = train("detect", tmp_path, tmp_path / "m")
    assert result.exit_code == 2 and "empty annotation file" in result.output


def test_existing_bundle_is_refused_before_training(labeled_data: Path, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    result = train("segment", labeled_data, tmp_path / "m")
    assert result.exit_code == 2 and "already exists" in result.output
