"""Anomaly detection quality on real photographed surfaces, against plain anomalib PatchCore in the same run.

    .venv/bin/python benchmarks/quality.py [--variants default,size256] [--categories fur,coins] [--out DIR]

The categories are textured regions of real photographs that ship inside installed packages (scikit-image's
bundled ``data`` folder), listed by name in ``photos()``; the scikit-image photos kept for the independent
quality check are not among them. Each region is cut into a grid of blocks, a checkerboard of training and
test blocks: training and test crops share no pixel, yet both sample the whole surface. Defects on the test
crops come from two generators: anomalib's ``PerlinAnomalyGenerator`` (DRAEM-style, not written here) and the
project's own renderer (``inspector.synthetic.fabric`` stains and tears); a defect is kept only if it is
visible (``visible()``: at least 0.3 % of the crop, 20 grey levels from the surface on average).

Per category and model: image AUROC, pixel AUROC, AUPRO (FPR <= 0.3), recall at 1 % and at 0.1 % false-reject
rate (a threshold at that quantile of the good test scores; with N good test images the finest step is 1/N, so
0.1 % is the max good score), and the per-image CPU latency of the exported bundle (ONNX Runtime, batch 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

N_TRAIN, N_GOOD, N_PER_GENERATOR = 60, 100, 30
ANOMALIB_CORESET_RATIO = 0.1  # anomalib Patchcore's default coreset_sampling_ratio


@dataclass(frozen=True)
class Photo:
    """A textured surface: a region (fractions of the photo: top, bottom, left, right) and the crop side."""

    name: str
    path: Path
    region: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)
    side: float = 1 / 4  # of the region's shorter side


def photos() -> list[Photo]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    found = [Photo("fur", data / "chelsea.png"), Photo("stars", data / "hubble_deep_field.jpg"),
             Photo("retina", data / "retina.jpg", (0.2, 0.8, 0.2, 0.8)),
             Photo("cells", data / "cell.png", (0.0, 1.0, 0.0, 0.75)),
             Photo("coins", data / "coins.png")]
    return [p for p in found if p.path.is_file()]


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _crops(region: np.ndarray, n: int, side: int, out: int, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = region.shape[:2]
    crops = []
    for _ in range(n):
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crops.append(cv2.resize(region[y:y + side, x:x + side], (out, out), interpolation=cv2.INTER_AREA))
    return crops


def surface(photo: Photo) -> tuple[np.ndarray, int]:
    """The photo's textured region and the crop side in pixels."""
    image = _rgb(photo.path)
    h, w = image.shape[:2]
    top, bottom, left, right = photo.region
    region = image[int(top * h):int(bottom * h), int(left * w):int(right * w)]
    return region, max(48, int(min(region.shape[:2]) * photo.side))


