"""Transfer learning on the synthetic demo data: ImageNet-pretrained Lite backbone against the same model from scratch.

Same data, split, epochs, batch size and augmentations for both; the only difference is the starting weights (and
that the pretrained run spends its first epochs on the head with the backbone frozen). Prints the test metric of
each run and their ratio, the training time on this CPU, and the per-frame latency of each bundle runtime
against the eager torch model. Run: ``.venv/bin/python benchmarks/supervised_transfer.py`` (about 10-30 minutes
on 2 shared cores).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import latency_ms  # noqa: E402 - benchmarks/timing.py, beside this script

from inspector.domain.frame import Frame  # noqa: E402
from inspector.inference.supervised import SupervisedModel  # noqa: E402
from training.datasets import read_image  # noqa: E402
from training.supervised.pipeline import SupervisedOptions, train_supervised  # noqa: E402
from training.supervised.train import FitOptions  # noqa: E402

METRIC = {"classification": "macro_f1", "detection": "map_50", "segmentation": "mean_iou"}
FOLDER = {"classification": "classification", "detection": "detection", "segmentation": "."}
TARGET = {"classification": 0.9, "detection": 0.8}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="synthetic product folder with labels (default: generate)")
    parser.add_argument("--product", default="washer")
    parser.add_argument("--tasks", default="classification,detection")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of every run")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--test-defect", type=int, default=100, help="images per defect type when generating")
    parser.add_argument("--latency-runs", type=int, default=30)
    return parser


def run(task: str, data: Path, out: Path, epochs: int, size: int, pretrained: bool) -> tuple[float, float, object]:
    options = SupervisedOptions(task=task, data=data, out=out, image_size=size, pretrained=pretrained,
                                fit=FitOptions(epochs=epochs, patience=epochs), export=pretrained)
    start = time.perf_counter()
    result = train_supervised(options)
    return result.metrics["test"][METRIC[task]], time.perf_counter() - start, result


def main(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        product = args.data
        if product is None:
            from training.synth import generate_dataset

            generate_dataset(Path(tmp) / "data", seed=0, products=[args.product], n_train=20, n_test_good=80,
                             n_test_per_defect=args.test_defect, size=128)
            product = Path(tmp) / "data" / args.product
        print(f"data: {product} (synthetic demo, {args.test_defect} images per defect type), lite0, "
              f"{args.image_size} px, {torch.get_num_threads()} threads, device cpu")
        frame_image = read_image(next((product / "test").glob("*/000.png")))
        frame = Frame(id=0, camera="bench", timestamp=0.0, monotonic=0.0, image=frame_image)
        for task in args.tasks.split(","):
            epochs = args.epochs
            data = (product / FOLDER[task]).resolve()
            print(f"\n== {task} ({epochs} epochs, metric: test {METRIC[task]}) ==")
            ours, ours_s, result = run(task, data, Path(tmp) / f"{task}-pretrained", epochs, args.image_size, True)
            split = result.metrics["split"]
            print(f"images train/val/test {split['train']}/{split['validation']}/{split['test']}")
            print(f"pretrained (frozen head first): {METRIC[task]} {ours:.4f}  train+eval+export {ours_s:6.1f} s  "
                  f"(training {result.metrics['training']['seconds']:.1f} s)")
            base, base_s, scratch = run(task, data, Path(tmp) / f"{task}-scratch", epochs, args.image_size, False)
            print(f"from scratch:                   {METRIC[task]} {base:.4f}  train+eval        {base_s:6.1f} s  "
                  f"(training {scratch.metrics['training']['seconds']:.1f} s)")
            ratio = ours / base if base > 0 else float("inf")
            target = f", target >= {TARGET[task]}" if task in TARGET else ""
            print(f"ratio pretrained/scratch: {ratio:.2f}x   pretrained {METRIC[task]} {ours:.4f}{target}")
            print("per-frame latency (median, batch 1, pre- and post-processing included)")
            for runtime in ("torch", "onnxruntime"):
                model = SupervisedModel.open(result.bundle, runtime=runtime)
                ms = latency_ms(lambda model=model: model.infer(frame), args.latency_runs)
                raw = latency_ms(lambda model=model: model.runtime.run_raw(model.preprocessing(frame_image)[None]),
                                 args.latency_runs)
                print(f"  bundle {runtime:<12} ({model.runtime.device}) {ms:7.1f} ms  (model alone {raw:6.1f} ms)")
            del scratch
        print()


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main(get_args_parser().parse_args())
