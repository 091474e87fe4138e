"""PatchCore fit: anomalib's stock path against ours, same data, same backbone, same evaluation.

Prints fit seconds for both and their ratio, image and pixel AUROC for both, and batch-1 latency of
each bundle runtime against anomalib's stock torch forward. Run: ``.venv/bin/python benchmarks/patchcore_fit.py``
(about 5-20 minutes on 2 cores, most of it anomalib's coreset).
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

import torch  # noqa: E402
from timing import latency_ms  # noqa: E402 - benchmarks/timing.py, beside this script

from inspector.bundle.preprocess import Preprocessing  # noqa: E402
from inspector.bundle.store import open_bundle  # noqa: E402
from inspector.inference.runtimes import load_runtime  # noqa: E402
from training.anomaly.models import LAYERS, ModelConfig, build_model, fit, predict  # noqa: E402
from training.backbones import backbone_spec, load_into  # noqa: E402
from training.datasets import load_anomaly_dataset  # noqa: E402
from training.evaluation import load_eval_data  # noqa: E402
from training.metrics import image_auroc, pixel_auroc  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="MVTec-layout root (default: fresh synthetic data)")
    parser.add_argument("--category", default="washer")
    parser.add_argument("--backbone", default="lite0")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--train", type=int, default=60, help="training images when generating data")
    parser.add_argument("--coreset-ratio", type=float, default=0.1)
    parser.add_argument("--latency-runs", type=int, default=30)
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


def main(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
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
              f"backbone {spec.timm_name}, {args.image_size} px, coreset ratio {args.coreset_ratio}, "
              f"{torch.get_num_threads()} threads")

        ours, ours_s = our_fit(torch.from_numpy(train.inputs), args.backbone, args.coreset_ratio)
        print(f"ours:     fit {ours_s:8.1f} s")
        stock, stock_s = stock_anomalib_fit(dataset.data_dir, args.backbone, args.image_size,
                                            args.coreset_ratio, Path(tmp) / "anomalib")
        print(f"anomalib: fit {stock_s:8.1f} s")

        test_inputs = torch.from_numpy(test.inputs)
        rows = []
        for name, model in (("anomalib", stock), ("ours", ours)):
            scored = predict(model, test_inputs)
            pixel = test.has_mask
            rows.append((name, image_auroc(scored.scores, test.labels),
                         pixel_auroc(scored.maps[pixel], test.masks[pixel])))
        print("\nmodel       image AUROC  pixel AUROC")
        for name, img, pix in rows:
            print(f"{name:<10}  {img:11.4f}  {pix:11.4f}")
        print(f"\nfit time ratio ours/anomalib: {ours_s / stock_s:.3f}x  (target <= 0.1x)")
        print(f"AUROC difference (ours - anomalib): image {rows[1][1] - rows[0][1]:+.4f}, "
              f"pixel {rows[1][2] - rows[0][2]:+.4f}  (target within 0.01)")

        bundle_dir = export_for_latency(ours, pre, test_inputs, Path(tmp) / "bundle")
        one = test_inputs[:1]
        with torch.inference_mode():
            base = latency_ms(lambda: stock(one), args.latency_runs)
        print("\nbatch-1 latency (median)       ms    ratio to anomalib stock forward")
        print(f"{'anomalib stock torch forward':<28} {base:6.1f}  1.00x")
        bundle = open_bundle(bundle_dir)
        array = one.numpy()
        for runtime_name in ("torch", "onnxruntime"):
            runtime = load_runtime(bundle, runtime_name)
            ms = latency_ms(lambda runtime=runtime: runtime(array), args.latency_runs)
            print(f"{'bundle ' + runtime_name + ' (' + runtime.device + ')':<28} {ms:6.1f}  {ms / base:.2f}x")


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
