"""Train an anomaly model on a dataset folder, evaluate it, and export the bundle with its report."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inspector.bundle.manifest import DatasetSpec, ThresholdSpec, TilingSpec
from inspector.bundle.preprocess import Preprocessing
from inspector.bundle.writer import BundleInfo
from training.anomaly.models import ModelConfig, build_model, fit, predict
from training.anomaly.tiled import default_overlap, score_tiled, training_tiles
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
    tile_scale: float | None = None  # train on tiles of the frames resized by this factor (None: whole frames)
    tile_overlap: int | None = None  # pixels of the resized frame two tiles share (None: a default)

    def __post_init__(self) -> None:
        if self.tile_scale is None:
            if self.tile_overlap is not None:
                raise ValueError("--tile-overlap needs --tile-scale (tiling is off without a scale)")
            return
        if not (math.isfinite(self.tile_scale) and self.tile_scale > 0):
            raise ValueError(f"--tile-scale must be greater than 0 (1 = full resolution, 0.5 = half), "
                             f"got {self.tile_scale}")
        overlap = self.tile_overlap
        if overlap is not None and not 0 <= overlap < self.image_size:
            raise ValueError(f"--tile-overlap must be at least 0 and less than the tile side "
                             f"(--image-size {self.image_size}), got {overlap}")

    @property
    def tiling(self) -> TilingSpec | None:
        """The tiling the bundle is trained on and records, or None for whole frames."""
        if self.tile_scale is None:
            return None
        overlap = default_overlap(self.image_size) if self.tile_overlap is None else self.tile_overlap
        return TilingSpec(tile=self.image_size, overlap=overlap, scale=self.tile_scale)


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

    tiling = options.tiling
    if tiling is None:
        train = load_eval_data(dataset.train, pre, phases.task("Loading training images", len(dataset.train)))
        test = load_eval_data(dataset.test, pre, phases.task("Loading test images", len(dataset.test)))
        train_inputs = train.inputs
    else:
        train, train_inputs = training_tiles(dataset.train, pre, tiling,
                                             phases.task("Cutting training tiles", len(dataset.train)))
    model = build_model(options.model).to(device)
    inputs = torch.from_numpy(train_inputs).to(device)
    fit(
        model,
        options.model,
        inputs,
        batch_size=options.batch_size,
        on_embed=phases.task("Extracting features", len(train_inputs)),
        on_fit=phases.task("Coreset selection" if options.model.architecture == "patchcore" else "Fitting Gaussians",
                           None),
    )
    if tiling is None:
        scored = predict(model, torch.from_numpy(test.inputs).to(device), options.batch_size,
                         phases.task("Scoring test images", len(test.inputs)))
        scores, maps = scored.scores, scored.maps
        samples, sample_scores, sample_maps = test.inputs, scored.scores, scored.maps
    else:
        def score(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = predict(model, torch.from_numpy(tiles).to(device), options.batch_size)
            return out.scores, out.maps

        test, tiled = score_tiled(dataset.test, pre, tiling, score,
                                  phases.task("Scoring test images tile-wise", len(dataset.test)))
        scores, maps = tiled.scores, tiled.maps
        # The exported program scores one tile: each picked frame's most anomalous tile is its sample.
        samples, sample_scores, sample_maps = tiled.top_inputs, tiled.top_scores, tiled.top_maps
    model = model.cpu()

    image_thr, pixel_thr, evaluated = calibrate_and_evaluate(test, scores, maps, train, options)
    evaluated["training"] = {
        "architecture": options.model.architecture,
        "backbone": options.model.backbone,
        "image_size": options.image_size,
        "coreset_ratio": options.model.coreset_ratio,
        "device": str(device),
        "train_images": len(train.labels),
    }
    if tiling is not None:
        evaluated["training"].update(tiling=tiling.model_dump(), train_tiles=len(train_inputs))
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
        tiling=tiling,
    )
    picks = _equivalence_picks(test.labels)
    export_task = phases.task("Exporting and checking runtimes", None)
    bundle = write_bundle(
        model,
        info,
        options.out,
        samples[picks],
        sample_scores[picks],
        sample_maps[picks],
        extra=lambda folder: write_eval_report(folder / "report", evaluated, test, scores, maps,
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
