"""What every station model shares: a verified bundle on one runtime, and the frame-to-output contract."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from inspector.bundle.equivalence import RuntimeCheck
from inspector.bundle.store import Bundle, BundleError, open_bundle
from inspector.domain.frame import Frame
from inspector.domain.inspection import DefectRegion, ModelOutput
from inspector.inference.equivalence import check_runtime, require_equivalence
from inspector.inference.runtimes import Runtime, load_runtime
from inspector.inference.thresholds import resolve_threshold

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameResult:
    """What a model found in one frame; ``BundleModel.infer`` adds thresholds, latency and the model id."""

    score: float
    anomaly_map: np.ndarray | None = None
    classes: tuple[tuple[str, float], ...] = ()
    regions: tuple[DefectRegion, ...] = ()


class BundleModel:
    """One loaded bundle of one of ``TASKS``, on one runtime that reproduced the export-time scores, bound once
    to its thresholds (the recipe's, else the bundle's calibrated ones) and to the minimum region area."""

    TASKS: tuple[str, ...] = ()
    KIND = "model"

    def __init__(self, bundle: Bundle, runtime: str = "auto", device: str | None = None,
                 verify_runtime: bool = True, threads: int | None = None, *, half: bool | None = None,
                 image_threshold: float | None = None,
                 pixel_threshold: float | None = None, min_area: int = 1, override_calibration: bool = False) -> None:
        if bundle.manifest.task not in self.TASKS:
            raise BundleError(f"{bundle.root}: task {bundle.manifest.task!r} is not {self.KIND}")
        self.bundle, self.task = bundle, bundle.manifest.task
        self.id = bundle.manifest.bundle_id
        self.preprocessing = bundle.preprocessing
        self.image_threshold = resolve_threshold(bundle, "image", image_threshold, override_calibration)
        self.pixel_threshold = resolve_threshold(bundle, "pixel", pixel_threshold, override_calibration)
        self.min_area = max(1, int(min_area))
        self.runtime: Runtime = load_runtime(bundle, runtime, device, threads, half)
        self.load_check: RuntimeCheck | None = None  # the load-time check (its ms per image too); None: not run
        if verify_runtime:
            self.runtime, self.load_check = self._verified(bundle, self.runtime, runtime, device, threads)

    @staticmethod
    def _verified(bundle: Bundle, loaded: Runtime, runtime: str, device: str | None,
                  threads: int | None) -> tuple[Runtime, RuntimeCheck]:
        """The runtime once it reproduced the export-time scores, and its check; reduced precision (fp16 on CUDA)
        that does not is replaced by full precision, which must."""
        if not getattr(loaded, "half", False):
            return loaded, require_equivalence(bundle, loaded)
        check = check_runtime(bundle, loaded)
        if check.passed:
            log.info("%s: %s on %s runs in reduced precision (within %.1e of the recorded scores)",
                     bundle.manifest.bundle_id, check.runtime, check.device, check.max_rel_diff)
            return loaded, check
        log.warning("%s: reduced precision on %s differs from the recorded scores by %.1e; running full precision",
                    bundle.manifest.bundle_id, check.device, check.max_rel_diff)
        full = load_runtime(bundle, runtime, device, threads, half=False)
        return full, require_equivalence(bundle, full)

    @classmethod
    def open(cls, path: Path | str, runtime: str = "auto", device: str | None = None,
             threads: int | None = None, **binding: float | int | None) -> Self:
        """Open, verify and bind a bundle; ``binding`` takes ``image_threshold``, ``pixel_threshold``, ``min_area``
        and ``override_calibration``."""
        return cls(open_bundle(path), runtime, device, threads=threads, **binding)

    def infer(self, frame: Frame) -> ModelOutput:
        """The model's output for one frame, maps and regions at frame size. Errors become ``ModelOutput.error``."""
        start = time.perf_counter()
        image, pixel = self.image_threshold, self.pixel_threshold
        try:
            found = self.run_frame(frame, pixel, self.min_area)  # a NaN score stays NaN: the decision flags it
        except Exception as exc:  # noqa: BLE001 - a failed model is a FAIL with the reason, never a crash
            return ModelOutput(model=self.id, score=None, error=f"{type(exc).__name__}: {exc}",
                               image_threshold=image, pixel_threshold=pixel,
                               latency_ms=(time.perf_counter() - start) * 1000)
        return self._output(found, (time.perf_counter() - start) * 1000)

    def infer_many(self, frames: Sequence[Frame]) -> list[ModelOutput]:
        """``infer`` for frames that queued together: one runtime call per batch where the bundle's program takes
        batches (``run_frames``), else one frame at a time. Each output's latency is its batch's."""
        if len(frames) < 2 or self.runtime.max_batch < 2 or type(self).run_frames is BundleModel.run_frames:
            return [self.infer(frame) for frame in frames]
        outputs: list[ModelOutput] = []
        for first in range(0, len(frames), self.runtime.max_batch):
            chunk = frames[first : first + self.runtime.max_batch]
            start = time.perf_counter()
            try:
                found = self.run_frames(chunk, self.pixel_threshold, self.min_area)
            except Exception:  # noqa: BLE001 - a failed batch is retried frame by frame, each failing on its own
                outputs.extend(self.infer(frame) for frame in chunk)
                continue
            latency = (time.perf_counter() - start) * 1000
            outputs.extend(self._output(result, latency) for result in found)
        return outputs

    def _output(self, found: FrameResult, latency_ms: float) -> ModelOutput:
        return ModelOutput(model=self.id, score=float(found.score), anomaly_map=found.anomaly_map,
                           image_threshold=self.image_threshold, pixel_threshold=self.pixel_threshold,
                           classes=found.classes, regions=found.regions, latency_ms=latency_ms)

    def run_frame(self, frame: Frame, pixel_threshold: float, min_area: int) -> FrameResult:
        raise NotImplementedError

    def run_frames(self, frames: Sequence[Frame], pixel_threshold: float, min_area: int) -> list[FrameResult]:
        """``run_frame`` for a batch in one runtime call; models that can batch override it."""
        raise NotImplementedError
