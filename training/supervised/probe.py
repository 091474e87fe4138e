"""Few-shot classification: a linear probe on frozen, pooled multi-level features.

The encoder stays as ImageNet left it. Each image becomes the average and the maximum of every feature level
(stride 4 to 32), so a small defect still moves the pooled vector. A linear discriminant with Ledoit-Wolf
shrinkage (no strength to pick) is fitted on the eight flips and quarter turns of each training image and of
its variants (``TRAINING_VARIANTS``: turned by 22.5 and 45 degrees, shrunk to 85 %, borders reflected), scored
on the validation images, then fitted again on the training and validation images together (a few-shot set
cannot spare them; the test split stays held out). At inference the model pools the eight flips and turns of the
image and averages them (``views=1`` reads the image as it is, an eighth of the encoder work).
Standardisation and the discriminant fold into one ``nn.Linear``. Deterministic: the same images give the
same model. Chosen on benchmarks/fewshot.py over logistic regression and over fine-tuning at 20 images per
class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import timm
import torch
from torch import nn

from inspector.bundle.preprocess import Preprocessing
from training.backbones import backbone_spec, load_into
from training.supervised.metrics import classification_metrics
from training.supervised.models import ModelSpec
from training.supervised.tensors import Item
from training.supervised.train import FitResult

LEVELS = (1, 2, 3, 4)
ORIENTATIONS = 8  # the four quarter turns of an image and of its mirror image
VIEWS = (1, ORIENTATIONS)  # what the model averages: the image as it is, or all its orientations
FINE_TUNE_FROM = 50  # training images in the smallest class from which ``auto`` fine-tunes instead
HEADS = ("auto", "probe", "fine-tune")
BATCH = 32
# Each training image is also read turned by these degrees about its centre and scaled by this factor, borders
# reflected, before its eight orientations: more views of the same labels for the discriminant (the model at
# inference is unchanged). The turns keep the scale and cut the corners (a sixth of the image at 45 degrees):
# shrinking turned images until the corners fit lost 0.05 macro F1 on one draw of the fur benchmark.
TRAINING_VARIANTS = ((22.5, 1.0), (45.0, 1.0), (0.0, 0.85))


class ProbeClassifier(nn.Module):
    """images -> logits: frozen timm feature pyramid, mean and max pooled per level (averaged over ``views``
    orientations of square images), one linear layer."""

    def __init__(self, spec: ModelSpec, views: int = ORIENTATIONS) -> None:
        super().__init__()
        self.views = check_views(views)
        self.backbone = timm.create_model(backbone_spec(spec.backbone).timm_name, pretrained=False,
                                          features_only=True, out_indices=LEVELS)
        if spec.pretrained:
            load_into(self.backbone, spec.backbone)
        width = 2 * sum(self.backbone.feature_info.channels())
        self.head = nn.Linear(width, spec.num_classes)

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        levels = self.backbone(images)
        return torch.cat([torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1) for f in levels], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.views == 1:
            return self.head(self.pooled(images))
        stacked = self.pooled(torch.cat(_views(images))).unflatten(0, (self.views, -1))
        return self.head(stacked.mean(dim=0))


def check_views(views: int) -> int:
    if views not in VIEWS:
        raise ValueError(f"--probe-views {views} is not one of {', '.join(map(str, VIEWS))}")
    return views


def resolve_head(head: str, counts: dict[str, int], pretrained: bool = True) -> str:
    """``probe`` or ``fine-tune``; ``auto`` fine-tunes only once every class has ``FINE_TUNE_FROM`` images
    (or when the encoder is random: a probe on random features means nothing)."""
    if head not in HEADS:
        raise ValueError(f"--head {head!r} is not one of {', '.join(HEADS)}")
    if head != "auto":
        return head
    enough = bool(counts) and min(counts.values()) >= FINE_TUNE_FROM
    return "fine-tune" if enough or not pretrained else "probe"


def _views(images: torch.Tensor) -> list[torch.Tensor]:
    """The eight flips and quarter turns of a square batch."""
    turns = [torch.rot90(images, k, dims=(2, 3)) for k in range(4)]
    return turns + [t.flip(3) for t in turns]


def variants(image: np.ndarray) -> list[np.ndarray]:
    """The image and its ``TRAINING_VARIANTS``."""
    height, width = image.shape[:2]
    turned = [cv2.warpAffine(image, cv2.getRotationMatrix2D((width / 2, height / 2), degrees, scale), (width, height),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
              for degrees, scale in TRAINING_VARIANTS]
    return [image, *turned]


@torch.no_grad()
def pooled_features(model: ProbeClassifier, items: Sequence[Item], pre: Preprocessing, device: torch.device,
                    progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(len(items), 1 + len(TRAINING_VARIANTS), ORIENTATIONS, width) pooled features of every image and variant
    in each orientation."""
    model.eval()
    out, step = [], max(1, BATCH // (1 + len(TRAINING_VARIANTS)))
    for start in range(0, len(items), step):
        images = [v for item in items[start:start + step] for v in variants(item.image)]
        batch = torch.from_numpy(pre.batch(images)).to(device)
        out.append(torch.stack([model.pooled(v) for v in _views(batch)], dim=1).float().cpu())
        if progress:
            progress(min(start + step, len(items)), len(items))
    width = model.head.in_features
    features = torch.cat(out).numpy() if out else np.zeros((0, ORIENTATIONS, width), np.float32)
    return features.reshape(len(items), 1 + len(TRAINING_VARIANTS), ORIENTATIONS, width)


def _discriminant(features: np.ndarray, labels: np.ndarray):
    """(fitted discriminant on standardised features, mean, std, its training log loss)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import log_loss

    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    standard = (features - mean) / std
    classes = np.unique(labels)
    fitted = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto",
                                        priors=np.full(len(classes), 1 / len(classes))).fit(standard, labels)
    return fitted, mean, std, log_loss(labels, fitted.predict_proba(standard), labels=fitted.classes_)


def fit_probe(model: ProbeClassifier, train: Sequence[Item], val: Sequence[Item], class_names: Sequence[str],
              pre: Preprocessing, device: torch.device,
              on_step: Callable[[int, int], None] | None = None) -> FitResult:
    """Fit the head in place; the history has one row for the discriminant on the training images (scored on
    validation as the model reads it) and one for the refit on training and validation images."""
    if len({item.label for item in train}) < 2:
        raise ValueError("a classifier needs training images of at least two classes")
    started = time.perf_counter()
    features = pooled_features(model, train, pre, device, progress=on_step)
    val_features = features if val is train else pooled_features(model, val, pre, device)
    originals = val_features[:, 0]  # (images, orientations, width): each image as it is
    read = originals.mean(axis=1) if model.views > 1 else originals[:, 0]  # as the model reads each image
    fitted, mean, std, loss = _discriminant(*_samples(features, train))
    score = classification_metrics([i.label for i in val], fitted.predict((read - mean) / std).tolist(),
                                   class_names)["macro_f1"]
    result = FitResult(best_score=score, best_epoch=0)
    result.history.append({"epoch": 1, "phase": f"probe LDA on {len(train)} images", "loss": loss,
                           "macro_f1": score, "lr_head": 0.0, "lr_backbone": 0.0})
    if val is not train and {i.label for i in val} <= {i.label for i in train}:
        everything = [*train, *val]
        fitted, mean, std, loss = _discriminant(*_samples(np.concatenate([features, val_features]), everything))
        result.history.append({"epoch": 2, "phase": f"refit LDA on {len(everything)} images", "loss": loss,
                               "macro_f1": score, "lr_head": 0.0, "lr_backbone": 0.0})
    _load_head(model, fitted, mean, std, len(class_names))
    result.seconds = time.perf_counter() - started
    return result


def _samples(features: np.ndarray, items: Sequence[Item]) -> tuple[np.ndarray, np.ndarray]:
    """One row per image, variant and orientation, with its image's label."""
    per_image = features.shape[1] * features.shape[2]
    return features.reshape(-1, features.shape[-1]), np.repeat([item.label for item in items], per_image)


def _load_head(model: ProbeClassifier, linear, mean: np.ndarray, std: np.ndarray, num_classes: int) -> None:
    """Fold standardisation into the linear layer: W' = W / std, b' = b - W' . mean."""
    coef = np.zeros((num_classes, len(mean)), np.float64)
    intercept = np.full(num_classes, -1e4)  # a class with no training image is never predicted
    classes = linear.classes_
    if len(classes) == 2 and num_classes >= 2 and linear.coef_.shape[0] == 1:
        coef[classes[1]], intercept[classes[1]] = linear.coef_[0], linear.intercept_[0]
        coef[classes[0]], intercept[classes[0]] = 0.0, 0.0
    else:
        coef[classes], intercept[classes] = linear.coef_, linear.intercept_
    weight = coef / std
    bias = intercept - weight @ mean
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(weight).float())
        model.head.bias.copy_(torch.from_numpy(bias).float())
