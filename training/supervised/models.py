"""Supervised models on the offline EfficientNet-Lite backbones, and their fixed-output export views.

* classification: the timm network without its ImageNet classifier, plus a new linear head;
* detection: torchvision FCOS on a timm ``features_only`` body with a ``FeaturePyramidNetwork``;
* segmentation: a light FPN-style decoder on the same body, predicting a class per pixel.

Every model keeps the pretrained network under ``encoder(model)`` so training can freeze it first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import timm
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import FeaturePyramidNetwork

from training.backbones import backbone_spec, load_into

TASKS = ("classification", "detection", "segmentation")
DETECTION_LEVELS = (2, 3, 4)  # strides 8, 16, 32
SEGMENTATION_LEVELS = (1, 2, 3, 4)  # strides 4 .. 32
FPN_CHANNELS = 64
TOP_K = 100


@dataclass(frozen=True)
class ModelSpec:
    """What to build: task, backbone key, number of classes, input side and whether to load ImageNet weights."""

    task: str
    backbone: str = "lite0"
    num_classes: int = 2
    image_size: int = 128
    pretrained: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        backbone_spec(self.backbone)
        if self.num_classes < 1:
            raise ValueError(f"a {self.task} model needs at least one class, got {self.num_classes}")
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"image size must be a multiple of 32 and >= 32, got {self.image_size}")


def _features(spec: ModelSpec, levels: tuple[int, ...]) -> nn.Module:
    body = timm.create_model(backbone_spec(spec.backbone).timm_name, pretrained=False, features_only=True,
                             out_indices=levels)
    return load_into(body, spec.backbone) if spec.pretrained else body


class Classifier(nn.Module):
    """timm network (pooled features) + a new dropout/linear head."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = timm.create_model(backbone_spec(spec.backbone).timm_name, pretrained=False, num_classes=0)
        if spec.pretrained:
            load_into(self.backbone, spec.backbone)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.backbone.num_features, spec.num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


