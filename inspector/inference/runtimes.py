"""Runtimes that execute a bundle's exported model: torch (CPU/CUDA) and ONNX Runtime (fast CPU)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from inspector.bundle.manifest import MAX_BATCH, RuntimeSpec
from inspector.bundle.store import Bundle, BundleError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawOutput:
    """Runtime output for a batch: image scores (N,) and anomaly maps (N, H, W) at model input size."""

    scores: np.ndarray
    maps: np.ndarray


class Runtime(Protocol):
    name: str
    device: str
    max_batch: int  # images one call may take (1 for programs exported for a single image)

    def __call__(self, batch: np.ndarray) -> RawOutput: ...

    def run_raw(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output of the model, in the order of ``RuntimeSpec.outputs`` (supervised bundles)."""
        ...


def _split(outputs) -> RawOutput:
    scores, maps = outputs[0], outputs[1]
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 4:
        maps = maps[:, 0]
    return RawOutput(scores=scores, maps=maps)


class TorchRuntime:
    """Runs the bundle's ``torch.export`` program on CPU or CUDA."""

    name = "torch"

    def __init__(self, bundle: Bundle, spec: RuntimeSpec, device: str = "cpu", half: bool = False) -> None:
        import torch

        self._torch = torch
        self.device = device
        self.max_batch = MAX_BATCH if spec.dynamic_batch else 1
        # half: autocast to float16 on CUDA (bfloat16 on the CPU); kept only where the equivalence check passes
        self.half = half
        self._half_dtype = torch.float16 if device.startswith("cuda") else torch.bfloat16
        if device.startswith("cuda"):
            # TF32 convolutions drift ~1e-3 from the CPU scores; keep full fp32 so thresholds carry over.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        try:
            program = torch.export.load(str(bundle.path(spec.file)))
        except Exception as exc:  # noqa: BLE001 - any load failure is a bad bundle
            raise BundleError(f"{bundle.path(spec.file)}: cannot load torch program ({exc})") from exc
        self._module = program.module().to(device)

    def run_raw(self, batch: np.ndarray) -> list[np.ndarray]:
        torch = self._torch
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(device_type, self._half_dtype, enabled=self.half):
            tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            outputs = self._module(tensor)
            outputs = outputs if isinstance(outputs, tuple | list) else (outputs,)
            return [(out.float() if out.is_floating_point() else out).cpu().numpy() for out in outputs]

    def __call__(self, batch: np.ndarray) -> RawOutput:
        return _split(self.run_raw(batch))


class OnnxRuntime:
    """Runs the bundle's ONNX model with ONNX Runtime on the CPU."""

    name = "onnxruntime"

    def __init__(self, bundle: Bundle, spec: RuntimeSpec, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        # Idle pool threads sleep instead of spinning: in the station they would take the CPU that the
        # decision and the writer need between two frames.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.device = "cpu"
        self.max_batch = MAX_BATCH if spec.dynamic_batch else 1
        try:
            self._session = ort.InferenceSession(
                str(bundle.path(spec.file)), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - any load failure is a bad bundle
            raise BundleError(f"{bundle.path(spec.file)}: cannot load ONNX model ({exc})") from exc
        self._input = self._session.get_inputs()[0].name

    def run_raw(self, batch: np.ndarray) -> list[np.ndarray]:
        return list(self._session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)}))

    def __call__(self, batch: np.ndarray) -> RawOutput:
        return _split(self.run_raw(batch))


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def load_runtime(bundle: Bundle, name: str = "auto", device: str | None = None, threads: int | None = None,
                 half: bool | None = None) -> Runtime:
    """Load one runtime; ``auto`` picks torch on CUDA when present, else ONNX Runtime on the CPU.

    ``threads`` caps the CPU runtime's intra-op threads (None: all cores). ``half`` runs torch in reduced
    precision (None: on CUDA only); callers keep it only where the equivalence check passes.
    """
    available = {spec.name for spec in bundle.manifest.runtimes}
    if name == "auto":
        if cuda_available() and "torch" in available:
            name, device = "torch", device or "cuda"
        elif "onnxruntime" in available:
            name = "onnxruntime"
        else:
            name = "torch"
    try:
        spec = bundle.manifest.runtime(name)
    except KeyError as exc:
        raise BundleError(str(exc.args[0])) from exc
    if name == "torch":
        device = device or "cpu"
        return TorchRuntime(bundle, spec, device=device, half=device.startswith("cuda") if half is None else half)
    if name == "onnxruntime":
        return OnnxRuntime(bundle, spec, threads=threads)
    raise BundleError(f"{bundle.root}: runtime {name!r} is not supported by this station")
