"""Run an anomaly bundle on frames: pre-process, score, heatmap at frame size, defect regions."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from inspector.bundle.store import Bundle, BundleError, open_bundle
from inspector.domain.frame import Frame
from inspector.domain.inspection import DefectRegion, ModelOutput
from inspector.inference.equivalence import require_equivalence
from inspector.inference.runtimes import Runtime, load_runtime


def extract_regions(anomaly_map: np.ndarray, threshold: float, min_area: int = 1, class_name: str = "anomaly",
                    classes: np.ndarray | None = None, names: tuple[str, ...] = ()) -> tuple[DefectRegion, ...]:
    """Connected areas of ``anomaly_map >= threshold`` (8-connected) with at least ``min_area`` pixels, best first.

    With a per-pixel class index map ``classes`` and its ``names`` (index 0 is background), each region is
    named by the majority class inside it; otherwise every region is ``class_name``.
    """
    binary = (anomaly_map >= threshold).astype(np.uint8)
    if not binary.any():
        return ()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    regions = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_area:
            continue
        inside = labels[y : y + h, x : x + w] == label
        name = class_name
        if classes is not None:
            votes = np.bincount(classes[y : y + h, x : x + w][inside], minlength=len(names))
            votes[0] = 0  # background never names a defect
            name = names[int(np.argmax(votes))]
        score = float(anomaly_map[y : y + h, x : x + w][inside].max())
        regions.append(DefectRegion(x=x, y=y, width=w, height=h, area=area, score=score, class_name=name))
    regions.sort(key=lambda r: r.score, reverse=True)
    return tuple(regions)


class AnomalyModel:
    """One loaded, verified anomaly bundle on one runtime."""

    def __init__(self, bundle: Bundle, runtime: str = "auto", device: str | None = None,
                 verify_runtime: bool = True, threads: int | None = None) -> None:
        if bundle.manifest.task != "anomaly":
            raise BundleError(f"{bundle.root}: task {bundle.manifest.task!r} is not an anomaly bundle")
        self.bundle = bundle
        self.id = bundle.manifest.bundle_id
        self.preprocessing = bundle.preprocessing
        self.image_threshold = bundle.manifest.image_threshold.value
        self.pixel_threshold = bundle.manifest.pixel_threshold.value
        self.runtime: Runtime = load_runtime(bundle, runtime, device, threads)
        if verify_runtime:
            require_equivalence(bundle, self.runtime)

    @classmethod
    def open(cls, path: Path | str, runtime: str = "auto", device: str | None = None,
             threads: int | None = None) -> AnomalyModel:
        return cls(open_bundle(path), runtime, device, threads=threads)

    def infer(self, frame: Frame, pixel_threshold: float | None = None, image_threshold: float | None = None,
              min_area: int = 1) -> ModelOutput:
        """Score one frame; the anomaly map comes back at frame size. Errors become ``ModelOutput.error``."""
        start = time.perf_counter()
        pixel = self.pixel_threshold if pixel_threshold is None else pixel_threshold
        image = self.image_threshold if image_threshold is None else image_threshold
        try:
            batch = self.preprocessing(frame.image)[None]
            raw = self.runtime(batch)
            score = float(raw.scores[0])
            if not np.isfinite(score):
                raise ValueError(f"model returned a non-finite score ({score})")
            small = raw.maps[0]
            anomaly_map = cv2.resize(small, (frame.width, frame.height), interpolation=cv2.INTER_LINEAR)
            regions = extract_regions(anomaly_map, pixel, min_area)
        except Exception as exc:  # noqa: BLE001 - a failed model is a FAIL with the reason, never a crash
            return ModelOutput(model=self.id, score=None, error=f"{type(exc).__name__}: {exc}",
                               image_threshold=image, pixel_threshold=pixel,
                               latency_ms=(time.perf_counter() - start) * 1000)
        return ModelOutput(
            model=self.id, score=score, anomaly_map=anomaly_map.astype(np.float32), image_threshold=image,
            pixel_threshold=pixel, regions=regions, latency_ms=(time.perf_counter() - start) * 1000,
        )
