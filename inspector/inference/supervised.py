"""Run classification, detection and segmentation bundles on frames: classes, and regions named by class.

* classification: ``classes`` is the top class with its probability; the score is ``1 - P(good)``.
* detection: the bundle gives the top-K candidates padded to K; class-wise NMS runs here. Boxes at or over the
  box threshold (the bundle's pixel threshold) become regions; the score is the best candidate's score.
* segmentation: per-pixel class probabilities; areas where ``1 - P(background)`` reaches the pixel threshold
  become regions named by their majority class; the defect probability is the heat map.
"""

from __future__ import annotations

import cv2
import numpy as np

from inspector.bundle.store import Bundle
from inspector.domain.frame import Frame
from inspector.domain.inspection import DefectRegion
from inspector.inference.anomaly import extract_regions
from inspector.inference.bundle_model import BundleModel, FrameResult

SUPERVISED_TASKS = ("classification", "detection", "segmentation")
NMS_IOU = 0.5
MAX_DETECTIONS = 100
GOOD = "good"


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes`` (M, 4)."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, np.int64)


def postprocess_detections(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, score_threshold: float,
                           iou_threshold: float = NMS_IOU,
                           max_detections: int = MAX_DETECTIONS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's padded candidates -> (boxes (M, 4), scores (M,), labels (M,)) after threshold and NMS per class."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    chosen = (scores >= score_threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, labels = boxes[chosen], scores[chosen], labels[chosen]
    if not len(scores):
        return boxes, scores, labels
    offset = (boxes.max() + 1.0) * labels[:, None].astype(np.float32)  # keeps classes apart, as batched_nms
    keep = nms(boxes + offset, scores, iou_threshold)[:max_detections]
    return boxes[keep], scores[keep], labels[keep]


def _box_region(box: np.ndarray, score: float, name: str, sx: float, sy: float) -> DefectRegion:
    x, y = int(np.floor(box[0] * sx)), int(np.floor(box[1] * sy))
    width = max(1, int(np.ceil(box[2] * sx)) - x)
    height = max(1, int(np.ceil(box[3] * sy)) - y)
    return DefectRegion(x=x, y=y, width=width, height=height, area=width * height, score=float(score),
                        class_name=name)


def class_regions(defect: np.ndarray, classes: np.ndarray, names: tuple[str, ...], threshold: float,
                  min_area: int = 1) -> tuple[DefectRegion, ...]:
    """Connected areas of ``defect >= threshold``; each is named by the majority of ``classes`` inside it."""
    return extract_regions(defect, threshold, min_area, classes=classes, names=names)


class SupervisedModel(BundleModel):
    """One loaded, verified classification, detection or segmentation bundle on one runtime."""

    TASKS = SUPERVISED_TASKS
    KIND = f"a supervised bundle ({', '.join(SUPERVISED_TASKS)})"

    def __init__(self, bundle: Bundle, runtime: str = "auto", device: str | None = None,
                 verify_runtime: bool = True, threads: int | None = None, **binding: float | int | None) -> None:
        super().__init__(bundle, runtime, device, verify_runtime, threads, **binding)
        self.class_names = tuple(bundle.manifest.class_names)
        self._outputs = bundle.manifest.runtime(self.runtime.name).outputs

    def raw(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The runtime's named outputs for one RGB uint8 image (batch axis dropped)."""
        outputs = self.runtime.run_raw(self.preprocessing(image)[None])
        return {name: np.asarray(out)[0] for name, out in zip(self._outputs, outputs, strict=True)}

    def run_frame(self, frame: Frame, pixel_threshold: float, min_area: int) -> FrameResult:
        """Classes and class-named regions; segmentation also gives its defect probability as the map."""
        run = {"classification": self._classify, "detection": self._detect, "segmentation": self._segment}
        score, classes, regions, heatmap = run[self.task](self.raw(frame.image), frame, pixel_threshold, min_area)
        return FrameResult(score, heatmap, classes, regions)

    def _classify(self, raw: dict, frame: Frame, pixel: float, min_area: int):
        probs = raw["probs"].astype(np.float64)
        top = int(np.argmax(probs))
        score = 1.0 - float(probs[self.class_names.index(GOOD)]) if GOOD in self.class_names else 0.0
        return score, ((self.class_names[top], float(probs[top])),), (), None

    def _detect(self, raw: dict, frame: Frame, pixel: float, min_area: int):
        boxes, scores, labels = postprocess_detections(raw["boxes"], raw["scores"], raw["labels"], pixel)
        sx, sy = frame.width / self.preprocessing.width, frame.height / self.preprocessing.height
        regions = [_box_region(b, s, self.class_names[int(k)], sx, sy) for b, s, k in zip(boxes, scores, labels,
                                                                                              strict=True)]
        regions = tuple(r for r in regions if r.area >= min_area)
        best: dict[str, float] = {}
        for region in regions:
            best[region.class_name] = max(best.get(region.class_name, 0.0), region.score)
        classes = tuple(sorted(best.items(), key=lambda kv: -kv[1]))
        return float(np.max(raw["scores"], initial=0.0)), classes, regions, None

    def _segment(self, raw: dict, frame: Frame, pixel: float, min_area: int):
        probs = raw["probs"]
        size = (frame.width, frame.height)
        defect = cv2.resize(np.ascontiguousarray(1.0 - probs[0], np.float32), size, interpolation=cv2.INTER_LINEAR)
        classes = cv2.resize((np.argmax(probs[1:], axis=0) + 1).astype(np.uint8), size,
                             interpolation=cv2.INTER_NEAREST).astype(np.int64)
        regions = class_regions(defect, classes, self.class_names, pixel, min_area)
        best: dict[str, float] = {}
        for region in regions:
            best[region.class_name] = max(best.get(region.class_name, 0.0), region.score)
        return float(raw["scores"]), tuple(sorted(best.items(), key=lambda kv: -kv[1])), regions, defect