def blocks(region: np.ndarray, side: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cut the region into a grid of blocks a quarter wider than a crop, a checkerboard of training and test.

    Training and test crops never share a pixel, yet both sample the whole surface.
    """
    size = int(side * 1.25)
    rows, cols = region.shape[0] // size, region.shape[1] // size
    if rows * cols < 4:
        raise SystemExit(f"region {region.shape[:2]} too small for four blocks of {size} px")
    cells = [[region[r * size:(r + 1) * size, c * size:(c + 1) * size] for c in range(cols)] for r in range(rows)]
    train = [cells[r][c] for r in range(rows) for c in range(cols) if (r + c) % 2 == 0]
    test = [cells[r][c] for r in range(rows) for c in range(cols) if (r + c) % 2 == 1]
    return train, test


def _from_blocks(cuts: list[np.ndarray], n: int, side: int, out: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [_crops(cuts[i % len(cuts)], 1, side, out, rng)[0] for i in rng.permutation(n)]


def visible(original: np.ndarray, defect: np.ndarray, mask: np.ndarray) -> bool:
    """A defect an inspector could see: at least 0.3 % of the pixels, and 20 grey levels from the surface."""
    if mask.mean() <= 0.003:
        return False
    change = np.abs(defect.astype(np.int16) - original.astype(np.int16)).max(axis=-1)
    return float(change[mask].mean()) >= 20


def _perlin(generator, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tensor = torch.from_numpy(crop).permute(2, 0, 1).float() / 255.0
    image, mask = generator(tensor)
    image = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return image, mask[0].numpy() > 0.5


def _rendered(crop: np.ndarray, rng: np.random.Generator, kind: str = "rendered") -> tuple[np.ndarray, np.ndarray]:
    from inspector.synthetic import fabric

    image = crop.astype(np.float32) / 255.0
    if kind == "rendered":
        kind = "stain" if rng.random() < 0.5 else "tear"
    draw = {"stain": fabric._stain, "tear": fabric._tear}[kind]  # noqa: SLF001 - the renderer's defect painters
    out, alpha = draw(rng, image, image.shape[0])
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8), alpha > 0.5


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)


def build_dataset(root: Path, photo: Photo, size: int = 256, seed: int = 0) -> None:
    """MVTec layout: train/good, test/good, test/perlin, test/rendered, ground_truth/<type>/<stem>_mask.png."""
    from anomalib.data.utils.generators.perlin import PerlinAnomalyGenerator

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    region, side = surface(photo)
    train_cuts, test_cuts = blocks(region, side)
    folder = root / photo.name
    for i, crop in enumerate(_from_blocks(train_cuts, N_TRAIN, side, size, rng)):
        _write(folder / "train" / "good" / f"{i:03d}.png", crop)
    for i, crop in enumerate(_from_blocks(test_cuts, N_GOOD, side, size, rng)):
        _write(folder / "test" / "good" / f"{i:03d}.png", crop)
    perlin = PerlinAnomalyGenerator(probability=1.0, blend_factor=(0.4, 0.9))
    for kind in ("perlin", "rendered"):
        for i, crop in enumerate(_from_blocks(test_cuts, N_PER_GENERATOR, side, size, rng)):
            defect, mask = draw_defect(kind, crop, perlin, rng)
            _write(folder / "test" / kind / f"{i:03d}.png", defect)
            _write(folder / "ground_truth" / kind / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)


def draw_defect(kind: str, crop: np.ndarray, perlin, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A visible defect of ``kind`` (``perlin``, ``rendered``, ``stain`` or ``tear``); the last try if none is."""
    for _ in range(30):
        defect, mask = _perlin(perlin, crop) if kind == "perlin" else _rendered(crop, rng, kind)
        if visible(crop, defect, mask):
            break
    return defect, mask


def quality(scores: np.ndarray, maps: np.ndarray, test) -> dict:
    from training.metrics import aupro, image_auroc, pixel_auroc, recall_at_frr

    masks = test.masks
    if maps.shape[-2:] != masks.shape[-2:]:
        maps = np.stack([cv2.resize(m, masks.shape[-2:][::-1], interpolation=cv2.INTER_LINEAR) for m in maps])
    return {"image_auroc": image_auroc(scores, test.labels), "pixel_auroc": pixel_auroc(maps, masks),
            "aupro": aupro(maps, masks), "recall_at_1pct_frr": recall_at_frr(scores, test.labels, 0.01)["recall"],
            "recall_at_0.1pct_frr": recall_at_frr(scores, test.labels, 0.001)["recall"]}


VARIANTS = {"default": {}, "lite1": {"backbone": "lite1"}, "lite2": {"backbone": "lite2"},
            "size256": {"image_size": 256}, "padim": {"architecture": "padim"},
            "bank10": {"coreset_ratio": 0.1}}  # default: 320 px, bank 2.5 %; bank10: anomalib's 10 % bank


def ours(data: Path, category: str, out: Path, variant: str) -> dict:
    """``inspector-train anomaly`` with the variant's settings (default: its defaults), scored from the bundle."""
    from inspector.bundle.store import open_bundle
    from inspector.inference.runtimes import load_runtime
    from training.anomaly.models import ModelConfig
    from training.anomaly.train import TrainOptions, train_anomaly
    from training.datasets import load_anomaly_dataset
    from training.evaluation import load_eval_data

    settings = dict(VARIANTS[variant])
    image_size = settings.pop("image_size", TrainOptions.__dataclass_fields__["image_size"].default)
    started = time.perf_counter()
    result = train_anomaly(TrainOptions(data=data, out=out, category=category, image_size=image_size,
                                        model=ModelConfig(**settings), overwrite=True))
    fit_s = time.perf_counter() - started
    bundle = open_bundle(result.bundle)
    test = load_eval_data(load_anomaly_dataset(data, category).test, bundle.preprocessing)
    engine = load_runtime(bundle, "onnxruntime")
    scores, maps, times = [], [], []
    for i in range(len(test.inputs)):
        t0 = time.perf_counter()
        output = engine(test.inputs[i:i + 1])
        times.append(time.perf_counter() - t0)
        scores.append(output.scores)
        maps.append(output.maps)
    report = quality(np.concatenate(scores), np.concatenate(maps)[:, 0] if np.concatenate(maps).ndim == 4
                     else np.concatenate(maps), test)
    return {**report, "latency_ms": 1000 * float(np.median(times)), "fit_s": fit_s, "runtime": engine.name}


def plain_anomalib(data: Path, category: str, image_size: int = 256) -> dict:
    """anomalib's PatchcoreModel as anomalib fits it (its own coreset, defaults), on the same offline weights."""
    from inspector.bundle.preprocess import Preprocessing
    from training.anomaly.models import ModelConfig, build_model, embed
    from training.backbones import backbone_spec
    from training.datasets import load_anomaly_dataset
    from training.evaluation import load_eval_data

    config = ModelConfig()
    spec = backbone_spec(config.backbone)
    pre = Preprocessing(image_size, image_size, spec.mean, spec.std)
    dataset = load_anomaly_dataset(data, category)
    train, test = load_eval_data(dataset.train, pre), load_eval_data(dataset.test, pre)
    model = build_model(config)
    started = time.perf_counter()
    embed(model, torch.from_numpy(train.inputs))
    model.subsample_embedding(ANOMALIB_CORESET_RATIO)
    fit_s = time.perf_counter() - started
    model.eval()
    scores, maps, times = [], [], []
    with torch.inference_mode():
        for i in range(len(test.inputs)):
            t0 = time.perf_counter()
            out = model(torch.from_numpy(test.inputs[i:i + 1]))
            times.append(time.perf_counter() - t0)
            scores.append(out.pred_score.reshape(-1).numpy())
            maps.append(out.anomaly_map.reshape(1, image_size, image_size).numpy())
    report = quality(np.concatenate(scores), np.concatenate(maps), test)
    return {**report, "latency_ms": 1000 * float(np.median(times)), "fit_s": fit_s, "runtime": "torch (anomalib)"}


def _fmt(value) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def main() -> None:
    from functools import partialmethod

    import tqdm

    tqdm.tqdm.__init__ = partialmethod(tqdm.tqdm.__init__, disable=True)  # anomalib's coreset progress bar
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="default", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--categories", default="", help="comma-separated photo names (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="where to keep the datasets and bundles")
    parser.add_argument("--no-baseline", action="store_true", help="skip plain anomalib (exploring variants only)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    chosen = [p for p in photos() if not args.categories or p.name in args.categories.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)} (expected {', '.join(VARIANTS)})")
    work = args.out or Path(tempfile.mkdtemp(prefix="quality-"))
    print(f"# benchmarks/quality.py  {time.strftime('%Y-%m-%d %H:%M')}  cores {os.cpu_count()}  "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"# {N_TRAIN} good training crops, {N_GOOD} good + {2 * N_PER_GENERATOR} defective test crops per "
          "category (anomalib Perlin + project renderer); data in", work)
    header = (f"{'category':10} {'model':18} {'img AUROC':>9} {'px AUROC':>9} {'AUPRO':>7} {'R@1%FRR':>8} "
              f"{'R@0.1%':>7} {'ms/img':>7} {'fit s':>6}")
    print(header)
    results: dict[str, dict] = {}
    for photo in chosen:
        build_dataset(work / "data", photo)
        rows = {} if args.no_baseline else {"anomalib PatchCore": plain_anomalib(work / "data", photo.name)}
        for variant in variants:
            rows[f"ours {variant}"] = ours(work / "data", photo.name, work / "models" / photo.name / variant, variant)
        results[photo.name] = rows
        for model, r in rows.items():
            print(f"{photo.name:10} {model:18} {_fmt(r['image_auroc']):>9} {_fmt(r['pixel_auroc']):>9} "
                  f"{_fmt(r['aupro']):>7} {_fmt(r['recall_at_1pct_frr']):>8} {_fmt(r['recall_at_0.1pct_frr']):>7} "
                  f"{r['latency_ms']:7.1f} {r['fit_s']:6.1f}", flush=True)
    print("# mean over categories (worst category in brackets)")
    for model in next(iter(results.values())):
        line = f"{'mean':10} {model:18}"
        for key in ("image_auroc", "pixel_auroc", "aupro", "recall_at_1pct_frr", "recall_at_0.1pct_frr"):
            values = [results[c][model][key] for c in results if results[c][model][key] is not None]
            line += f" {np.mean(values):.3f} [{min(values):.3f}]" if values else " n/a"
        print(line)
    (work / "quality.json").write_text(json.dumps(results, indent=2))
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
