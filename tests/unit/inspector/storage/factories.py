"""Test inspections with real pixels, shared by the storage unit and integration tests."""

from __future__ import annotations

import time

import numpy as np

from inspector.domain.frame import Frame, GroundTruth
from inspector.domain.inspection import Decision, DefectRegion, Inspection, ModelOutput, Reason, ReasonCode, Verdict

EPOCH = 1_700_000_000.0


def make_inspection(i: int, *, defective: bool | None = None, size: int = 64, station: str = "line-1",
                    recipe: str = "washer", bundle: str | None = "bundle-a", with_map: bool = True) -> Inspection:
    """Inspection ``i``: a random RGB frame, an anomaly map, FAIL with one region when defective (odd ``i``)."""
    defective = bool(i % 2) if defective is None else defective
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    anomaly_map = rng.random((size, size), dtype=np.float32)
    region = DefectRegion(x=5, y=6, width=10, height=12, area=80, score=0.9, class_name="scratch")
    regions = (region,) if defective else ()
    outputs = ()
    if bundle is not None:
        outputs = (ModelOutput(model=bundle, score=0.9 if defective else 0.1 + i * 1e-3,
                               anomaly_map=anomaly_map if with_map else None, image_threshold=0.5,
                               pixel_threshold=0.4, regions=regions, latency_ms=5.0),)
    frame = Frame(id=i, camera="cam0", timestamp=EPOCH + i, monotonic=time.monotonic(), image=image,
                  truth=GroundTruth("scratch" if defective else None))
    reason = (Reason(ReasonCode.SCORE_OVER_THRESHOLD, "score 0.90 >= 0.50", bundle) if defective
              else Reason(ReasonCode.PASS, "all models within thresholds"))
    decision = Decision(Verdict.FAIL if defective else Verdict.PASS, (reason,), regions, 0 if outputs else None)
    latencies = {"acquire": 1.0, "inference": 5.0, "decision": 0.25, "total": 7.5, "queue": 0.5}
    return Inspection(frame, station, recipe, 3, outputs, decision, latencies)
