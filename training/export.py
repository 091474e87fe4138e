"""Export a fitted model as a verified, versioned model bundle (anomaly here; supervised tasks reuse the staging)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inspector.bundle.manifest import (
    EQUIVALENCE_INPUTS_NAME,
    EQUIVALENCE_NAME,
    DatasetSpec,
    EquivalenceSpec,
    InputSpec,
    Manifest,
    RuntimeSpec,
    ThresholdSpec,
)
from inspector.bundle.preprocess import Preprocessing
from inspector.bundle.store import hash_files, open_bundle, write_manifest
from inspector.inference.equivalence import check_equivalence
from training.anomaly.models import ExportModule

log = logging.getLogger(__name__)
TOLERANCE_REL = 1e-3
TORCH_FILE = "model.pt2"
ONNX_FILE = "model.onnx"
REFERENCE_MAPS_FILE = "equivalence_reference_maps.npy"
ANOMALY_OUTPUTS = ("pred_score", "anomaly_map")
_VERSIONED = ("torch", "torchvision", "timm", "anomalib", "onnx", "onnxruntime", "numpy", "opencv-python-headless")


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


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def export_programs(module: nn.Module, folder: Path, example: torch.Tensor,
                    outputs: tuple[str, ...] = ANOMALY_OUTPUTS) -> tuple[RuntimeSpec, ...]:
    """Write the torch.export program and the ONNX model of an export view (fixed outputs) for one image."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, (example,)).run_decompositions()
        torch.export.save(program, str(folder / TORCH_FILE))
        torch.onnx.export(program, (example,), str(folder / ONNX_FILE), dynamo=True, external_data=False,
                          input_names=["images"], output_names=list(outputs), verbose=False)
    return (
        RuntimeSpec(name="torch", file=TORCH_FILE, format="torch.export", devices=("cpu", "cuda"), outputs=outputs),
        RuntimeSpec(name="onnxruntime", file=ONNX_FILE, format="onnx", devices=("cpu",), outputs=outputs),
    )


def _bundle_id(name: str, created: datetime, files: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:10]
    return f"{name}-{created:%Y%m%dT%H%M%SZ}-{digest}"


def write_bundle(
    model: nn.Module,
    info: BundleInfo,
    out: Path,
    samples: np.ndarray,
    reference_scores: np.ndarray,
    reference_maps: np.ndarray,
    *,
    extra: Callable[[Path], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """The anomaly bundle of ``model``; see :func:`stage_bundle`."""
    return stage_bundle(ExportModule(model).eval(), ANOMALY_OUTPUTS, info, out, samples,
                        {"scores": np.asarray(reference_scores).tolist()}, reference_maps, extra=extra,
                        overwrite=overwrite)


def stage_bundle(
    module: nn.Module,
    outputs: tuple[str, ...],
    info: BundleInfo,
    out: Path,
    samples: np.ndarray,
    reference: dict,
    reference_maps: np.ndarray | None,
    *,
    task: str = "anomaly",
    extra: Callable[[Path], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Export runtimes, record and check equivalence on ``samples``, hash every file, then move into ``out``.

    ``reference`` holds the training-time ``scores`` (and, for supervised bundles, which outputs they are).
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
        runtimes = export_programs(module, staging, torch.from_numpy(samples[:1]), outputs)
        np.save(staging / EQUIVALENCE_INPUTS_NAME, samples, allow_pickle=False)
        reference = {"runtime": "eager torch (training time)", **reference, "maps_file": None}
        if reference_maps is not None:
            np.save(staging / REFERENCE_MAPS_FILE, reference_maps.astype(np.float32), allow_pickle=False)
            reference["maps_file"] = REFERENCE_MAPS_FILE
        record = {"task": task, "tolerance_rel": TOLERANCE_REL, "samples": len(samples), "reference": reference}
        (staging / EQUIVALENCE_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if extra:
            extra(staging)
        write_manifest(staging, build_manifest(info, staging, runtimes, len(samples), {}, task))
        checks = check_equivalence(open_bundle(staging))
        failed = [c for c in checks if not c.passed]
        if failed:
            worst = failed[0]
            raise ExportError(
                f"runtime {worst.runtime} on {worst.device} differs from the trained model by "
                f"{worst.max_rel_diff:.2e} (relative), over the {TOLERANCE_REL:.0e} tolerance"
            )
        record["runtimes"] = {
            f"{c.runtime}:{c.device}": {"max_rel_diff": c.max_rel_diff, "map_rel_diff": c.map_rel_diff}
            for c in checks
        }
        (staging / EQUIVALENCE_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        diffs = {f"{c.runtime}:{c.device}": c.max_rel_diff for c in checks}
        write_manifest(staging, build_manifest(info, staging, runtimes, len(samples), diffs, task))
        open_bundle(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def build_manifest(
    info: BundleInfo, folder: Path, runtimes: tuple[RuntimeSpec, ...], samples: int, diffs: dict[str, float],
    task: str = "anomaly",
) -> Manifest:
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
    )
