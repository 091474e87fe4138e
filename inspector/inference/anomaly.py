"""Run an anomaly bundle on frames: pre-process, score, heatmap at frame size, defect regions."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import cv2
import numpy as np

from inspector.domain.frame import Frame
from inspector.domain.inspection import DefectRegion
from inspector.inference.bundle_model import BundleModel, FrameResult
from inspector.inference.tiling import TileScorer, plan_tiles, score_frame


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


class AnomalyModel(BundleModel):
    """One loaded, verified anomaly bundle on one runtime."""

    TASKS = ("anomaly",)
    KIND = "an anomaly bundle"

    def run_frame(self, frame: Frame, pixel_threshold: float, min_area: int) -> FrameResult:
        """Score and anomaly map (at frame size) with the regions over the pixel threshold.

        A bundle trained on tiles (``manifest.tiling``) scores the frame tile by tile, as it was trained; any other
        resizes the whole frame to the model input."""
        return self.run_frames([frame], pixel_threshold, min_area)[0]

    @cached_property
    def _tile_scorer(self) -> TileScorer:
        return TileScorer(self.runtime)

    def _run_tiled(self, frame: Frame, pixel_threshold: float, min_area: int) -> FrameResult:
        """Tiles of the frame at the trained scale in batches, one stitched map at frame size, its peak
        score as the frame's (``inspector.inference.tiling``)."""
        spec = self.bundle.manifest.tiling
        plan = plan_tiles(frame.height, frame.width, spec.tile, spec.overlap, spec.scale)
        score, stitched = score_frame(plan, frame.image, self.preprocessing, self._tile_scorer)
        anomaly_map = plan.to_frame(stitched)
        return FrameResult(score, anomaly_map, (), extract_regions(anomaly_map, pixel_threshold, min_area))

    def run_frames(self, frames: Sequence[Frame], pixel_threshold: float, min_area: int) -> list[FrameResult]:
        """``run_frame`` for several frames in one runtime call (tiled bundles: their tiles batch instead)."""
        if self.bundle.manifest.tiling is not None:
            return [self._run_tiled(frame, pixel_threshold, min_area) for frame in frames]
        raw = self.runtime(np.stack([self.preprocessing(frame.image) for frame in frames]))
        results = []
        for i, frame in enumerate(frames):
            anomaly_map = cv2.resize(raw.maps[i], (frame.width, frame.height), interpolation=cv2.INTER_LINEAR)
            results.append(FrameResult(float(raw.scores[i]), anomaly_map.astype(np.float32), (),
                                       extract_regions(anomaly_map, pixel_threshold, min_area)))
        return results
