"""Metrics: accuracy, macro F1 and confusion matrix; COCO mAP for boxes; IoU and Dice for masks.

mAP is torchmetrics' ``MeanAveragePrecision`` on its pycocotools backend (the COCO protocol itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BACKEND = "torchmetrics/pycocotools"


def confusion_matrix(truth: Sequence[int], predicted: Sequence[int], num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def classification_metrics(truth: Sequence[int], predicted: Sequence[int], names: Sequence[str]) -> dict:
    """Accuracy, macro F1 over the classes present in ``truth`` or ``predicted``, per-class F1, confusion."""
    matrix = confusion_matrix(truth, predicted, len(names))
    tp = np.diag(matrix).astype(np.float64)
    precision = tp / np.maximum(matrix.sum(axis=0), 1)
    recall = tp / np.maximum(matrix.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    return {
        "accuracy": float(tp.sum() / max(matrix.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class_f1": {names[i]: float(f1[i]) for i in range(len(names)) if present[i]},
        "confusion_matrix": matrix.tolist(),
        "class_names": list(names),
    }


@dataclass(frozen=True)
class Detections:
    """One image's predicted (boxes, scores, labels) and ground-truth (boxes, labels); boxes xyxy."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    gt_boxes: np.ndarray
    gt_labels: np.ndarray


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (N, 4) x (M, 4)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def _map_metric(images: Sequence[Detections], **options) -> dict:
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools", **options)
    metric.update(
        [{"boxes": torch.as_tensor(d.boxes).reshape(-1, 4).float(), "scores": torch.as_tensor(d.scores).float(),
          "labels": torch.as_tensor(d.labels).long()} for d in images],
        [{"boxes": torch.as_tensor(d.gt_boxes).reshape(-1, 4).float(), "labels": torch.as_tensor(d.gt_labels).long()}
         for d in images],
    )
    return metric.compute()


def detection_map(images: Sequence[Detections], num_classes: int) -> dict:
    """COCO mAP@[.5:.95], mAP@0.5, mAP@0.75 and per-class mAP@0.5 (classes with ground truth only)."""
    with_truth = sorted({int(c) for d in images for c in d.gt_labels if 0 <= int(c) < num_classes})
    if not with_truth:
        return {"map": 0.0, "map_50": 0.0, "map_75": 0.0, "map_50_per_class": {}, "backend": BACKEND}
    overall = _map_metric(images)
    at_50 = _map_metric(images, iou_thresholds=[0.5], class_metrics=True)
    classes = [int(c) for c in at_50["classes"].reshape(-1)]
    per_class = [float(v) for v in at_50["map_per_class"].reshape(-1)]
    return {
        "map": max(float(overall["map"]), 0.0),
        "map_50": max(float(overall["map_50"]), 0.0),
        "map_75": max(float(overall["map_75"]), 0.0),
        "map_50_per_class": {c: max(v, 0.0) for c, v in zip(classes, per_class, strict=True) if c in with_truth},
        "backend": BACKEND,
    }


def box_f1(images: Sequence[Detections], threshold: float, iou: float = 0.5) -> float:
    """F1 of boxes at or over ``threshold`` matched to ground truth of the same class at ``iou``."""
    tp = fp = fn = 0
    for det in images:
        keep = det.scores >= threshold
        boxes, labels = det.boxes[keep], det.labels[keep]
        taken = np.zeros(len(det.gt_labels), bool)
        ious = iou_matrix(boxes, det.gt_boxes) if len(boxes) and len(det.gt_boxes) else None
        for i in np.argsort(-det.scores[keep], kind="stable"):
            ok = np.flatnonzero((det.gt_labels == labels[i]) & ~taken)
            if ious is not None and len(ok) and ious[i, ok].max() >= iou:
                taken[ok[int(np.argmax(ious[i, ok]))]] = True
                tp += 1
            else:
                fp += 1
        fn += int((~taken).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1)


def best_box_threshold(images: Sequence[Detections], low: float = 0.1) -> tuple[float, float]:
    """The box score threshold with the best F1 on ``images``: (threshold, F1); ties take the lower one."""
    candidates = np.round(np.arange(low, 0.91, 0.05), 2)
    f1s = [box_f1(images, float(t)) for t in candidates]
    best = int(np.argmax(f1s))
    return float(candidates[best]), float(f1s[best])


def segmentation_metrics(intersections: np.ndarray, unions: np.ndarray, sizes: np.ndarray,
                         names: Sequence[str]) -> dict:
    """IoU and Dice per class from summed pixel counts; means over the defect classes (not background)."""
    iou = intersections / np.maximum(unions, 1)
    dice = 2 * intersections / np.maximum(sizes, 1)
    present = unions > 0
    defect = present.copy()
    defect[0] = False
    return {
        "mean_iou": float(iou[defect].mean()) if defect.any() else 0.0,
        "mean_dice": float(dice[defect].mean()) if defect.any() else 0.0,
        "iou": {names[i]: float(iou[i]) for i in np.flatnonzero(present)},
        "dice": {names[i]: float(dice[i]) for i in np.flatnonzero(present)},
    }


def pixel_counts(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> tuple[np.ndarray, ...]:
    """Per-class intersection, union and (|truth| + |predicted|) of two class maps."""
    t = np.bincount(truth.ravel(), minlength=num_classes)[:num_classes]
    p = np.bincount(predicted.ravel(), minlength=num_classes)[:num_classes]
    inter = np.bincount(truth.ravel()[truth.ravel() == predicted.ravel()], minlength=num_classes)[:num_classes]
    return inter, t + p - inter, t + p
