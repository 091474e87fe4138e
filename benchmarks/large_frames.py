"""Large frames: a tiled PatchCore against the whole frame resized to the model input, on 5 MP frames.

    .venv/bin/python benchmarks/large_frames.py [--tile-scale 0.5] [--train 6] [--out DIR]

Frames are 2448 x 2048 (5 MP) renders of a brushed-metal product surface (procedural: streaks along x, fine
grain, an uneven light that moves from part to part, sensor noise). Defective frames carry one defect of about
8 px: a dark pit (8 px disc), a bright speck (7 px disc) or a short scratch (10 x 2 px).

Two bundles are trained by ``inspector-train anomaly``'s own code (``train_anomaly``) on the same data:
(a) tiled: ``--tile-scale`` (default 0.5: a pit stays 4 px, half a feature cell), tiles of ``--tile`` px with
``--overlap`` px; (b) the baseline, the station before tiling: the whole frame resized to ``--baseline-size`` px
(an 8 px defect becomes under 1 px). Both are then run by the station's ``AnomalyModel`` (ONNX Runtime, CPU) on
the test frames at frame size: image AUROC, and pixel AUROC over every defect pixel and 100,000 good pixels per
frame (a uniform sample, so the estimate is unbiased). Frames per second: the tiled model on ``--fps-frames``
frames one after the other, best of ``--runs``, with the load average before each run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads stall on a shared 2-core machine
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

HEIGHT, WIDTH = 2048, 2448
DEFECTS = ("pit", "speck", "scratch")
GOOD_PIXELS_PER_FRAME = 100_000


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10, help="good training frames")
    parser.add_argument("--test-good", type=int, default=9, help="good test frames")
    parser.add_argument("--test-defect", type=int, default=3, help="test frames per defect type (3 types)")
    parser.add_argument("--tile-scale", type=float, default=0.5, help="frame scale the tiles are cut at")
    parser.add_argument("--tile", type=int, default=256, help="tile side = model input (px)")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap (px of the scaled frame)")
    parser.add_argument("--baseline-size", type=int, default=256, help="model input of the whole-frame baseline")
    parser.add_argument("--coreset-ratio", type=float, default=0.01,
                        help="PatchCore bank fraction (both models); the tiled model sees ~200 k training patches")
    parser.add_argument("--fps-frames", type=int, default=4, help="frames per timed run")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (best counts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep data and bundles here (default: a temp dir)")
    return parser


def surface(rng: np.random.Generator) -> np.ndarray:
    """One good 5 MP frame of brushed metal, RGB uint8."""
    f32 = np.float32
    streaks = cv2.GaussianBlur(rng.standard_normal((HEIGHT, WIDTH), dtype=f32), (0, 0), sigmaX=12, sigmaY=0.9)
    grain = cv2.GaussianBlur(rng.standard_normal((HEIGHT, WIDTH), dtype=f32), (0, 0), sigmaX=1.2)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(f32)
    cx, cy = rng.uniform(0.3, 0.7) * WIDTH, rng.uniform(0.3, 0.7) * HEIGHT
    light = 1.0 - 0.25 * (((xx - cx) / WIDTH) ** 2 + ((yy - cy) / HEIGHT) ** 2)
    gray = (rng.uniform(120, 140) * light + 9 * streaks / streaks.std() + 5 * grain / grain.std()
            + 2 * rng.standard_normal((HEIGHT, WIDTH), dtype=f32))
    tint = rng.uniform(0.9, 1.0, 3).astype(f32)
    return np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)


def add_defect(image: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``image`` with one ~8 px defect of ``kind`` away from the border, and its mask (uint8 0/255)."""
    x, y = int(rng.integers(64, WIDTH - 64)), int(rng.integers(64, HEIGHT - 64))
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    out = image.astype(np.float32)
    if kind == "pit":
        cv2.circle(mask, (x, y), 4, 255, -1)
        out[mask > 0] *= 0.5
    elif kind == "speck":
        cv2.circle(mask, (x, y), 3, 255, -1)
        out[mask > 0] = out[mask > 0] * 0.4 + 150
    else:  # a short scratch across the brushing
        angle = rng.uniform(np.pi / 3, 2 * np.pi / 3)
        dx, dy = 5 * np.cos(angle), 5 * np.sin(angle)
        cv2.line(mask, (round(x - dx), round(y - dy)), (round(x + dx), round(y + dy)), 255, 2)
        out[mask > 0] *= 0.55
    return np.clip(out, 0, 255).astype(np.uint8), mask


