"""Few-shot defect classification on real photographed surfaces: 20 training images per class, three seeds.

    .venv/bin/python benchmarks/fewshot.py [--categories fur,coffee] [--seeds 0,1,2] [--epochs 20]

Each surface (crops of a real photo, see benchmarks/quality.py; never scikit-image's reserved photos) gives four
classes: good, and defects drawn by anomalib's Perlin generator and by the project's renderer (stain, tear).
34 crops per class: the stratified split keeps 20 for training, 7 for validation and 7 for testing. It compares
``inspector-train classify`` defaults (the head alone for a quarter of the epochs, then the whole network) with
the head alone on the frozen encoder for every epoch (``--freeze-epochs EPOCHS``), macro F1 on the test crops.
The crops of one class come from anywhere in the photo, so training and test crops may overlap (the defects
on them never do): this measures telling defect types apart, not generalising to a new region.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quality import _crops, _perlin, _rgb, _write, photos  # noqa: E402

PER_CLASS = 34


def build(root: Path, photo, size: int = 128, seed: int = 0) -> Path:
    from anomalib.data.utils.generators.perlin import PerlinAnomalyGenerator

    from inspector.synthetic import fabric

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    image = _rgb(photo.path)
    side = max(64, min(image.shape[:2]) // 3)
    folder = root / photo.name
    perlin = PerlinAnomalyGenerator(probability=1.0, blend_factor=(0.4, 0.9))
    painters = {"good": None, "perlin": "perlin", "stain": fabric._stain, "tear": fabric._tear}  # noqa: SLF001
    for name, painter in painters.items():
        for i, crop in enumerate(_crops(image, PER_CLASS, side, size, rng)):
            if painter == "perlin":
                crop, _ = _perlin(perlin, crop)
            elif painter is not None:
                out, _ = painter(rng, crop.astype(np.float32) / 255.0, size)
                crop = (np.clip(out, 0, 1) * 255).round().astype(np.uint8)
            _write(folder / name / f"{i:03d}.png", crop)
    return folder


def run(data: Path, out: Path, seed: int, epochs: int, fine_tune: bool) -> tuple[float, float]:
    from training.supervised.pipeline import SupervisedOptions, train_supervised
    from training.supervised.train import FitOptions

    fit = FitOptions(epochs=epochs, seed=seed, freeze_epochs=None if fine_tune else epochs)
    started = time.perf_counter()
    result = train_supervised(SupervisedOptions(task="classification", data=data, out=out, fit=fit,
                                                export=False, overwrite=True))
    return result.metrics["test"]["macro_f1"], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default="fur,coffee")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fewshot-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"# benchmarks/fewshot.py  {time.strftime('%Y-%m-%d %H:%M')}  cores {os.cpu_count()}  "
          f"load average {os.getloadavg()[0]:.2f}; 4 classes, 20 train / 7 val / 7 test crops per class")
    summary: dict[str, list[float]] = {"defaults (fine-tune)": [], "frozen encoder, head only": []}
    for photo in [p for p in photos() if p.name in args.categories.split(",")]:
        data = build(work / "data", photo)
        for label, fine_tune in (("defaults (fine-tune)", True), ("frozen encoder, head only", False)):
            scores = []
            for seed in seeds:
                f1, seconds = run(data, work / "out" / photo.name, seed, args.epochs, fine_tune)
                scores.append(f1)
                summary[label].append(f1)
            print(f"{photo.name:8} {label:26} macro F1 per seed {', '.join(f'{s:.3f}' for s in scores)}  "
                  f"spread {max(scores) - min(scores):.3f}  ({seconds:.0f} s per run)", flush=True)
    for label, scores in summary.items():
        print(f"{'mean':8} {label:26} macro F1 {np.mean(scores):.3f}  worst {min(scores):.3f}")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
