"""Tiled training on tiny "large" frames (512 x 384, tiles of 64 px), via the CLI: export, equivalence per tile,
and the station's tiled path finds an 8 px defect that a whole-frame resize to 64 px would lose."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from inspector.bundle.store import open_bundle
from inspector.domain.frame import Frame
from inspector.inference.anomaly import AnomalyModel
from inspector.inference.equivalence import check_equivalence
from training.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()
HEIGHT, WIDTH = 384, 512


def surface(rng: np.random.Generator) -> np.ndarray:
    """Brushed metal: streaks along x, a light gradient that varies from part to part, sensor noise."""
    streaks = cv2.GaussianBlur(rng.normal(0, 1, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), sigmaX=5, sigmaY=0.8)
    gray = 125 + 9 * streaks / streaks.std() + rng.uniform(-8, 8) * np.linspace(-1, 1, WIDTH)[None, :]
    gray = gray + rng.normal(0, 1.5, gray.shape)
    return np.clip(np.stack([gray, gray * 0.97, gray * 0.93], axis=-1), 0, 255).astype(np.uint8)


def pit(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """An 8 px dark pit somewhere on the part, and its mask."""
    y, x = int(rng.integers(20, HEIGHT - 20)), int(rng.integers(20, WIDTH - 20))
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.circle(mask, (x, y), 4, 255, -1)
    out = image.copy()
    out[mask > 0] = (out[mask > 0] * 0.45).astype(np.uint8)
    return out, mask, (x, y)


def write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def large_frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("large") / "plate"
    rng = np.random.default_rng(3)
    for i in range(5):
        write(root / "train" / "good" / f"{i:03d}.png", surface(rng))
    for i in range(4):
        write(root / "test" / "good" / f"{i:03d}.png", surface(rng))
        image, mask, _ = pit(surface(rng), rng)
        write(root / "test" / "pit" / f"{i:03d}.png", image)
        write(root / "ground_truth" / "pit" / f"{i:03d}_mask.png", mask)
    return root


@pytest.fixture(scope="module")
def tiled_bundle(large_frames: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "plate-tiled"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a small machine shared with other jobs, OpenMP threads that spin slow it 10-40x
    try:
        result = runner.invoke(app, ["anomaly", "--data", str(large_frames), "--image-size", "64", "--tile-scale",
                                     "1", "--tile-overlap", "8", "--coreset-ratio", "0.05", "--device", "cpu",
                                     "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return out


def test_the_manifest_records_the_tiling_and_each_runtime_reproduces_the_tile_scores(tiled_bundle: Path) -> None:
    manifest = json.loads((tiled_bundle / "manifest.json").read_text())
    assert manifest["tiling"] == {"tile": 64, "overlap": 8, "scale": 1.0}
    assert manifest["input"]["height"] == manifest["input"]["width"] == 64
    assert manifest["equivalence"]["passed"] is True
    assert np.load(tiled_bundle / "equivalence_inputs.npy").shape[1:] == (3, 64, 64)  # one tile per sample
    bundle = open_bundle(tiled_bundle)
    assert bundle.manifest.tiling is not None and bundle.manifest.tiling.scale == 1.0
    for check in check_equivalence(bundle):
        assert check.passed, check
    metrics = json.loads((tiled_bundle / "report" / "metrics.json").read_text())
    assert metrics["training"]["tiling"] == manifest["tiling"]
    assert metrics["training"]["train_tiles"] == 5 * 9 * 7  # 9 x 7 tiles of 64 px (stride 56) per frame
    assert metrics["image_auroc"] >= 0.9 and metrics["pixel_auroc"] >= 0.9
    assert (tiled_bundle / "report" / "heatmap_grid.png").is_file()


def test_the_station_scores_a_frame_with_a_small_defect_higher_and_finds_it(tiled_bundle: Path) -> None:
    rng = np.random.default_rng(99)
    good = surface(rng)
    bad, _, (x, y) = pit(surface(rng), rng)
    model = AnomalyModel.open(tiled_bundle, "onnxruntime")
    outputs = [model.infer(Frame(id=i, camera="c", timestamp=0.0, monotonic=0.0, image=image))
               for i, image in enumerate((good, bad))]
    assert all(o.error is None for o in outputs), outputs
    assert outputs[0].anomaly_map.shape == (HEIGHT, WIDTH)
    assert outputs[1].score > outputs[0].score
    assert outputs[1].score >= model.image_threshold > outputs[0].score
    peak_y, peak_x = np.unravel_index(np.argmax(outputs[1].anomaly_map), outputs[1].anomaly_map.shape)
    assert abs(int(peak_x) - x) <= 8 and abs(int(peak_y) - y) <= 8


def test_evaluate_scores_a_tiled_bundle_tile_wise(tiled_bundle: Path, large_frames: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", str(tiled_bundle), "--data", str(large_frames), "--report",
                                 str(report), "--runtime", "onnxruntime"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((report / "metrics.json").read_text())
    trained = json.loads((tiled_bundle / "report" / "metrics.json").read_text())
    assert metrics["image_auroc"] == pytest.approx(trained["image_auroc"])


@pytest.mark.parametrize(("flags", "named"), [
    (["--tile-scale", "0"], "--tile-scale"),
    (["--tile-scale", "-0.5"], "--tile-scale"),
    (["--tile-scale", "1", "--tile-overlap", "64"], "--tile-overlap"),
    (["--tile-overlap", "8"], "--tile-overlap"),
])
def test_bad_tiling_flags_are_one_error_line_naming_the_flag(flags: list[str], named: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["anomaly", "--data", str(tmp_path), "--image-size", "64", "--out",
                                 str(tmp_path / "b"), *flags])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], result.output