def write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 1])


def build_dataset(root: Path, args: argparse.Namespace) -> Path:
    """MVTec layout under ``root/plate``: train/good, test/good and test/<defect> with ground_truth masks."""
    data = root / "plate"
    rng = np.random.default_rng(args.seed)
    for i in range(args.train):
        write_png(data / "train" / "good" / f"{i:03d}.png", surface(rng))
    for i in range(args.test_good):
        write_png(data / "test" / "good" / f"{i:03d}.png", surface(rng))
    for kind in DEFECTS:
        for i in range(args.test_defect):
            image, mask = add_defect(surface(rng), kind, rng)
            write_png(data / "test" / kind / f"{i:03d}.png", image)
            write_png(data / "ground_truth" / kind / f"{i:03d}_mask.png", mask)
    return data


def train(data: Path, out: Path, args: argparse.Namespace, tiled: bool) -> tuple[Path, float]:
    from training.anomaly.models import ModelConfig
    from training.anomaly.train import TrainOptions, train_anomaly

    options = TrainOptions(data=data, out=out, image_size=args.tile if tiled else args.baseline_size,
                           tile_scale=args.tile_scale if tiled else None, tile_overlap=args.overlap if tiled else None,
                           model=ModelConfig(coreset_ratio=args.coreset_ratio, seed=args.seed), overwrite=True,
                           device="cpu")
    start = time.perf_counter()
    train_anomaly(options)
    return out, time.perf_counter() - start


def test_frames(data: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    from training.datasets import load_anomaly_dataset, read_image, read_mask

    dataset = load_anomaly_dataset(data)
    frames = []
    for sample in dataset.test:
        image = read_image(sample.path)
        mask = read_mask(sample.mask_path, image.shape[:2]) if sample.mask_path else None
        frames.append((image, mask))
    return frames


def quality(model, frames: list[tuple[np.ndarray, np.ndarray | None]], seed: int) -> dict:
    """Image AUROC, pixel AUROC (every defect pixel, a uniform sample of good pixels) at frame size, and the
    image AUROC the maximum of the anomaly map would give as the image score (for comparison only)."""
    from inspector.domain.frame import Frame

    rng = np.random.default_rng(seed)
    scores, peaks, labels, positives, negatives = [], [], [], [], []
    for i, (image, mask) in enumerate(frames):
        out = model.infer(Frame(id=i, camera="bench", timestamp=0.0, monotonic=0.0, image=image))
        if out.error:
            raise RuntimeError(out.error)
        scores.append(out.score)
        peaks.append(float(out.anomaly_map.max()))
        labels.append(mask is not None)
        flat = out.anomaly_map.ravel()
        defect = np.zeros(flat.size, bool) if mask is None else mask.ravel()
        positives.append(flat[defect])
        good = np.flatnonzero(~defect)
        negatives.append(flat[rng.choice(good, GOOD_PIXELS_PER_FRAME, replace=False)])
    pos, neg = np.concatenate(positives), np.concatenate(negatives)
    pixel = roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])
    return {"image_auroc": float(roc_auc_score(labels, scores)), "pixel_auroc": float(pixel),
            "map_max_auroc": float(roc_auc_score(labels, peaks))}


