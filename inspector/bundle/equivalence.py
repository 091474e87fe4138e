"""The equivalence record: a fixed sample set and its training-time scores, and what each runtime gave at export.

``equivalence.json`` is written by the bundle writer and read by the station's check; both use these types.
Anomaly bundles compare ``pred_score`` (and ``anomaly_map``). Supervised bundles name, in ``score_output`` and
``map_output``, which of ``RuntimeSpec.outputs`` is compared as the score and which as the map.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from inspector.bundle.manifest import EQUIVALENCE_INPUTS_NAME, EQUIVALENCE_NAME
from inspector.bundle.store import Bundle, BundleError

REFERENCE_MAPS_NAME = "equivalence_reference_maps.npy"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Record):
    """What the training-time model gave for the samples."""

    runtime: str = "eager torch (training time)"
    scores: list[float]
    maps_file: str | None = None
    score_output: str | None = None  # supervised: the output compared as the score (None: the anomaly score)
    map_output: str | None = None


class RuntimeDiff(_Record):
    max_rel_diff: float
    map_rel_diff: float
    ms_per_image: float | None = None  # batch 1 on the exporting machine (the median of the samples)


class EquivalenceRecord(_Record):
    task: str = "anomaly"
    tolerance_rel: float
    samples: int
    reference: Reference
    runtimes: dict[str, RuntimeDiff] = {}  # "<runtime>:<device>" -> what the export-time check measured


@dataclass(frozen=True)
class RuntimeCheck:
    """One runtime on one device against the record."""

    runtime: str
    device: str
    max_rel_diff: float
    map_rel_diff: float
    tolerance_rel: float
    ms_per_image: float | None = None  # batch 1, the median over the samples after the first

    @property
    def key(self) -> str:
        return f"{self.runtime}:{self.device}"

    @property
    def passed(self) -> bool:
        return self.max_rel_diff <= self.tolerance_rel


@dataclass(frozen=True)
class EquivalenceSet:
    """The record with its sample inputs (N x 3 x H x W) and the reference maps, if any."""

    record: EquivalenceRecord
    inputs: np.ndarray
    reference_maps: np.ndarray | None

    @property
    def reference_scores(self) -> np.ndarray:
        return np.asarray(self.record.reference.scores, np.float32).reshape(-1)


def describe_latency(record: EquivalenceRecord) -> str | None:
    """The per-image times the export-time check measured, e.g. "onnxruntime:cpu 9.1 ms, torch:cpu 19.1 ms";
    None for a record without them."""
    timed = [f"{key} {diff.ms_per_image:.1f} ms" for key, diff in record.runtimes.items()
             if diff.ms_per_image is not None]
    return ", ".join(timed) or None


def write_record(folder: Path, record: EquivalenceRecord) -> Path:
    path = folder / EQUIVALENCE_NAME
    path.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def read_equivalence(bundle: Bundle) -> EquivalenceSet:
    """The bundle's record, inputs and reference maps; a missing or malformed part is a ``BundleError``."""
    record_path = bundle.path(EQUIVALENCE_NAME)
    inputs_path = bundle.path(EQUIVALENCE_INPUTS_NAME)
    for path in (record_path, inputs_path):
        if not path.is_file():
            raise BundleError(f"{path}: equivalence record missing")
    try:
        record = EquivalenceRecord.model_validate(json.loads(record_path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise BundleError(f"{record_path}: not a valid equivalence record ({_first_error(exc)})") from exc
    inputs = np.load(inputs_path, allow_pickle=False)
    maps_file = record.reference.maps_file
    maps = np.load(bundle.path(maps_file), allow_pickle=False) if maps_file else None
    return EquivalenceSet(record, inputs, maps)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"field {'.'.join(str(p) for p in first['loc'])!r}: {first['msg']}"
    return str(exc)
