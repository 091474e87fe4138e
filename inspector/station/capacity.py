"""Whether the loaded models keep up with the camera, from the times their load-time checks measured."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from inspector.inference.bundle_model import BundleModel

log = logging.getLogger(__name__)
# The station's own work per frame (pre- and post-processing, decision, journal, pictures) leaves the inference
# workers about this share of the CPU: benchmarks/station_throughput.py, station 0.74-0.80x of two bare callers.
STATION_SHARE = 0.75


def _timed(models: Sequence[BundleModel]) -> tuple[float, str] | None:
    """(milliseconds per frame, the runtimes timed); None where a model was not timed, or is tiled (its cost
    depends on the frame size)."""
    per_frame, runtimes = 0.0, set()
    for model in models:
        check = model.load_check
        if check is None or check.ms_per_image is None or model.bundle.manifest.tiling is not None:
            return None
        per_frame += check.ms_per_image
        runtimes.add(check.key)
    return (per_frame, ", ".join(sorted(runtimes))) if per_frame > 0 else None


def capacity_notice(models: Sequence[BundleModel], workers: int, camera_fps: float | None) -> str | None:
    """A notice for the operator when the station cannot keep up with the camera's frame rate, else None.

    The models' times come from a few images at load and the station's share is a benchmark figure, so it is an
    estimate; frames beyond it queue and are dropped as ``pipeline.backpressure`` says."""
    timed = _timed(models)
    if timed is None:
        return None
    per_frame, runtimes = timed
    workers = max(1, workers)
    capacity = workers * 1000.0 / per_frame * STATION_SHARE
    keep = "1 inference worker keeps" if workers == 1 else f"{workers} inference workers keep"
    log.info("models: about %.1f ms per frame on %s (measured at load); %s up with about %.0f frames/s",
             per_frame, runtimes, keep, capacity)
    if camera_fps is None or capacity >= camera_fps:
        return None
    return (f"models too slow for the camera: about {per_frame:.0f} ms per frame on {runtimes} (measured at load), "
            f"so {keep} up with about {capacity:.0f} frames/s and the camera gives {camera_fps:g}; the rest are "
            "dropped (in part mode, rejected). Lower the rate, run fewer or faster models, or use a GPU")
