"""Export a fitted model's programs (torch.export and ONNX) into a bundle written by ``inspector.bundle.writer``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inspector.bundle.equivalence import Reference
from inspector.bundle.manifest import MAX_BATCH, RuntimeSpec
from inspector.bundle.writer import BundleInfo, stage_bundle
from inspector.inference.equivalence import check_equivalence
from training.anomaly.models import export_view

TORCH_FILE = "model.pt2"
ONNX_FILE = "model.onnx"
ANOMALY_OUTPUTS = ("pred_score", "anomaly_map")

def export_programs(module: nn.Module, folder: Path, example: torch.Tensor,
                    outputs: tuple[str, ...] = ANOMALY_OUTPUTS, dynamic_batch: bool = False) -> tuple[RuntimeSpec, ...]:
    """Write the torch.export program and the ONNX model of an export view (fixed outputs); for one image, or
    with ``dynamic_batch`` for batches of 1 to ``MAX_BATCH`` images (the station batches frames that queue)."""
    shapes = {"images": {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module, (example,), dynamic_shapes=shapes).run_decompositions()
        torch.export.save(program, str(folder / TORCH_FILE))
        torch.onnx.export(program, (example,), str(folder / ONNX_FILE), dynamo=True, external_data=False,
                          input_names=["images"], output_names=list(outputs), verbose=False)
    return (
        RuntimeSpec(name="torch", file=TORCH_FILE, format="torch.export", devices=("cpu", "cuda"), outputs=outputs,
                    dynamic_batch=dynamic_batch),
        RuntimeSpec(name="onnxruntime", file=ONNX_FILE, format="onnx", devices=("cpu",), outputs=outputs,
                    dynamic_batch=dynamic_batch),
    )


def write_programs(module: nn.Module, outputs: tuple[str, ...], info: BundleInfo, out: Path, samples: np.ndarray,
                   reference: Reference, reference_maps: np.ndarray | None, *, task: str = "anomaly",
                   extra: Callable[[Path], None] | None = None, overwrite: bool = False,
                   dynamic_batch: bool = False) -> Path:
    """A verified bundle of ``module``: its programs, checked by the station's own runtimes before it is kept."""
    samples = np.ascontiguousarray(samples, np.float32)
    dynamic_batch = dynamic_batch and len(samples) > 1
    example = torch.from_numpy(samples[: 2 if dynamic_batch else 1])  # an example of 1 would fix the batch at 1
    return stage_bundle(out, info, samples, reference, reference_maps,
                        export=lambda folder: export_programs(module, folder, example, outputs, dynamic_batch),
                        check=check_equivalence, task=task, extra=extra, overwrite=overwrite)


def write_bundle(model: nn.Module, info: BundleInfo, out: Path, samples: np.ndarray, reference_scores: np.ndarray,
                 reference_maps: np.ndarray, *, extra: Callable[[Path], None] | None = None,
                 overwrite: bool = False) -> Path:
    """The anomaly bundle of ``model``; see :func:`inspector.bundle.writer.stage_bundle`."""
    reference = Reference(scores=np.asarray(reference_scores, np.float64).reshape(-1).tolist())
    return write_programs(export_view(model), ANOMALY_OUTPUTS, info, out, samples, reference, reference_maps,
                          extra=extra, overwrite=overwrite, dynamic_batch=True)
