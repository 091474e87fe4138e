"""Write a bundle: stage its files, record equivalence, hash everything, build the manifest, then move it in place.

Training supplies the runtime programs (``export``) and the runtime check (``check``); the rest of the
contract (manifest, equivalence record, hashes, layout) is written here.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from inspector.bundle.equivalence import REFERENCE_MAPS_NAME, EquivalenceRecord, Reference, RuntimeCheck, RuntimeDiff
from inspector.bundle.equivalence import write_record as write_equivalence
from inspector.bundle.manifest import (
    EQUIVALENCE_INPUTS_NAME,
    DatasetSpec,
    EquivalenceSpec,
    InputSpec,
    Manifest,
    RuntimeSpec,
    ThresholdSpec,
    TilingSpec,
)
from inspector.bundle.preprocess import Preprocessing
from inspector.bundle.signing import load_or_create_key, sign_bundle
from inspector.bundle.store import Bundle, hash_files, open_bundle, write_manifest

TOLERANCE_REL = 1e-3
_VERSIONED = ("torch", "torchvision", "timm", "anomalib", "onnx", "onnxruntime", "numpy", "opencv-python-headless")

Export = Callable[[Path], tuple[RuntimeSpec, ...]]  # writes the runtime files into a folder, says what they are
Check = Callable[[Bundle], list[RuntimeCheck]]  # scores the staged bundle's runtimes against its record


class ExportError(RuntimeError):
    """The bundle could not be written or failed its equivalence check."""


@dataclass(frozen=True)
class BundleInfo:
    """Everything the manifest says about the model apart from its files."""

    name: str
    architecture: str
    backbone: str
    preprocessing: Preprocessing
    class_names: tuple[str, ...]
    image_threshold: ThresholdSpec
    pixel_threshold: ThresholdSpec
    metrics: dict
    dataset: DatasetSpec
    tiling: TilingSpec | None = None  # trained on tiles of the frames (None: on whole frames)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _bundle_id(name: str, created: datetime, files: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:10]
    return f"{name}-{created:%Y%m%dT%H%M%SZ}-{digest}"


def build_manifest(info: BundleInfo, folder: Path, runtimes: tuple[RuntimeSpec, ...], samples: int,
                   diffs: dict[str, float], task: str = "anomaly") -> Manifest:
    """The manifest of the bundle files in ``folder``, with their hashes and the equivalence outcome."""
    files = hash_files(folder)
    created = datetime.now(UTC).replace(microsecond=0)
    pre = info.preprocessing
    return Manifest(
        name=info.name,
        bundle_id=_bundle_id(info.name, created, files),
        task=task,
        architecture=info.architecture,
        backbone=info.backbone,
        input=InputSpec(height=pre.height, width=pre.width, mean=pre.mean, std=pre.std, resize=pre.resize),
        class_names=info.class_names,
        image_threshold=info.image_threshold,
        pixel_threshold=info.pixel_threshold,
        metrics=info.metrics,
        dataset=info.dataset,
        versions=library_versions(),
        created=created,
        runtimes=runtimes,
        equivalence=EquivalenceSpec(
            samples=samples,
            tolerance_rel=TOLERANCE_REL,
            max_rel_diff=diffs,
            passed=bool(diffs) and all(v <= TOLERANCE_REL for v in diffs.values()),
        ),
        files=files,
        tiling=info.tiling,
    )


def stage_bundle(out: Path, info: BundleInfo, samples: np.ndarray, reference: Reference,
                 reference_maps: np.ndarray | None, *, export: Export, check: Check, task: str = "anomaly",
                 extra: Callable[[Path], None] | None = None, overwrite: bool = False,
                 signing_key: Path | None = None) -> Path:
    """Export runtimes, record and check equivalence on ``samples``, hash every file, sign the manifest (the key at
    ``signing_key``, else the default one, made once), then move into ``out``.

    ``extra(folder)`` may add files (the evaluation report) before hashing. Nothing appears at ``out``
    unless every runtime reproduces the reference scores within the tolerance.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out}: already exists; choose another --out or pass --overwrite")
    samples = np.ascontiguousarray(samples, np.float32)
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        runtimes = export(staging)
        np.save(staging / EQUIVALENCE_INPUTS_NAME, samples, allow_pickle=False)
        if reference_maps is not None:
            np.save(staging / REFERENCE_MAPS_NAME, reference_maps.astype(np.float32), allow_pickle=False)
            reference = reference.model_copy(update={"maps_file": REFERENCE_MAPS_NAME})
        record = EquivalenceRecord(task=task, tolerance_rel=TOLERANCE_REL, samples=len(samples), reference=reference)
        write_equivalence(staging, record)
        if extra:
            extra(staging)
        write_manifest(staging, build_manifest(info, staging, runtimes, len(samples), {}, task))
        checks = check(open_bundle(staging))
        failed = [c for c in checks if not c.passed]
        if failed:
            worst = failed[0]
            raise ExportError(
                f"runtime {worst.runtime} on {worst.device} differs from the trained model by "
                f"{worst.max_rel_diff:.2e} (relative), over the {TOLERANCE_REL:.0e} tolerance"
            )
        runtimes_seen = {c.key: RuntimeDiff(max_rel_diff=c.max_rel_diff, map_rel_diff=c.map_rel_diff,
                                            ms_per_image=c.ms_per_image) for c in checks}
        write_equivalence(staging, record.model_copy(update={"runtimes": runtimes_seen}))
        diffs = {c.key: c.max_rel_diff for c in checks}
        write_manifest(staging, build_manifest(info, staging, runtimes, len(samples), diffs, task))
        sign_bundle(staging, load_or_create_key(signing_key))
        open_bundle(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
