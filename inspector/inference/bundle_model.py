"""What every station model shares: a verified bundle on one runtime, and the frame-to-output contract."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from inspector.bundle.store import Bundle, BundleError, open_bundle
from inspector.domain.frame import Frame
from inspector.domain.inspection import DefectRegion, ModelOutput
from inspector.inference.equivalence import require_equivalence
from inspector.inference.runtimes import Runtime, load_runtime


@dataclass(frozen=True)
class FrameResult:
    """What a model found in one frame; ``BundleModel.infer`` adds thresholds, latency and the model id."""

    score: float
    anomaly_map: np.ndarray | None = None
    classes: tuple[tuple[str, float], ...] = ()
    regions: tuple[DefectRegion, ...] = ()


class BundleModel:
    """One loaded bundle of one of ``TASKS``, on one runtime that reproduced the export-time scores."""

    TASKS: tuple[str, ...] = ()
    KIND = "model"

    def __init__(self, bundle: Bundle, runtime: str = "auto", device: str | None = None,
                 verify_runtime: bool = True, threads: int | None = None) -> None:
        if bundle.manifest.task not in self.TASKS:
            raise BundleError(f"{bundle.root}: task {bundle.manifest.task!r} is not {self.KIND}")
        self.bundle, self.task = bundle, bundle.manifest.task
        self.id = bundle.manifest.bundle_id
        self.preprocessing = bundle.preprocessing
        self.image_threshold = bundle.manifest.image_threshold.value
        self.pixel_threshold = bundle.manifest.pixel_threshold.value
        self.runtime: Runtime = load_runtime(bundle, runtime, device, threads)
        if verify_runtime:
            require_equivalence(bundle, self.runtime)

    @classmethod
    def open(cls, path: Path | str, runtime: str = "auto", device: str | None = None,
             threads: int | None = None) -> Self:
        return cls(open_bundle(path), runtime, device, threads=threads)

    def infer(self, frame: Frame, pixel_threshold: float | None = None, image_threshold: float | None = None,
              min_area: int = 1) -> ModelOutput:
        """The model's output for one frame, maps and regions at frame size. Errors become ``ModelOutput.error``."""
        start = time.perf_counter()
        pixel = self.pixel_threshold if pixel_threshold is None else pixel_threshold
        image = self.image_threshold if image_threshold is None else image_threshold
        try:
            found = self.run_frame(frame, pixel, min_area)
            if not np.isfinite(found.score):
                raise ValueError(f"model returned a non-finite score ({found.score})")
        except Exception as exc:  # noqa: BLE001 - a failed model is a FAIL with the reason, never a crash
            return ModelOutput(model=self.id, score=None, error=f"{type(exc).__name__}: {exc}",
                               image_threshold=image, pixel_threshold=pixel,
                               latency_ms=(time.perf_counter() - start) * 1000)
        return ModelOutput(model=self.id, score=float(found.score), anomaly_map=found.anomaly_map,
                           image_threshold=image, pixel_threshold=pixel, classes=found.classes,
                           regions=found.regions, latency_ms=(time.perf_counter() - start) * 1000)

    def run_frame(self, frame: Frame, pixel_threshold: float, min_area: int) -> FrameResult:
        raise NotImplementedError
