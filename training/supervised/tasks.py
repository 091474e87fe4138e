"""Per-task pieces of the training loop: the loss, batched prediction with the export view, and evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from inspector.bundle.preprocess import Preprocessing
from inspector.inference.supervised import postprocess_detections
from training.supervised.metrics import (
    Detections,
    classification_metrics,
    detection_map,
    pixel_counts,
    segmentation_metrics,
)
from training.supervised.models import export_module
from training.supervised.tensors import Item

EVAL_BATCH = 16
MAP_SCORE_THRESHOLD = 0.05  # candidates kept for mAP; the operating threshold is chosen later


def normalised(items: Sequence[Item], pre: Preprocessing) -> np.ndarray:
    """Model inputs exactly as the station makes them (the items are already at model size)."""
    return pre.batch([item.image for item in items])


@dataclass
class Evaluation:
    """Metrics plus the raw predictions for the report: ``score`` drives early stopping."""

    score: float
    metrics: dict
    predictions: list


class Task:
    """Base: cross-entropy on class indices."""

    name = "classification"
    score_name = "macro_f1"

    def __init__(self, class_names: Sequence[str], pre: Preprocessing, class_weights: torch.Tensor | None = None):
        self.class_names, self.pre = tuple(class_names), pre
        self.class_weights = class_weights

    def loss(self, model: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
        return F.cross_entropy(model(images), targets.to(images.device))

    @torch.no_grad()
    def outputs(self, model: nn.Module, items: Sequence[Item], device: torch.device) -> list[list[np.ndarray]]:
        """Export-view outputs per item, as numpy arrays."""
        view = export_module(model, self.name, self.pre.height).to(device).eval()
        inputs = normalised(items, self.pre)
        results: list[list[np.ndarray]] = []
        for start in range(0, len(inputs), EVAL_BATCH):
            out = view(torch.from_numpy(inputs[start:start + EVAL_BATCH]).to(device))
            out = out if isinstance(out, tuple) else (out,)
            arrays = [o.float().cpu().numpy() if o.is_floating_point() else o.cpu().numpy() for o in out]
            results += [[a[i] for a in arrays] for i in range(len(arrays[0]))]
        return results

    def evaluate(self, model: nn.Module, items: Sequence[Item], device: torch.device) -> Evaluation:
        probs = np.stack([o[0] for o in self.outputs(model, items, device)]) if items else np.zeros((0, 1))
        predicted = probs.argmax(axis=1).tolist()
        metrics = classification_metrics([i.label for i in items], predicted, self.class_names)
        preds = [(p, float(probs[k, p])) for k, p in enumerate(predicted)]
        return Evaluation(metrics[self.score_name], metrics, preds)


class DetectionTask(Task):
    name = "detection"
    score_name = "map_50"

    def loss(self, model: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
        targets = [{k: v.to(images.device) for k, v in t.items()} for t in targets]
        return sum(model(list(images), targets).values())

    def evaluate(self, model: nn.Module, items: Sequence[Item], device: torch.device) -> Evaluation:
        detections = []
        for item, (boxes, scores, labels) in zip(items, self.outputs(model, items, device), strict=True):
            b, s, k = postprocess_detections(boxes, scores, labels, MAP_SCORE_THRESHOLD)
            detections.append(Detections(b, s, k, item.boxes, item.box_labels))
        metrics = detection_map(detections, len(self.class_names))
        metrics["map_50_per_class"] = {self.class_names[c]: v for c, v in metrics["map_50_per_class"].items()}
        return Evaluation(metrics[self.score_name], metrics, detections)


def detection_confusion(detections: Sequence[Detections], threshold: float, num_classes: int,
                        iou: float = 0.5) -> np.ndarray:
    """(C+1) x (C+1) box confusion at ``threshold``; the last row/column is background (missed / spurious)."""
    from training.supervised.metrics import iou_matrix

    matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for det in detections:
        keep = det.scores >= threshold
        boxes, labels = det.boxes[keep], det.labels[keep]
        ious = iou_matrix(det.gt_boxes, boxes) if len(boxes) and len(det.gt_boxes) else np.zeros((len(det.gt_boxes), 0))
        used = np.zeros(len(boxes), bool)
        for g in range(len(det.gt_labels)):
            candidates = np.where(used, -1.0, ious[g]) if ious.shape[1] else np.zeros(0)
            if candidates.size and candidates.max() >= iou:
                j = int(np.argmax(candidates))
                used[j] = True
                matrix[det.gt_labels[g], labels[j]] += 1
            else:
                matrix[det.gt_labels[g], num_classes] += 1
        for j in np.flatnonzero(~used):
            matrix[num_classes, labels[j]] += 1
    return matrix


class SegmentationTask(Task):
    name = "segmentation"
    score_name = "mean_iou"

    def loss(self, model: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
        logits = model(images)
        targets = targets.to(images.device)
        weights = None if self.class_weights is None else self.class_weights.to(images.device)
        ce = F.cross_entropy(logits, targets, weight=weights)
        probs = torch.softmax(logits.float(), dim=1)[:, 1:]
        onehot = F.one_hot(targets, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].float()
        inter = (probs * onehot).sum(dim=(0, 2, 3))
        dice = 1 - (2 * inter + 1) / (probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3)) + 1)
        return ce + dice.mean()

    def evaluate(self, model: nn.Module, items: Sequence[Item], device: torch.device) -> Evaluation:
        n = len(self.class_names)
        inter, union, sizes = np.zeros(n), np.zeros(n), np.zeros(n)
        maps = []
        for item, (_, probs) in zip(items, self.outputs(model, items, device), strict=True):
            predicted = probs.argmax(axis=0)
            i, u, s = pixel_counts(item.class_map, predicted, n)
            inter, union, sizes = inter + i, union + u, sizes + s
            maps.append(predicted.astype(np.uint8))
        metrics = segmentation_metrics(inter, union, sizes, self.class_names)
        return Evaluation(metrics[self.score_name], metrics, maps)


def make_task(name: str, class_names: Sequence[str], pre: Preprocessing,
              class_weights: torch.Tensor | None = None) -> Task:
    kinds = {"classification": Task, "detection": DetectionTask, "segmentation": SegmentationTask}
    return kinds[name](class_names, pre, class_weights)
