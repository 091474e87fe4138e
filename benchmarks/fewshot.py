"""Few-shot defect classification on real photographed surfaces: 20 training images per class, three seeds.

    .venv/bin/python benchmarks/fewshot.py [--categories fur,stars] [--seeds 0,1,2] [--configs probe,fine-tune]

Each surface (a region of a real photo, see benchmarks/quality.py; never scikit-image's reserved photos) gives
four classes: good, and visible defects drawn by anomalib's Perlin generator and by the project's renderer
(stain, tear). The labeled folder has ``--labeled`` crops per class from the surface's training blocks (default
25); the pipeline's stratified split keeps 15 for training, 5 for validation (the probe then refits on those 20)
and 5 for its own test. The figures here are macro F1 of the exported bundle on 40 further crops per class from
the test blocks, which share no pixel with training.
Configurations: ``probe`` (the classify defaults: a shrinkage LDA head on frozen pooled Lite2 features at 256 px,
fitted on eight flips and turns of each training image and of its turned and shrunk variants, the model averaging
the eight flips and turns of each image), ``probe-1view`` (the same reading each image once),
``probe-lite0`` (the same on Lite0 at 224 px), ``probe128`` (Lite0 at 128 px) and
``fine-tune`` (head first, then the whole network, 20 epochs, Lite0 at 128 px).
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.quality import _from_blocks, _write, blocks, draw_defect, photos, surface  # noqa: E402

PER_CLASS, PER_CLASS_TEST = 25, 40
CLASSES = ("good", "perlin", "stain", "tear")
CONFIGS = {"probe": {"head": "probe"}, "probe-1view": {"head": "probe", "probe_views": 1},
           "probe-lite0": {"head": "probe", "backbone": "lite0"},
           "probe128": {"head": "probe", "backbone": "lite0", "image_size": 128},
           "fine-tune": {"head": "fine-tune", "image_size": 128}}


def build(root: Path, photo, size: int = 224, seed: int = 0, labeled: int = PER_CLASS) -> tuple[Path, Path]:
    """(labeled folder from the training blocks, test folder from the test blocks), class folders each."""
    from anomalib.data.utils.generators.perlin import PerlinAnomalyGenerator

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    region, side = surface(photo)
    train_cuts, test_cuts = blocks(region, side)
    perlin = PerlinAnomalyGenerator(probability=1.0, blend_factor=(0.4, 0.9))
    folders = (root / photo.name / "labeled", root / photo.name / "test")
    for folder, cuts, n in ((folders[0], train_cuts, labeled), (folders[1], test_cuts, PER_CLASS_TEST)):
        for name in CLASSES:
            for i, crop in enumerate(_from_blocks(cuts, n, side, size, rng)):
                image = crop if name == "good" else draw_defect(name, crop, perlin, rng)[0]
                _write(folder / name / f"{i:03d}.png", image)
    return folders


def held_out_f1(bundle: Path, test: Path) -> tuple[float, float]:
    """(macro F1, median ms per image on ONNX Runtime at batch 1)."""
    import cv2

    from inspector.bundle.store import open_bundle
    from inspector.inference.runtimes import load_runtime
    from training.supervised.metrics import classification_metrics

    opened = open_bundle(bundle)
    engine = load_runtime(opened, "onnxruntime")
    names = list(opened.manifest.class_names)
    truth, predicted, seconds = [], [], []
    for name in CLASSES:
        for path in sorted((test / name).glob("*.png")):
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            size = (opened.preprocessing.width, opened.preprocessing.height)
            batch = opened.preprocessing.batch([cv2.resize(image, size, interpolation=cv2.INTER_AREA)])
            started = time.perf_counter()
            probs = engine.run_raw(batch)[0][0]
            seconds.append(time.perf_counter() - started)
            truth.append(names.index(name))
            predicted.append(int(np.argmax(probs)))
    return classification_metrics(truth, predicted, names)["macro_f1"], 1000 * float(np.median(seconds))


def run(data: Path, test: Path, out: Path, seed: int, config: str) -> tuple[float, float, float]:
    """(held-out macro F1, training seconds, ms per image)."""
    from training.supervised.pipeline import SupervisedOptions, train_supervised
    from training.supervised.train import FitOptions

    settings = dict(CONFIGS[config])
    started = time.perf_counter()
    result = train_supervised(SupervisedOptions(task="classification", data=data, out=out,
                                                fit=FitOptions(epochs=20, seed=seed), overwrite=True, **settings))
    seconds = time.perf_counter() - started
    f1, ms = held_out_f1(result.bundle, test)
    return f1, seconds, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default="", help="comma-separated surfaces (default: all)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--labeled", type=int, default=PER_CLASS, help="labeled crops per class (the split keeps "
                        "60 %% for training, 20 %% for validation, 20 %% for its own test)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of {', '.join(CONFIGS)}")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    work = Path(tempfile.mkdtemp(prefix="fewshot-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        raise SystemExit(f"--configs: unknown {', '.join(unknown)} (expected {', '.join(CONFIGS)})")
    print(f"# benchmarks/fewshot.py  {time.strftime('%Y-%m-%d %H:%M')}  cores {os.cpu_count()}  "
          f"load average {os.getloadavg()[0]:.2f}; {len(CLASSES)} classes, {args.labeled} labeled crops per class "
          f"(train / val / test {args.labeled - 2 * round(args.labeled * 0.2)} / {round(args.labeled * 0.2)} / "
          f"{round(args.labeled * 0.2)}), macro F1 on {PER_CLASS_TEST} held-out crops per class")
    summary: dict[str, list[float]] = {c: [] for c in configs}
    chosen = [p for p in photos() if not args.categories or p.name in args.categories.split(",")]
    for photo in chosen:
        data, test = build(work / "data", photo, labeled=args.labeled)
        for config in configs:
            scores = []
            for seed in seeds:
                f1, seconds, ms = run(data, test, work / "out" / photo.name / config, seed, config)
                scores.append(f1)
                summary[config].append(f1)
            print(f"{photo.name:8} {config:10} macro F1 per seed {', '.join(f'{s:.3f}' for s in scores)}  "
                  f"spread {max(scores) - min(scores):.3f}  ({seconds:.0f} s per run, {ms:.0f} ms per image)",
                  flush=True)
    for config, scores in summary.items():
        per_seed = [np.mean(scores[i::len(seeds)]) for i in range(len(seeds))]
        print(f"{'mean':8} {config:10} macro F1 {np.mean(scores):.3f}  worst {min(scores):.3f}  mean per seed "
              f"{', '.join(f'{s:.3f}' for s in per_seed)}  spread {max(per_seed) - min(per_seed):.3f}")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
