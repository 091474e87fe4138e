"""Station-side supervised post-processing: NMS, class-named regions, and the generic equivalence outputs."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.bundle.store import BundleError
from inspector.inference.equivalence import relative_difference, score_outputs
from inspector.inference.supervised import class_regions, nms, postprocess_detections


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.8, 0.9, 0.3], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]


def test_postprocess_thresholds_then_suppresses_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [5, 5, 5, 9], [30, 30, 40, 40]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.1], np.float32)
    labels = np.array([0, 0, 1, 0, 0])
    b, s, k = postprocess_detections(boxes, scores, labels, score_threshold=0.5)
    # the empty box goes, the 0.8 box is suppressed by the 0.9 one, the other class survives, 0.1 is too low
    assert s.tolist() == pytest.approx([0.9, 0.7]) and k.tolist() == [0, 1]
    assert b.shape == (2, 4)
    empty = postprocess_detections(boxes, scores, labels, score_threshold=0.99)
    assert [len(a) for a in empty] == [0, 0, 0]


def test_class_regions_are_named_by_their_majority_class() -> None:
    defect = np.zeros((30, 40), np.float32)
    defect[2:8, 2:12] = 0.9
    defect[20:25, 30:35] = 0.6
    classes = np.zeros((30, 40), np.int64)
    classes[2:8, 2:12] = 2
    classes[2:3, 2:12] = 1  # a minority of the first region
    classes[20:25, 30:35] = 1
    regions = class_regions(defect, classes, ("background", "crack", "stain"), threshold=0.5)
    assert [(r.class_name, r.area, r.x, r.y) for r in regions] == [("stain", 60, 2, 2), ("crack", 25, 30, 20)]
    assert regions[0].score == pytest.approx(0.9)
    assert [r.class_name for r in class_regions(defect, classes, ("background", "crack", "stain"), 0.5, 30)] == [
        "stain"]


class _FakeRuntime:
    name, device = "fake", "cpu"

    def run_raw(self, batch: np.ndarray) -> list[np.ndarray]:
        n = len(batch)
        return [np.full((n, 3, 4), 2.0, np.float32), batch.mean(axis=(1, 2, 3)).reshape(n, 1) * [1, 2],
                np.zeros((n, 2), np.int64)]


def test_score_outputs_pick_the_named_outputs_image_by_image() -> None:
    inputs = np.stack([np.full((3, 4, 4), v, np.float32) for v in (1.0, 2.0)])
    scores, maps = score_outputs(_FakeRuntime(), inputs, ("boxes", "scores", "labels"), "scores", "boxes")
    assert scores.tolist() == [1.0, 2.0, 2.0, 4.0] and maps.shape == (2, 3, 4)
    assert relative_difference(scores, scores * (1 + 1e-4)) < 1e-3
    scores, maps = score_outputs(_FakeRuntime(), inputs, ("boxes", "scores", "labels"), "scores", None)
    assert maps is None
    with pytest.raises(BundleError, match="probs"):
        score_outputs(_FakeRuntime(), inputs, ("boxes", "scores", "labels"), "probs", None)
