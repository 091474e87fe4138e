"""anomalib anomaly models on the offline EfficientNet-Lite backbones: build, fit, score."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.anomaly.coreset import greedy_coreset_indices
from training.backbones import backbone_spec, load_into

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from anomalib.models.image.padim.torch_model import PadimModel
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel

ARCHITECTURES = ("patchcore", "padim")
# Stride-8 and stride-16 stages of EfficientNet-Lite: mid-level features, as PatchCore recommends.
LAYERS = {"patchcore": ("blocks.2", "blocks.4"), "padim": ("blocks.2", "blocks.4")}
PADIM_FEATURES = 100

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = "patchcore"
    backbone: str = "lite0"
    # benchmarks/quality.py: a bank of 2.5 % of the training patches keeps image and pixel AUROC within 0.005 of
    # anomalib's 10 % on every category, and the kNN, most of the forward, costs a quarter.
    coreset_ratio: float = 0.025
    num_neighbors: int = 9
    seed: int = 0

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"model {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        backbone_spec(self.backbone)
        if not 0.0 < self.coreset_ratio <= 1.0:
            raise ValueError(f"coreset ratio must be in (0, 1], got {self.coreset_ratio}")

    @property
    def layers(self) -> tuple[str, ...]:
        return LAYERS[self.architecture]


def build_model(config: ModelConfig) -> nn.Module:
    """Build the anomalib torch model with ``pre_trained=False``, then load the offline weights."""
    torch.manual_seed(config.seed)
    timm_name = backbone_spec(config.backbone).timm_name
    if config.architecture == "patchcore":
        model = PatchcoreModel(
            layers=list(config.layers), backbone=timm_name, pre_trained=False, num_neighbors=config.num_neighbors
        )
    else:
        model = PadimModel(
            layers=list(config.layers), backbone=timm_name, pre_trained=False, n_features=PADIM_FEATURES
        )
    load_into(model.feature_extractor.feature_extractor, config.backbone)
    return model.eval()


def _batches(inputs: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    for start in range(0, len(inputs), batch_size):
        yield inputs[start : start + batch_size]


def embed(model: nn.Module, inputs: torch.Tensor, batch_size: int = 8, progress: Progress | None = None) -> None:
    """Run the training images through the model in training mode; anomalib keeps the embeddings."""
    model.train()
    done = 0
    with torch.no_grad():  # not inference_mode: fitted buffers must stay exportable
        for batch in _batches(inputs, batch_size):
            model(batch)
            done += len(batch)
            if progress:
                progress(done, len(inputs))


def fit(
    model: nn.Module,
    config: ModelConfig,
    inputs: torch.Tensor,
    *,
    batch_size: int = 8,
    on_embed: Progress | None = None,
    on_fit: Progress | None = None,
) -> nn.Module:
    """Fit on normalised good images (N x 3 x H x W): PatchCore coreset or PaDiM Gaussians."""
    embed(model, inputs, batch_size, on_embed)
    with torch.no_grad():
        if config.architecture == "patchcore":
            embeddings = torch.vstack(model.embedding_store)
            model.embedding_store.clear()
            size = max(1, int(len(embeddings) * config.coreset_ratio))
            index = greedy_coreset_indices(embeddings, size, seed=config.seed, progress=on_fit)
            model.memory_bank = embeddings[index].clone()
        else:
            model.fit()
            if on_fit:
                on_fit(1, 1)
    return model.eval()


@dataclass(frozen=True)
class Scores:
    scores: np.ndarray  # (N,)
    maps: np.ndarray  # (N, H, W) at model input size


def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 8, progress: Progress | None = None) -> Scores:
    """Score normalised images with the fitted model in eager PyTorch (the reference for export)."""
    model.eval()
    scores, maps = [], []
    with torch.inference_mode():
        for batch in _batches(inputs, batch_size):
            out = model(batch)
            scores.append(out.pred_score.reshape(-1).float().cpu())
            maps.append(out.anomaly_map.reshape(len(batch), *out.anomaly_map.shape[-2:]).float().cpu())
            if progress:
                progress(sum(len(s) for s in scores), len(inputs))
    return Scores(torch.cat(scores).numpy(), torch.cat(maps).numpy())


class ExportModule(nn.Module):
    """Inference-only view of a fitted model: normalised images -> (pred_score (N,), anomaly_map (N,1,H,W))."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(images)
        return out.pred_score.reshape(-1), out.anomaly_map


