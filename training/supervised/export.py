"""Export a trained supervised model as a verified bundle (same format, checks and staging as anomaly bundles)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inspector.bundle.equivalence import Reference
from inspector.bundle.writer import BundleInfo
from training.export import write_programs
from training.supervised.models import MAP_OUTPUT, OUTPUTS, SCORE_OUTPUT


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
    the tolerance, hash every file and only then move the bundle into ``out`` (``inspector.bundle.writer``)."""
    module = module.cpu().eval()
    samples = np.ascontiguousarray(samples, np.float32)
    scores, maps = reference_outputs(module, task, samples)
    reference = Reference(scores=scores.astype(np.float64).tolist(), score_output=SCORE_OUTPUT[task],
                          map_output=MAP_OUTPUT[task])
    return write_programs(module, OUTPUTS[task], info, out, samples, reference, maps, task=task, extra=extra,
                          overwrite=overwrite)
