"""Re-run a bundle's fixed sample set through each runtime and compare with the export-time scores.

Anomaly bundles compare ``pred_score`` (and ``anomaly_map``). Supervised bundles name, in the record's
``reference.score_output`` and ``reference.map_output``, which of ``RuntimeSpec.outputs`` is compared as the
score (class probabilities, top-K box scores, ...) and which as the map (boxes, probability maps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from inspector.bundle.manifest import EQUIVALENCE_INPUTS_NAME, EQUIVALENCE_NAME
from inspector.bundle.store import Bundle, BundleError
from inspector.inference.runtimes import Runtime, load_runtime


@dataclass(frozen=True)
class RuntimeCheck:
    runtime: str
    device: str
    max_rel_diff: float
    map_rel_diff: float
    tolerance_rel: float

    @property
    def passed(self) -> bool:
        return self.max_rel_diff <= self.tolerance_rel


def relative_difference(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest |a - b| / max(|b|, 1e-6) over the samples."""
    values = np.asarray(values, np.float64)
    reference = np.asarray(reference, np.float64)
    return float(np.max(np.abs(values - reference) / np.maximum(np.abs(reference), 1e-6)))


def map_difference(maps: np.ndarray, reference: np.ndarray) -> float:
    """Largest |a - b| over the maps, relative to the reference maps' largest magnitude."""
    scale = max(float(np.max(np.abs(reference))), 1e-6)
    return float(np.max(np.abs(np.asarray(maps, np.float64) - reference)) / scale)


def score_runtime(runtime: Runtime, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and maps of ``inputs`` (N x 3 x H x W) one image at a time, as the station runs them."""
    scores, maps = [], []
    for i in range(len(inputs)):
        out = runtime(inputs[i : i + 1])
        scores.append(out.scores)
        maps.append(out.maps)
    return np.concatenate(scores), np.concatenate(maps)


def score_outputs(runtime: Runtime, inputs: np.ndarray, outputs: tuple[str, ...], score_output: str,
                  map_output: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Named outputs of ``inputs`` one image at a time: the scores flattened per image, and the maps."""
    for name in (score_output, map_output):
        if name is not None and name not in outputs:
            raise BundleError(f"equivalence record names output {name!r}; the runtime has {list(outputs)}")
    scores, maps = [], []
    for i in range(len(inputs)):
        raw = runtime.run_raw(inputs[i : i + 1])
        scores.append(np.asarray(raw[outputs.index(score_output)], np.float32).reshape(-1))
        if map_output is not None:
            maps.append(np.asarray(raw[outputs.index(map_output)], np.float32))
    return np.concatenate(scores), (np.concatenate(maps) if maps else None)


def load_record(bundle: Bundle) -> tuple[dict, np.ndarray]:
    record_path = bundle.path(EQUIVALENCE_NAME)
    inputs_path = bundle.path(EQUIVALENCE_INPUTS_NAME)
    for path in (record_path, inputs_path):
        if not path.is_file():
            raise BundleError(f"{path}: equivalence record missing")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    inputs = np.load(inputs_path, allow_pickle=False)
    return record, inputs


def check_equivalence(bundle: Bundle, runtimes: tuple[str, ...] | None = None) -> list[RuntimeCheck]:
    """Score the stored sample set with each runtime (CPU, plus CUDA when present) against the record."""
    record, inputs = load_record(bundle)
    reference = record["reference"]
    reference_scores = np.asarray(reference["scores"], np.float32).reshape(-1)
    maps_file = reference.get("maps_file")
    reference_maps = np.load(bundle.path(maps_file), allow_pickle=False) if maps_file else None
    score_output = reference.get("score_output")
    tolerance = float(record["tolerance_rel"])
    names = runtimes or tuple(spec.name for spec in bundle.manifest.runtimes)
    checks = []
    for name in names:
        devices = bundle.manifest.runtime(name).devices
        for device in devices:
            if device == "cuda":
                from inspector.inference.runtimes import cuda_available

                if not cuda_available():
                    continue
            runtime = load_runtime(bundle, name, device=device)
            if score_output is None:
                scores, maps = score_runtime(runtime, inputs)
            else:
                outputs = bundle.manifest.runtime(name).outputs
                scores, maps = score_outputs(runtime, inputs, outputs, score_output, reference.get("map_output"))
            if scores.shape != reference_scores.shape:
                raise BundleError(f"{bundle.root}: runtime {name} gives {scores.size} scores for the "
                                  f"{reference_scores.size} recorded")
            checks.append(
                RuntimeCheck(
                    runtime=name,
                    device=device,
                    max_rel_diff=relative_difference(scores, reference_scores),
                    map_rel_diff=(0.0 if maps is None or reference_maps is None
                                  else map_difference(maps, reference_maps)),
                    tolerance_rel=tolerance,
                )
            )
    return checks


def require_equivalence(bundle: Bundle, runtime: Runtime) -> None:
    """Refuse the bundle if ``runtime`` does not reproduce the export-time scores."""
    for check in check_equivalence(bundle, runtimes=(runtime.name,)):
        if check.device == runtime.device and not check.passed:
            raise BundleError(
                f"{bundle.root}: runtime {check.runtime} on {check.device} differs from the recorded "
                f"scores by {check.max_rel_diff:.2e} (tolerance {check.tolerance_rel:.0e})"
            )