class PatchcoreExport(nn.Module):
    """PatchCore inference with anomalib's outputs, exported faster than anomalib's own forward.

    The same features, nearest neighbours and score re-weighting, but: the squared distance to every memory-bank
    row is one matrix product against the bank augmented with its squared norms (``|y|^2 - 2 x.y``), the query
    norm is added after the minimum (it is constant per row), the square root is taken of the minima only, and
    the 33 x 33 Gaussian blur of the map runs as two 1-D passes (the kernel is separable). Results agree with
    anomalib's forward to float rounding; the bundle's equivalence record checks that at export.
    """

    def __init__(self, model: PatchcoreModel) -> None:
        super().__init__()
        model = model.eval()
        self.feature_extractor = model.feature_extractor
        self.feature_pooler = model.feature_pooler
        self.layers = list(model.layers)
        self.num_neighbors = int(model.num_neighbors)
        bank = model.memory_bank.detach().float().clone()
        self.register_buffer("bank", bank)
        self.register_buffer("bank_norms", (bank * bank).sum(1))
        augmented = torch.cat([-2.0 * bank, self.bank_norms[:, None]], 1)
        self.register_buffer("bank_augmented", augmented.t().contiguous())
        kernel = model.anomaly_map_generator.blur.kernel[0, 0].detach().float()
        row = kernel.sum(0)  # the 2-D kernel is the outer product of this 1-D kernel with itself
        self.register_buffer("blur_x", row.reshape(1, 1, 1, -1).clone())
        self.register_buffer("blur_y", row.reshape(1, 1, -1, 1).clone())
        self.pad = int(row.numel() // 2)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patch embeddings (N, C, h, w), as anomalib's ``generate_embedding``."""
        features = self.feature_extractor(images)
        pooled = [self.feature_pooler(features[layer]) for layer in self.layers]
        embedding = pooled[0]
        for feature in pooled[1:]:
            embedding = torch.cat((embedding, F.interpolate(feature, size=embedding.shape[-2:], mode="bilinear")), 1)
        return embedding

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(images)
        batch, channels, height, width = embedding.shape
        patches = embedding.permute(0, 2, 3, 1).reshape(-1, channels)
        ones = torch.ones_like(patches[:, :1])
        partial = torch.cat([patches, ones], 1) @ self.bank_augmented  # |y|^2 - 2 x.y for every bank row y
        nearest, locations = partial.min(1)
        distances = (nearest + (patches * patches).sum(1)).clamp_min(0).sqrt().reshape(batch, -1)
        score = self._image_score(distances, locations.reshape(batch, -1), patches.reshape(batch, -1, channels))
        heat = F.interpolate(distances.reshape(batch, 1, height, width), size=images.shape[-2:])
        heat = F.pad(heat, (self.pad, self.pad, self.pad, self.pad), mode="reflect")
        return score, F.conv2d(F.conv2d(heat, self.blur_x), self.blur_y)

    def _image_score(self, distances: torch.Tensor, locations: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """anomalib's re-weighted maximum patch distance (``compute_anomaly_score``)."""
        worst = distances.argmax(1)
        rows = torch.arange(distances.shape[0], device=distances.device)
        score = distances[rows, worst]
        if self.num_neighbors == 1:
            return score
        feature = patches[rows, worst]
        neighbour = self.bank[locations[rows, worst]]
        to_bank = self.bank_norms[None] - 2.0 * neighbour @ self.bank.t() + (neighbour * neighbour).sum(1, keepdim=True)
        neighbours = min(self.num_neighbors, self.bank.shape[0])
        support = to_bank.clamp_min(0).sqrt().topk(k=neighbours, largest=False, dim=1).indices
        spread = ((feature[:, None, :] - self.bank[support]) ** 2).sum(-1).clamp_min(0).sqrt()
        return (1 - F.softmax(spread, 1))[..., 0] * score


def export_view(model: nn.Module) -> nn.Module:
    """The module a bundle exports: the fast PatchCore view, or anomalib's forward for other models."""
    if isinstance(model, PatchcoreModel):
        return PatchcoreExport(model).eval()
    return ExportModule(model).eval()
