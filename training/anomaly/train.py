"""Train an anomaly model on a dataset folder, evaluate it, and export the bundle with its report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inspector.bundle.manifest import DatasetSpec, ThresholdSpec
from inspector.bundle.preprocess import Preprocessing
from inspector.bundle.writer import BundleInfo
from training.anomaly.models import ModelConfig, build_model, fit, predict
from training.backbones import backbone_spec
from training.datasets import AnomalyDataset, load_anomaly_dataset
from training.devices import pick_device
from training.evaluation import EvalData, calibration_split, evaluate_scores, load_eval_data, write_eval_report
from training.export import write_bundle
from training.metrics import Threshold
from training.progress import Phases

log = logging.getLogger(__name__)
EQUIVALENCE_SAMPLES = 4


@dataclass(frozen=True)
class TrainOptions:
    data: Path
    out: Path
    category: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    image_size: int = 320  # benchmarks/quality.py: higher mean image and pixel AUROC than 256 px
    batch_size: int = 8
    target_frr: float = 0.01
    overwrite: bool = False
    device: str = "auto"


@dataclass(frozen=True)
class TrainResult:
    bundle: Path
    metrics: dict
    dataset: AnomalyDataset


def train_anomaly(options: TrainOptions, phases: Phases | None = None) -> TrainResult:
    """Load and validate the data, fit, calibrate, evaluate against the naive baseline, export, verify."""
    phases = phases or Phases.quiet()
    dataset = load_anomaly_dataset(options.data, options.category)
    for issue in dataset.issues:
        log.warning("skipped %s", issue)
    spec = backbone_spec(options.model.backbone)
    pre = Preprocessing(options.image_size, options.image_size, spec.mean, spec.std)
    device = pick_device(options.device)

    train = load_eval_data(dataset.train, pre, phases.task("Loading training images", len(dataset.train)))
    test = load_eval_data(dataset.test, pre, phases.task("Loading test images", len(dataset.test)))
    model = build_model(options.model).to(device)
    inputs = torch.from_numpy(train.inputs).to(device)
    fit(
        model,
        options.model,
        inputs,
        batch_size=options.batch_size,
        on_embed=phases.task("Extracting features", len(train.inputs)),
        on_fit=phases.task("Coreset selection" if options.model.architecture == "patchcore" else "Fitting Gaussians",
                           None),
    )
    scored = predict(model, torch.from_numpy(test.inputs).to(device), options.batch_size,
                     phases.task("Scoring test images", len(test.inputs)))
    model = model.cpu()

    image_thr, pixel_thr, evaluated = calibrate_and_evaluate(test, scored.scores, scored.maps, train, options)
    evaluated["training"] = {
        "architecture": options.model.architecture,
        "backbone": options.model.backbone,
        "image_size": options.image_size,
        "coreset_ratio": options.model.coreset_ratio,
        "device": str(device),
        "train_images": len(train.inputs),
    }
    info = BundleInfo(
        name=options.out.name,
        architecture=options.model.architecture,
        backbone=spec.timm_name,
        preprocessing=pre,
        class_names=("good", *sorted({s.defect_type for s in dataset.test if s.label == 1})),
        image_threshold=ThresholdSpec(**vars(image_thr)),
        pixel_threshold=ThresholdSpec(**vars(pixel_thr)),
        metrics=evaluated,
        dataset=DatasetSpec(
            fingerprint=dataset.fingerprint(),
            layout=dataset.layout,
            category=dataset.category,
            train_images=len(dataset.train),
            test_images=len(dataset.test),
            skipped_files=len(dataset.issues),
        ),
    )
    picks = _equivalence_picks(test.labels)
    export_task = phases.task("Exporting and checking runtimes", None)
    bundle = write_bundle(
        model,
        info,
        options.out,
        test.inputs[picks],
        scored.scores[picks],
        scored.maps[picks],
        extra=lambda folder: write_eval_report(folder / "report", evaluated, test, scored.scores, scored.maps,
                                               image_thr.value, pixel_thr.value),
        overwrite=options.overwrite,
    )
    export_task(1, 1)
    return TrainResult(bundle=bundle, metrics=evaluated, dataset=dataset)


def calibrate_and_evaluate(
    test: EvalData, scores: np.ndarray, maps: np.ndarray, train: EvalData, options: TrainOptions
) -> tuple[Threshold, Threshold, dict]:
    """Calibrate thresholds on one half of the test set and report rates on the other half."""
    calibration, held_out = calibration_split(test.labels, test.class_names)
    evaluated, image_thr, pixel_thr = evaluate_scores(
        test, scores, maps, target_frr=options.target_frr, calibration=calibration, held_out=held_out,
        baseline_train=train,
    )
    return image_thr, pixel_thr, evaluated


def _equivalence_picks(labels: np.ndarray) -> np.ndarray:
    """A fixed, small sample set: the first goods and defects of the test set."""
    goods = np.flatnonzero(labels == 0)[: EQUIVALENCE_SAMPLES // 2]
    defects = np.flatnonzero(labels == 1)[: EQUIVALENCE_SAMPLES - len(goods)]
    return np.sort(np.concatenate([goods, defects]))
