"""Evaluate scores on a dataset: thresholds, metrics, the naive baseline and the report folder."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.bundle.preprocess import Preprocessing
from training.datasets import Sample, read_image, read_mask
from training.metrics import (
    Threshold,
    calibrate_image_threshold,
    calibrate_pixel_threshold,
    evaluate,
    rates_at_threshold,
    score_distribution,
    zscore_baseline,
)
from training.progress import Update
from training.report import write_report

MIN_SPLIT = 10


@dataclass(frozen=True)
class EvalData:
    """Images of one split at model input size, normalised inputs, labels and masks."""

    names: list[str]
    images: np.ndarray  # N x H x W x 3 uint8 at model size
    inputs: np.ndarray  # N x 3 x H x W float32
    labels: np.ndarray  # N int
    class_names: list[str]
    masks: np.ndarray  # N x H x W bool (all False for goods and unknown masks)
    has_mask: np.ndarray  # N bool: pixel ground truth known (goods, and defects with a mask)


def load_eval_data(samples: Sequence[Sample], pre: Preprocessing, progress: Update | None = None) -> EvalData:
    size = (pre.width, pre.height)
    images, masks, has_mask = [], [], []
    for i, sample in enumerate(samples):
        image = read_image(sample.path)
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if image.shape[:2] != size[::-1] else image
        images.append(small)
        if sample.mask_path is not None:
            mask = read_mask(sample.mask_path, image.shape[:2]).astype(np.uint8)
            masks.append(cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST).astype(bool))
            has_mask.append(True)
        else:
            masks.append(np.zeros(size[::-1], bool))
            has_mask.append(sample.label == 0)
        if progress:
            progress(i + 1, len(samples))
    stacked = np.stack(images) if images else np.zeros((0, pre.height, pre.width, 3), np.uint8)
    return EvalData(
        names=[f"{s.defect_type}/{s.path.name}" for s in samples],
        images=stacked,
        inputs=pre.batch(stacked) if len(stacked) else np.zeros((0, 3, pre.height, pre.width), np.float32),
        labels=np.array([s.label for s in samples], dtype=np.int64),
        class_names=[s.defect_type for s in samples],
        masks=np.stack(masks) if masks else np.zeros((0, pre.height, pre.width), bool),
        has_mask=np.array(has_mask, dtype=bool),
    )


def calibration_split(labels: np.ndarray, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Split test indices in two, alternating within each class; tiny sets are used whole for both."""
    if len(labels) < MIN_SPLIT:
        everything = np.arange(len(labels))
        return everything, everything
    calibration, held_out = [], []
    for name in sorted(set(class_names)):
        members = [i for i, c in enumerate(class_names) if c == name]
        calibration.extend(members[0::2])
        held_out.extend(members[1::2])
    return np.array(sorted(calibration)), np.array(sorted(held_out))


def evaluate_scores(
    test: EvalData,
    scores: np.ndarray,
    maps: np.ndarray,
    *,
    target_frr: float = 0.01,
    calibration: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
    thresholds: tuple[Threshold, Threshold] | None = None,
    baseline_train: EvalData | None = None,
) -> tuple[dict, Threshold, Threshold]:
    """Metrics on the whole split; thresholds calibrated on ``calibration`` unless given; rates on ``held_out``."""
    everything = np.arange(len(scores))
    calibration = everything if calibration is None else calibration
    held_out = everything if held_out is None else held_out
    pixel = test.has_mask
    if thresholds is None:
        image_thr = calibrate_image_threshold(scores[calibration], test.labels[calibration], target_frr)
        cal_pixel = calibration[pixel[calibration]]
        good = calibration[test.labels[calibration] == 0]
        pixel_thr = calibrate_pixel_threshold(
            maps[cal_pixel], test.masks[cal_pixel] if len(cal_pixel) else None, good_maps=maps[good]
        )
    else:
        image_thr, pixel_thr = thresholds
    metrics = evaluate(
        scores, test.labels, maps[pixel] if pixel.any() else None, test.masks[pixel] if pixel.any() else None,
        threshold=image_thr, pixel_threshold=pixel_thr,
    )
    metrics["held_out"] = {
        "images": int(len(held_out)),
        "note": "rates at the threshold measured on test images not used to choose it"
        if len(held_out) != len(scores) or thresholds is not None
        else "test set too small to split: rates measured on the calibration images",
        **rates_at_threshold(scores[held_out], test.labels[held_out], image_thr.value),
    }
    metrics["score_distribution"] = score_distribution(scores, test.class_names)
    if baseline_train is not None and len(baseline_train.images):
        metrics["baseline"] = baseline_metrics(baseline_train, test)
    return metrics, image_thr, pixel_thr


def baseline_metrics(train: EvalData, test: EvalData) -> dict:
    """The naive per-pixel z-score model, scored on the same test split."""
    scores, maps = zscore_baseline(train.images.astype(np.float32), test.images.astype(np.float32))
    pixel = test.has_mask
    result = evaluate(scores, test.labels, maps[pixel] if pixel.any() else None,
                      test.masks[pixel] if pixel.any() else None)
    return {
        "method": "per-pixel mean/std z-score over the training images",
        "image_auroc": result.get("image_auroc"),
        "pixel_auroc": result.get("pixel_auroc"),
        "aupro": result.get("aupro"),
        "scores": [float(s) for s in scores],
    }


def write_eval_report(
    folder: Path, metrics: dict, test: EvalData, scores: np.ndarray, maps: np.ndarray, threshold: float,
    pixel_threshold: float | None = None,
) -> list[Path]:
    baseline = metrics.get("baseline")
    stored = {k: v for k, v in metrics.items() if k != "baseline"}
    return [write_scores(folder / "scores.csv", test, scores, threshold), *write_report(
        folder,
        stored,
        scores,
        test.labels,
        test.class_names,
        threshold,
        images=list(test.images),
        maps=list(maps),
        masks=list(test.masks),
        names=test.names,
        baseline=baseline,
        pixel_threshold=pixel_threshold,
    )]


def write_scores(path: Path, test: EvalData, scores: np.ndarray, threshold: float) -> Path:
    """Every image's raw score (never rescaled), its class and its verdict at the threshold."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "class", "score", "verdict"])
        for name, cls, score in zip(test.names, test.class_names, np.asarray(scores, np.float64).ravel(),
                                    strict=True):
            writer.writerow([name, cls, repr(float(score)), "FAIL" if score >= threshold else "PASS"])
    return path