class FpnBackbone(nn.Module):
    """timm feature pyramid (``body``) + torchvision FPN: images -> OrderedDict of ``out_channels`` maps."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.body = _features(spec, DETECTION_LEVELS)
        self.fpn = FeaturePyramidNetwork(self.body.feature_info.channels(), FPN_CHANNELS)
        self.out_channels = FPN_CHANNELS

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        features = self.body(images)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(features)))


def build_detector(spec: ModelSpec) -> FCOS:
    """FCOS (anchor-free, focal loss) with one anchor per location at strides 8/16/32; nothing downloaded."""
    backbone = FpnBackbone(spec)
    anchors = AnchorGenerator(sizes=tuple((8 * 2**i,) for i in range(len(DETECTION_LEVELS))),
                              aspect_ratios=((1.0,),) * len(DETECTION_LEVELS))
    head = FCOSHead(FPN_CHANNELS, num_anchors=1, num_classes=spec.num_classes, num_convs=2)
    # Inputs arrive already normalised at the model size: identity mean/std, no resizing.
    return FCOS(backbone, spec.num_classes, min_size=spec.image_size, max_size=spec.image_size,
                image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0], anchor_generator=anchors, head=head,
                score_thresh=0.05, detections_per_img=TOP_K, _skip_resize=True)


class Segmenter(nn.Module):
    """Lateral 1x1 convs, top-down sum, one 3x3 conv, per-pixel logits upsampled to the input size."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = _features(spec, SEGMENTATION_LEVELS)
        channels = self.backbone.feature_info.channels()
        self.lateral = nn.ModuleList(nn.Conv2d(c, FPN_CHANNELS, 1) for c in channels)
        self.fuse = nn.Sequential(nn.Conv2d(FPN_CHANNELS, FPN_CHANNELS, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(FPN_CHANNELS), nn.ReLU(inplace=True))
        self.classifier = nn.Conv2d(FPN_CHANNELS, spec.num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone(images)
        x = self.lateral[-1](features[-1])
        for lateral, feature in zip(reversed(self.lateral[:-1]), reversed(features[:-1]), strict=True):
            x = lateral(feature) + F.interpolate(x, size=feature.shape[-2:], mode="nearest")
        logits = self.classifier(self.fuse(x))
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


def build_model(spec: ModelSpec) -> nn.Module:
    """The trainable model for ``spec.task``."""
    torch.manual_seed(0)
    if spec.task == "classification":
        return Classifier(spec)
    if spec.task == "detection":
        return build_detector(spec)
    return Segmenter(spec)


def encoder(model: nn.Module) -> nn.Module:
    """The (pretrained) timm part of a model: what is frozen in the first phase."""
    backbone = model.backbone
    return getattr(backbone, "body", backbone)


def set_encoder_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze (``False``: no gradients, BatchNorm statistics fixed) or unfreeze the encoder."""
    enc = encoder(model)
    for parameter in enc.parameters():
        parameter.requires_grad_(trainable)
    enc.train(trainable and model.training)


def parameter_groups(model: nn.Module, lr: float, backbone_lr: float) -> list[dict]:
    """Two optimizer groups: the encoder at ``backbone_lr``, everything new at ``lr``."""
    enc_ids = {id(p) for p in encoder(model).parameters()}
    enc = [p for p in model.parameters() if id(p) in enc_ids]
    new = [p for p in model.parameters() if id(p) not in enc_ids]
    return [{"params": new, "lr": lr, "name": "head"}, {"params": enc, "lr": backbone_lr, "name": "backbone"}]


class ClassifierExport(nn.Module):
    """images -> class probabilities (N, C)."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(images), dim=1)


class DetectorExport(nn.Module):
    """images -> the top-K candidates before NMS, padded to K: boxes (N, K, 4) xyxy in input pixels,
    scores (N, K) and labels (N, K). NMS runs afterwards, on the station (``inspector.inference.supervised``)."""

    def __init__(self, model: FCOS, image_size: int, top_k: int = TOP_K) -> None:
        super().__init__()
        model = model.eval()
        self.backbone, self.head, self.size = model.backbone, model.head, float(image_size)
        with torch.no_grad():
            dummy = torch.zeros(1, 3, image_size, image_size)
            features = list(self.backbone(dummy).values())
            anchors = model.anchor_generator(ImageList(dummy, [(image_size, image_size)]), features)[0]
        self.register_buffer("anchors", anchors, persistent=False)
        self.top_k = min(top_k, len(anchors) * model.head.classification_head.num_classes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.head(list(self.backbone(images).values()))
        scores = torch.sqrt(torch.sigmoid(out["cls_logits"]) * torch.sigmoid(out["bbox_ctrness"]))
        num_classes = scores.shape[-1]
        top, index = scores.flatten(1).topk(self.top_k, dim=1)
        anchor_index = torch.div(index, num_classes, rounding_mode="floor")
        labels = index - anchor_index * num_classes
        anchors = self.anchors[anchor_index]  # (N, K, 4)
        codes = torch.gather(out["bbox_regression"], 1, anchor_index.unsqueeze(-1).expand(-1, -1, 4))
        wh = (anchors[..., 2:] - anchors[..., :2]).repeat(1, 1, 2)
        centre = ((anchors[..., :2] + anchors[..., 2:]) * 0.5).repeat(1, 1, 2)
        sign = torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=codes.dtype, device=codes.device)
        boxes = (centre + sign * codes * wh).clamp(0.0, self.size)
        return boxes, top, labels


class SegmenterExport(nn.Module):
    """images -> (scores (N,): the largest defect probability, probs (N, C, H, W); class 0 is background)."""

    def __init__(self, model: Segmenter) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = torch.softmax(self.model(images), dim=1)
        defect = 1.0 - probs[:, 0]
        return defect.flatten(1).amax(dim=1), probs


def export_module(model: nn.Module, task: str, image_size: int) -> nn.Module:
    """The inference-only, fixed-output view of ``model`` that is exported to the bundle."""
    if task == "classification":
        return ClassifierExport(model).eval()
    if task == "detection":
        return DetectorExport(model, image_size).eval()
    return SegmenterExport(model).eval()


# Output names per task, in order, and which one the equivalence check compares as the score.
OUTPUTS = {
    "classification": ("probs",),
    "detection": ("boxes", "scores", "labels"),
    "segmentation": ("scores", "probs"),
}
SCORE_OUTPUT = {"classification": "probs", "detection": "scores", "segmentation": "scores"}
MAP_OUTPUT = {"classification": None, "detection": "boxes", "segmentation": "probs"}
