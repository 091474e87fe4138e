"""Export a trained supervised model as a verified bundle (same format, checks and staging as anomaly bundles)."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inspector.bundle.manifest import (
    EQUIVALENCE_INPUTS_NAME,
    EQUIVALENCE_NAME,
    RuntimeSpec,
)
from inspector.bundle.store import open_bundle, write_manifest
from inspector.inference.equivalence import check_equivalence
from training.export import ONNX_FILE, TOLERANCE_REL, TORCH_FILE, BundleInfo, ExportError, build_manifest
from training.supervised.models import MAP_OUTPUT, OUTPUTS, SCORE_OUTPUT

REFERENCE_MAPS_FILE = "equivalence_reference_maps.npy"


def export_programs(module: nn.Module, task: str, folder: Path, example: torch.Tensor) -> tuple[RuntimeSpec, ...]:
    """``torch.export`` program and ONNX model of the fixed-output export view, for a batch of one image."""
    outputs = OUTPUTS[task]
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


def reference_outputs(module: nn.Module, task: str, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Eager scores and maps of the samples, one image at a time as the station runs them."""
    names = OUTPUTS[task]
    scores, maps = [], []
    with torch.inference_mode():
        for i in range(len(samples)):
            out = module(torch.from_numpy(samples[i : i + 1]))
            out = out if isinstance(out, tuple) else (out,)
            scores.append(out[names.index(SCORE_OUTPUT[task])].float().numpy().reshape(-1))
            if MAP_OUTPUT[task] is not None:
                maps.append(out[names.index(MAP_OUTPUT[task])].float().numpy())
    return np.concatenate(scores), (np.concatenate(maps) if maps else None)


def write_supervised_bundle(module: nn.Module, task: str, info: BundleInfo, out: Path, samples: np.ndarray, *,
                            extra: Callable[[Path], None] | None = None, overwrite: bool = False) -> Path:
    """Export both runtimes, record the reference outputs of ``samples``, check every runtime against them within
    the tolerance, hash every file and only then move the bundle into ``out``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out}: already exists; choose another --out or pass --overwrite")
    module = module.cpu().eval()
    samples = np.ascontiguousarray(samples, np.float32)
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        runtimes = export_programs(module, task, staging, torch.from_numpy(samples[:1]))
        scores, maps = reference_outputs(module, task, samples)
        np.save(staging / EQUIVALENCE_INPUTS_NAME, samples, allow_pickle=False)
        reference = {"runtime": "eager torch (training time)", "score_output": SCORE_OUTPUT[task],
                     "scores": scores.tolist(), "map_output": MAP_OUTPUT[task], "maps_file": None}
        if maps is not None:
            np.save(staging / REFERENCE_MAPS_FILE, maps.astype(np.float32), allow_pickle=False)
            reference["maps_file"] = REFERENCE_MAPS_FILE
        record = {"task": task, "tolerance_rel": TOLERANCE_REL, "samples": len(samples), "reference": reference}
        (staging / EQUIVALENCE_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if extra:
            extra(staging)
        write_manifest(staging, build_manifest(info, staging, runtimes, len(samples), {}, task))
        checks = check_equivalence(open_bundle(staging))
        failed = [c for c in checks if not c.passed]
        if failed:
            raise ExportError(f"runtime {failed[0].runtime} on {failed[0].device} differs from the trained model by "
                              f"{failed[0].max_rel_diff:.2e} (relative), over the {TOLERANCE_REL:.0e} tolerance")
        record["runtimes"] = {f"{c.runtime}:{c.device}": {"max_rel_diff": c.max_rel_diff,
                                                          "map_rel_diff": c.map_rel_diff} for c in checks}
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