def frames_per_second(model, frames: list[np.ndarray], runs: int) -> tuple[float, list[str]]:
    """Best of ``runs`` passes over ``frames`` one at a time (after one untimed frame), and what each saw."""
    from inspector.domain.frame import Frame

    wrapped = [Frame(id=i, camera="bench", timestamp=0.0, monotonic=0.0, image=f) for i, f in enumerate(frames)]
    model.infer(wrapped[0])
    best, notes = 0.0, []
    for run in range(runs):
        load = os.getloadavg()[0]
        start = time.perf_counter()
        for frame in wrapped:
            model.infer(frame)
        fps = len(wrapped) / (time.perf_counter() - start)
        notes.append(f"run {run + 1}: {fps:.2f} frames/s (load average {load:.2f} before it)")
        best = max(best, fps)
    return best, notes


def main(args: argparse.Namespace) -> None:
    from inspector.inference.anomaly import AnomalyModel
    from inspector.inference.tiling import plan_tiles

    work = args.out or Path(tempfile.mkdtemp(prefix="large-frames-"))
    plan = plan_tiles(HEIGHT, WIDTH, args.tile, args.overlap, args.tile_scale)
    print(f"# benchmarks/large_frames.py  {time.strftime('%Y-%m-%d %H:%M')}  cores {os.cpu_count()}  "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"# {WIDTH}x{HEIGHT} brushed-metal frames, ~8 px defects ({', '.join(DEFECTS)}); {args.train} good "
          f"training frames, {args.test_good} good + {len(DEFECTS) * args.test_defect} defective test frames; "
          f"PatchCore lite0, coreset ratio {args.coreset_ratio}; data in {work}")
    print(f"# tiled: scale {args.tile_scale} -> {plan.width}x{plan.height}, {len(plan)} tiles of {args.tile} px "
          f"(overlap {args.overlap}); baseline: whole frame resized to {args.baseline_size} px")
    start = time.perf_counter()
    data = build_dataset(work / "data", args)
    print(f"data rendered in {time.perf_counter() - start:.0f} s", flush=True)
    tiled_dir, tiled_s = train(data, work / "models" / "tiled", args, tiled=True)
    print(f"tiled model trained and exported in {tiled_s:.0f} s", flush=True)
    base_dir, base_s = train(data, work / "models" / "baseline", args, tiled=False)
    print(f"baseline trained and exported in {base_s:.0f} s", flush=True)

    frames = test_frames(data)
    tiled = AnomalyModel.open(tiled_dir, "onnxruntime")
    baseline = AnomalyModel.open(base_dir, "onnxruntime")
    rows = {"tiled": quality(tiled, frames, args.seed), "baseline": quality(baseline, frames, args.seed)}
    defective = [image for image, mask in frames if mask is not None]
    fps, notes = frames_per_second(tiled, defective[: args.fps_frames], args.runs)
    base_fps, _ = frames_per_second(baseline, defective[: args.fps_frames], 1)

    print(f"\n{'model':34} {'img AUROC':>9} {'px AUROC':>9} {'frames/s':>9} {'(img AUROC by map max)':>23}")
    for name, label, rate in (("tiled", f"tiled ({len(plan)} tiles, scale {args.tile_scale})", fps),
                              ("baseline", f"baseline (whole frame, {args.baseline_size} px)", base_fps)):
        r = rows[name]
        print(f"{label:34} {r['image_auroc']:9.3f} {r['pixel_auroc']:9.3f} {rate:9.2f} {r['map_max_auroc']:23.3f}")
    for note in notes:
        print(f"# tiled {note}")
    print(f"image AUROC ratio tiled/baseline: {rows['tiled']['image_auroc'] / rows['baseline']['image_auroc']:.2f}x "
          f"(target >= 1); pixel AUROC ratio: {rows['tiled']['pixel_auroc'] / rows['baseline']['pixel_auroc']:.2f}x")
    print(f"tiled frames/s at 5 MP (ONNX Runtime, CPU, best of {args.runs}): {fps:.2f} (target >= 1); "
          f"{fps / base_fps:.2f}x the baseline's rate")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
