"""PatchCore fit and forward: anomalib's stock path against ours, same data, same backbone, same evaluation.

anomalib runs as anomalib ships it: Lightning ``Patchcore`` with its training step, its KCenterGreedy coreset at
its default 10 % bank, and its own torch forward. Ours is ``inspector-train anomaly``'s default (our greedy
coreset, a 2.5 % bank) and the bundle's exported fast view, on each runtime; a row with our view on anomalib's
10 % bank separates the two gains. Fit times are the best of ``--repeats`` fits; each latency is the best of
``--repeats`` medians of ``--latency-runs`` batch-1 calls; image and pixel AUROC stand next to every latency.
Run: ``.venv/bin/python benchmarks/patchcore_fit.py`` (about 10-20 minutes on 2 cores, most of it anomalib's fit).
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
os.environ.setdefault("TQDM_DISABLE", "1")
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import latency_ms  # noqa: E402 - benchmarks/timing.py, beside this script

from inspector.bundle.preprocess import Preprocessing  # noqa: E402
from inspector.bundle.store import open_bundle  # noqa: E402
from inspector.inference.anomaly import AnomalyModel  # noqa: E402
from inspector.inference.runtimes import cuda_available  # noqa: E402
from training.anomaly.models import LAYERS, ModelConfig, build_model, fit, predict  # noqa: E402
from training.backbones import backbone_spec, load_into  # noqa: E402
from training.datasets import load_anomaly_dataset  # noqa: E402
from training.evaluation import load_eval_data  # noqa: E402
from training.metrics import image_auroc, pixel_auroc  # noqa: E402

ANOMALIB_RATIO = 0.1  # anomalib Patchcore's default coreset_sampling_ratio


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="MVTec-layout root (default: fresh synthetic data)")
    parser.add_argument("--category", default="washer")
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--train", type=int, default=60, help="training images when generating data")
    parser.add_argument("--coreset-ratio", type=float, default=ModelConfig().coreset_ratio, help="ours")
    parser.add_argument("--anomalib-ratio", type=float, default=ANOMALIB_RATIO, help="anomalib's coreset ratio")
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many fits and latency medians")
    return parser


def stock_anomalib_fit(data_dir: Path, backbone: str, size: int, ratio: float, work: Path):
    """anomalib's own path: Lightning Patchcore, its training step and its KCenterGreedy coreset."""
    from anomalib.data import Folder
    from anomalib.engine import Engine
    from anomalib.models import Patchcore
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms import v2

    spec = backbone_spec(backbone)
    transform = v2.Compose([v2.Resize((size, size), antialias=True), v2.Normalize(spec.mean, spec.std)])
    model = Patchcore(backbone=spec.timm_name, layers=list(LAYERS["patchcore"]), pre_trained=False,
                      coreset_sampling_ratio=ratio, pre_processor=PreProcessor(transform=transform),
                      evaluator=False, visualizer=False)
    load_into(model.model.feature_extractor.feature_extractor, backbone)
    datamodule = Folder(name="bench", root=data_dir, normal_dir="train/good", abnormal_dir="test",
                        normal_test_dir="test/good", train_batch_size=8, eval_batch_size=8, num_workers=0)
    engine = Engine(default_root_dir=work, logger=False, accelerator="cpu", devices=1, max_epochs=1,
                    limit_val_batches=0, enable_progress_bar=False,
                    enable_model_summary=False)
    start = time.perf_counter()
    engine.fit(model=model, datamodule=datamodule)
    return model.model.eval(), time.perf_counter() - start


def our_fit(inputs: torch.Tensor, backbone: str, ratio: float):
    config = ModelConfig(architecture="patchcore", backbone=backbone, coreset_ratio=ratio)
    start = time.perf_counter()
    model = build_model(config)
    fit(model, config, inputs)
    return model, time.perf_counter() - start


def best_of(repeats: int, run):
    """The run with the smallest time of ``repeats`` runs of ``run() -> (result, seconds)``."""
    return min((run() for _ in range(repeats)), key=lambda pair: pair[1])


def aurocs(scores, maps, test) -> tuple[float, float]:
    pixel = test.has_mask
    return image_auroc(scores, test.labels), pixel_auroc(maps[pixel], test.masks[pixel])


