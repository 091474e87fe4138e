"""Re-run a bundle's fixed sample set through a runtime and compare with the export-time scores.

The record and its types live in :mod:`inspector.bundle.equivalence`; this module scores runtimes against it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from inspector.bundle.equivalence import EquivalenceSet, RuntimeCheck, read_equivalence
from inspector.bundle.store import Bundle, BundleError
from inspector.inference.runtimes import Runtime, cuda_available, load_runtime

T = TypeVar("T")


def relative_difference(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest |a - b| / max(|b|, 1e-6) over the samples."""
    values = np.asarray(values, np.float64)
    reference = np.asarray(reference, np.float64)
    return float(np.max(np.abs(values - reference) / np.maximum(np.abs(reference), 1e-6)))


def map_difference(maps: np.ndarray, reference: np.ndarray) -> float:
    """Largest |a - b| over the maps, relative to the reference maps' largest magnitude."""
    scale = max(float(np.max(np.abs(reference))), 1e-6)
    return float(np.max(np.abs(np.asarray(maps, np.float64) - reference)) / scale)


def _timed(call: Callable[[np.ndarray], T], batch: np.ndarray, timings: list[float] | None) -> T:
    """``call(batch)``, its milliseconds appended to ``timings``."""
    start = time.perf_counter()
    out = call(batch)
    if timings is not None:
        timings.append((time.perf_counter() - start) * 1000)
    return out


def score_runtime(runtime: Runtime, inputs: np.ndarray, timings: list[float] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Scores and maps of ``inputs`` (N x 3 x H x W) one image at a time, as the station runs them; each call's
    milliseconds are appended to ``timings``."""
    scores, maps = [], []
    for i in range(len(inputs)):
        out = _timed(runtime, inputs[i : i + 1], timings)
        scores.append(out.scores)
        maps.append(out.maps)
    return np.concatenate(scores), np.concatenate(maps)


def score_outputs(runtime: Runtime, inputs: np.ndarray, outputs: tuple[str, ...], score_output: str,
                  map_output: str | None, timings: list[float] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Named outputs of ``inputs`` one image at a time: the scores flattened per image, and the maps; each call's
    milliseconds are appended to ``timings``."""
    for name in (score_output, map_output):
        if name is not None and name not in outputs:
            raise BundleError(f"equivalence record names output {name!r}; the runtime has {list(outputs)}")
    scores, maps = [], []
    for i in range(len(inputs)):
        raw = _timed(runtime.run_raw, inputs[i : i + 1], timings)
        scores.append(np.asarray(raw[outputs.index(score_output)], np.float32).reshape(-1))
        if map_output is not None:
            maps.append(np.asarray(raw[outputs.index(map_output)], np.float32))
    return np.concatenate(scores), (np.concatenate(maps) if maps else None)


def check_runtime(bundle: Bundle, runtime: Runtime, samples: EquivalenceSet | None = None) -> RuntimeCheck:
    """Score the recorded samples with this (already loaded) runtime and compare with the record."""
    samples = samples or read_equivalence(bundle)
    reference = samples.record.reference
    timings: list[float] = []
    if reference.score_output is None:
        scores, maps = score_runtime(runtime, samples.inputs, timings)
    else:
        outputs = bundle.manifest.runtime(runtime.name).outputs
        scores, maps = score_outputs(runtime, samples.inputs, outputs, reference.score_output, reference.map_output,
                                     timings)
    expected = samples.reference_scores
    if scores.shape != expected.shape:
        raise BundleError(f"{bundle.root}: runtime {runtime.name} gives {scores.size} scores for the "
                          f"{expected.size} recorded")
    score_diff = relative_difference(scores, expected)
    map_diff = 0.0 if maps is None or samples.reference_maps is None else map_difference(maps, samples.reference_maps)
    if reference.score_output is None and getattr(runtime, "max_batch", 1) >= len(samples.inputs) > 1:
        batched = runtime(samples.inputs)  # the station batches frames that queue: one batch must agree too
        score_diff = max(score_diff, relative_difference(batched.scores, expected))
        if samples.reference_maps is not None:
            map_diff = max(map_diff, map_difference(batched.maps, samples.reference_maps))
    return RuntimeCheck(runtime.name, runtime.device, score_diff, map_diff, samples.record.tolerance_rel,
                        per_image_ms(timings))


def per_image_ms(timings: list[float]) -> float | None:
    """Milliseconds per image at batch 1: the median call, the first left out (it warms the runtime up)."""
    timed = timings[1:] or timings
    return round(statistics.median(timed), 2) if timed else None


def check_equivalence(bundle: Bundle, runtimes: tuple[str, ...] | None = None) -> list[RuntimeCheck]:
    """Load and check each runtime of the bundle (CPU, plus CUDA when present) against the record."""
    samples = read_equivalence(bundle)
    names = runtimes or tuple(spec.name for spec in bundle.manifest.runtimes)
    checks = []
    for name in names:
        for device in bundle.manifest.runtime(name).devices:
            if device == "cuda" and not cuda_available():
                continue
            checks.append(check_runtime(bundle, load_runtime(bundle, name, device=device, half=False), samples))
    return checks


def require_equivalence(bundle: Bundle, runtime: Runtime) -> RuntimeCheck:
    """Refuse the bundle if the runtime the station will run does not reproduce the export-time scores."""
    check = check_runtime(bundle, runtime)
    if not check.passed:
        raise BundleError(
            f"{bundle.root}: runtime {check.runtime} on {check.device} differs from the recorded "
            f"scores by {check.max_rel_diff:.2e} (tolerance {check.tolerance_rel:.0e})"
        )
    return check
