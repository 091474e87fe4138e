"""Classification, COCO mAP, box threshold and mask metrics on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from training.supervised.metrics import (
    Detections,
    best_box_threshold,
    box_f1,
    classification_metrics,
    detection_map,
    pixel_counts,
    segmentation_metrics,
)
from training.supervised.tasks import detection_confusion


def _det(boxes, scores, labels, gt_boxes, gt_labels) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                      np.array(labels, np.int64), np.array(gt_boxes, np.float32).reshape(-1, 4),
                      np.array(gt_labels, np.int64))


def test_classification_metrics() -> None:
    m = classification_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 2], ["good", "crack", "dent"])
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    # F1: good 2/3, crack 0.8, dent 1
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)


def test_perfect_detections_score_one() -> None:
    images = [_det([[0, 0, 10, 10]], [0.9], [0], [[0, 0, 10, 10]], [0]),
              _det([[5, 5, 20, 20]], [0.8], [1], [[5, 5, 20, 20]], [1])]
    m = detection_map(images, 2)
    assert m["map"] == pytest.approx(1.0) and m["map_50"] == pytest.approx(1.0)


def test_false_positive_ranked_first_halves_precision_at_low_recall() -> None:
    # class 0: a spurious box scores 0.9, the true one 0.8 -> precision 0.5 at recall 1 -> AP 0.5
    images = [_det([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8], [0, 0], [[0, 0, 10, 10]], [0])]
    assert detection_map(images, 1)["map_50"] == pytest.approx(0.5)


def test_iou_thresholds_and_classes_without_ground_truth() -> None:
    # IoU 0.77 with its ground truth: a hit at 0.5..0.75 (6 of 10 thresholds); class 1 has no ground truth.
    images = [_det([[0, 0, 10, 7.7], [30, 30, 40, 40]], [0.9, 0.7], [0, 1], [[0, 0, 10, 10]], [0])]
    m = detection_map(images, 2)
    assert m["map_50"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx(0.6)
    assert list(m["map_50_per_class"]) == [0]
    assert m["backend"] == "torchmetrics/pycocotools"


def test_wrong_class_and_missed_boxes() -> None:
    images = [_det([[0, 0, 10, 10]], [0.9], [1], [[0, 0, 10, 10]], [0])]
    assert detection_map(images, 2)["map_50"] == 0.0
    assert box_f1(images, 0.5) == 0.0
    matrix = detection_confusion(images, 0.5, 2)
    assert matrix.tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]  # true class 0 detected as class 1


def test_best_box_threshold_drops_low_scoring_false_positives() -> None:
    images = [_det([[0, 0, 10, 10], [50, 50, 60, 60]], [0.8, 0.3], [0, 0], [[0, 0, 10, 10]], [0])]
    threshold, f1 = best_box_threshold(images)
    assert 0.3 < threshold <= 0.8 and f1 == pytest.approx(1.0)
    assert box_f1(images, 0.1) == pytest.approx(2 / 3)


def test_iou_and_dice() -> None:
    truth = np.zeros((4, 4), np.int64)
    truth[:2, :2] = 1
    predicted = np.zeros((4, 4), np.int64)
    predicted[:2, :1] = 1
    m = segmentation_metrics(*pixel_counts(truth, predicted, 2), ["background", "crack"])
    assert m["iou"]["crack"] == pytest.approx(0.5) and m["dice"]["crack"] == pytest.approx(2 * 2 / 6)
    assert m["mean_iou"] == pytest.approx(0.5)