def main(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    print(f"# benchmarks/patchcore_fit.py  {time.strftime('%Y-%m-%d %H:%M')}  cores {os.cpu_count()}  "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            from training.synth import generate_dataset

            root = Path(tmp) / "data"
            generate_dataset(root, seed=123, products=[args.category], n_train=args.train, size=args.image_size)
        dataset = load_anomaly_dataset(root, args.category)
        spec = backbone_spec(args.backbone)
        pre = Preprocessing(args.image_size, args.image_size, spec.mean, spec.std)
        train = load_eval_data(dataset.train, pre)
        test = load_eval_data(dataset.test, pre)
        print(f"data: {dataset.data_dir} ({len(train.inputs)} train, {len(test.inputs)} test), "
              f"backbone {spec.timm_name}, {args.image_size} px, {torch.get_num_threads()} threads; coreset ratio "
              f"ours {args.coreset_ratio}, anomalib {args.anomalib_ratio}; best of {args.repeats}")

        inputs = torch.from_numpy(train.inputs)
        ours, ours_s = best_of(args.repeats, lambda: our_fit(inputs, args.backbone, args.coreset_ratio))
        print(f"ours:     fit {ours_s:8.1f} s  (bank {len(ours.memory_bank)})")
        stock, stock_s = best_of(args.repeats, lambda: stock_anomalib_fit(
            dataset.data_dir, args.backbone, args.image_size, args.anomalib_ratio, Path(tmp) / "anomalib"))
        print(f"anomalib: fit {stock_s:8.1f} s  (bank {len(stock.memory_bank)})")
        print(f"fit time ratio ours/anomalib: {ours_s / stock_s:.3f}x  (target <= 0.1x)")

        test_inputs = torch.from_numpy(test.inputs)
        scored = predict(stock, test_inputs)
        base_auroc = aurocs(scored.scores, scored.maps, test)
        one = test_inputs[:1]
        with torch.inference_mode():
            base = min(latency_ms(lambda: stock(one), args.latency_runs) for _ in range(args.repeats))
        print("\nbatch-1 forward                          ms   ratio  image AUROC  pixel AUROC")
        print(f"{'anomalib stock torch forward':<38} {base:5.1f}  1.00x  {base_auroc[0]:11.4f}  {base_auroc[1]:11.4f}")
        wide, _ = our_fit(inputs, args.backbone, args.anomalib_ratio)
        for label, model in (("ours", ours), (f"ours, anomalib's bank ({args.anomalib_ratio:g})", wide)):
            bundle = open_bundle(export_for_latency(model, pre, test_inputs, Path(tmp) / f"bundle-{id(model)}"))
            devices = [("torch", "cpu"), ("onnxruntime", None)] + [("torch", "cuda")] * cuda_available()
            for runtime_name, device in devices:  # on CUDA, fp16 where the bundle's equivalence check holds
                runtime = AnomalyModel(bundle, runtime_name, device, half=None if device == "cuda" else False).runtime
                outputs = [runtime(test.inputs[i : i + 1]) for i in range(len(test.inputs))]
                img, pix = aurocs(np.concatenate([o.scores for o in outputs]),
                                  np.concatenate([o.maps for o in outputs]), test)
                ms = min(latency_ms(lambda runtime=runtime: runtime(test.inputs[:1]), args.latency_runs)
                         for _ in range(args.repeats))
                name = f"{label}: {runtime_name} ({runtime.device}{', fp16' if getattr(runtime, 'half', 0) else ''})"
                print(f"{name:<38} {ms:5.1f}  {ms / base:.2f}x  {img:11.4f}  {pix:11.4f}")
        print("target: <= 0.3x at image AUROC within 0.005 of anomalib's")
        print(f"# load average at the end {os.getloadavg()[0]:.2f}")


def export_for_latency(model, pre: Preprocessing, inputs: torch.Tensor, out: Path) -> Path:
    from inspector.bundle.manifest import DatasetSpec, ThresholdSpec
    from inspector.bundle.writer import BundleInfo
    from training.export import write_bundle

    scored = predict(model, inputs[:2])
    threshold = ThresholdSpec(value=0.0, method="fixed", detail="benchmark only")
    info = BundleInfo(name="bench", architecture="patchcore", backbone="bench", preprocessing=pre,
                      class_names=("good",), image_threshold=threshold, pixel_threshold=threshold, metrics={},
                      dataset=DatasetSpec(fingerprint="-", layout="mvtec", train_images=0, test_images=0))
    return write_bundle(model, info, out, inputs[:2].numpy(), scored.scores, scored.maps)


if __name__ == "__main__":
    main(get_args_parser().parse_args())
