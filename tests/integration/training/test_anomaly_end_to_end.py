"""Real anomalib training on tiny synthetic data, export, verify, tamper, evaluate, via the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inspector.bundle.store import BundleError, open_bundle
from inspector.inference.equivalence import check_equivalence
from inspector.inference.runtimes import load_runtime
from tests.conftest import install_network_guard
from training.cli import app
from training.synth import generate_dataset

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    generate_dataset(root, seed=7, products=["washer"], n_train=10, n_test_good=6, n_test_per_defect=2, size=128)
    return root


@pytest.fixture(scope="module")
def trained(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("models") / "tiny-washer"
    with pytest.MonkeyPatch.context() as patch:
        guard = install_network_guard(patch)
        result = runner.invoke(app, ["anomaly", "--data", str(tiny_data), "--category", "washer", "--model",
                                     "patchcore", "--backbone", "lite0", "--image-size", "128", "--out", str(out)])
    result.network_attempts = guard.attempts
    return out, result


def test_training_writes_a_bundle_that_verifies(trained, tiny_data: Path) -> None:
    out, result = trained
    assert result.network_attempts == [], "training opened a non-loopback connection"
    assert result.exit_code == 0, result.output
    assert "image_auroc" in result.output and "bundle written" in result.output
    assert re.search(r"station latency per image \(batch 1, measured on this machine at export\): "
                     r"(torch|onnxruntime):cpu \d+\.\d ms, (torch|onnxruntime):cpu \d+\.\d ms", result.output)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "anomaly" and manifest["backbone"] == "tf_efficientnet_lite0"
    assert manifest["equivalence"]["passed"] is True
    assert set(manifest["equivalence"]["max_rel_diff"]) >= {"torch:cpu", "onnxruntime:cpu"}
    assert manifest["image_threshold"]["method"] == "f1"
    for name in ("metrics.json", "roc.png", "score_histogram.png", "heatmap_grid.png"):
        assert f"report/{name}" in manifest["files"]
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert metrics["image_auroc"] is not None and metrics["baseline"]["image_auroc"] is not None
    # operating points, the raw score distribution per class, and every raw score with its verdict
    assert [p["target_frr"] for p in metrics["operating_points"]] == [0.01, 0.001]
    assert "recall at 1% false rejects" in result.output
    types = {folder.name for folder in (tiny_data / "washer" / "test").iterdir()}
    assert set(metrics["score_distribution"]) == types and len(types) > 1
    good = metrics["score_distribution"]["good"]
    assert good["images"] == 6 and good["min"] <= good["median"] <= good["max"]
    rows = (out / "report" / "scores.csv").read_text().splitlines()
    assert rows[0] == "image,class,score,verdict" and len(rows) - 1 == metrics["counts"]["images"]
    assert "report/scores.csv" in manifest["files"]
    verified = runner.invoke(app, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output
    assert "bundle verified" in verified.output
    assert "ms per image" in verified.output


def test_runtimes_agree_with_training_scores(trained) -> None:
    out, _ = trained
    bundle = open_bundle(out)
    checks = check_equivalence(bundle)
    assert {c.runtime for c in checks} == {"torch", "onnxruntime"}
    for check in checks:
        assert check.max_rel_diff <= 1e-3, check
    record = json.loads((out / "equivalence.json").read_text())
    inputs = np.load(out / "equivalence_inputs.npy")
    onnx_scores = load_runtime(bundle, "onnxruntime")(inputs[:1]).scores
    assert onnx_scores[0] == pytest.approx(record["reference"]["scores"][0], rel=1e-3)


def test_tampered_runtime_file_is_refused_by_name(trained, tmp_path: Path) -> None:
    out, _ = trained
    copy = tmp_path / "tampered"
    shutil.copytree(out, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(copy)])
    assert result.exit_code == 2
    assert "model.onnx" in result.output and "sha256" in result.output
    with pytest.raises(BundleError, match="model.onnx"):
        open_bundle(copy)


def test_changed_threshold_is_refused(trained, tmp_path: Path) -> None:
    out, _ = trained
    copy = tmp_path / "edited"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["image_threshold"]["value"] = 1e9
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["verify", str(copy)])
    assert result.exit_code == 2 and "manifest was changed" in result.output


def test_evaluate_writes_a_report_for_an_existing_bundle(trained, tiny_data: Path, tmp_path: Path) -> None:
    out, _ = trained
    report = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", str(out), "--data", str(tiny_data), "--category", "washer",
                                 "--report", str(report), "--runtime", "onnxruntime"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["threshold"]["value"] == pytest.approx(json.loads((out / "manifest.json").read_text())
                                                          ["image_threshold"]["value"])
    assert metrics["bundle"]["runtime"] == "onnxruntime"
    assert (report / "heatmap_grid.png").stat().st_size > 10_000


def test_existing_bundle_is_not_overwritten(trained, tiny_data: Path) -> None:
    out, _ = trained
    result = runner.invoke(app, ["anomaly", "--data", str(tiny_data), "--category", "washer", "--out", str(out)])
    assert result.exit_code == 2
    assert "already exists" in result.output


def test_padim_trains_and_its_runtimes_agree(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-padim"
    result = runner.invoke(app, ["anomaly", "--data", str(tiny_data), "--category", "washer", "--model", "padim",
                                 "--image-size", "128", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert all(check.passed for check in check_equivalence(open_bundle(out)))
