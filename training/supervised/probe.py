"""Few-shot classification: a linear probe on frozen, pooled multi-level features.

The encoder stays as ImageNet left it. Each image becomes the average and the maximum of every feature level
(stride 4 to 32), so a small defect still moves the pooled vector. A multinomial logistic regression is
fitted on the eight flips and quarter turns of each training image, its strength picked on the validation
images, then fitted again at that strength on the training and validation images together (a few-shot set
cannot spare them; the test split stays held out). Standardisation and the regression fold into one
``nn.Linear``. Deterministic: the same images give the same model. Chosen on benchmarks/fewshot.py over
fine-tuning at 20 images per class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

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
STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0)  # inverse regularisation C of the logistic regression
FINE_TUNE_FROM = 50  # training images in the smallest class from which ``auto`` fine-tunes instead
HEADS = ("auto", "probe", "fine-tune")
BATCH = 32


class ProbeClassifier(nn.Module):
    """images -> logits: frozen timm feature pyramid, mean and max pooled per level, one linear layer."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
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
        return self.head(self.pooled(images))


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


@torch.no_grad()
def pooled_features(model: ProbeClassifier, items: Sequence[Item], pre: Preprocessing, device: torch.device,
                    augment: bool, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(len(items) x views, width) pooled features; with ``augment`` every image in its eight orientations."""
    model.eval()
    out = []
    for start in range(0, len(items), BATCH):
        batch = torch.from_numpy(pre.batch([i.image for i in items[start:start + BATCH]])).to(device)
        views = _views(batch) if augment else [batch]
        out.append(torch.stack([model.pooled(v) for v in views], dim=1).float().cpu())
        if progress:
            progress(min(start + BATCH, len(items)), len(items))
    return torch.cat(out).flatten(0, 1).numpy() if out else np.zeros((0, model.head.in_features), np.float32)


def fit_probe(model: ProbeClassifier, train: Sequence[Item], val: Sequence[Item], class_names: Sequence[str],
              pre: Preprocessing, device: torch.device,
              on_step: Callable[[int, int], None] | None = None) -> FitResult:
    """Fit the head in place; the history has one row per regularisation strength tried, and one for the refit
    on training and validation images (its score is the chosen strength's on validation, before the refit)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    if len({item.label for item in train}) < 2:
        raise ValueError("a classifier needs training images of at least two classes")
    started = time.perf_counter()
    features = pooled_features(model, train, pre, device, augment=True, progress=on_step)
    labels = np.repeat([item.label for item in train], len(features) // max(1, len(train)))
    refit = bool(val) and val is not train and {i.label for i in val} <= {i.label for i in train}
    # the refit needs the validation images in all eight views; the first view is the image as it is
    val_views = pooled_features(model, val, pre, device, augment=refit)
    val_features = val_views[::len(val_views) // len(val)] if refit else val_views
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    standard, val_standard = (features - mean) / std, (val_features - mean) / std
    result, best = FitResult(), None
    for epoch, strength in enumerate(STRENGTHS):
        regression = LogisticRegression(C=strength, max_iter=3000, class_weight="balanced")
        regression.fit(standard, labels)
        predicted = regression.predict(val_standard).tolist()
        score = classification_metrics([i.label for i in val], predicted, class_names)["macro_f1"]
        loss = log_loss(labels, regression.predict_proba(standard), labels=regression.classes_)
        result.history.append({"epoch": epoch + 1, "phase": f"probe C={strength:g}", "loss": loss,
                               "macro_f1": score, "lr_head": 0.0, "lr_backbone": 0.0})
        if score > result.best_score + 1e-4:
            result.best_score, result.best_epoch, best = score, epoch, regression
    if refit:
        everything = [*train, *val]
        features = np.concatenate([features, val_views])
        labels = np.repeat([item.label for item in everything], len(features) // len(everything))
        mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
        standard = (features - mean) / std
        best = LogisticRegression(C=best.C, max_iter=3000, class_weight="balanced").fit(standard, labels)
        result.history.append({"epoch": len(STRENGTHS) + 1, "phase": f"refit C={best.C:g} on {len(everything)} images",
                               "loss": log_loss(labels, best.predict_proba(standard), labels=best.classes_),
                               "macro_f1": result.best_score, "lr_head": 0.0, "lr_backbone": 0.0})
    _load_head(model, best, mean, std, len(class_names))
    result.seconds = time.perf_counter() - started
    return result


def _load_head(model: ProbeClassifier, regression, mean: np.ndarray, std: np.ndarray, num_classes: int) -> None:
    """Fold standardisation into the linear layer: W' = W / std, b' = b - W' . mean."""
    coef = np.zeros((num_classes, len(mean)), np.float64)
    intercept = np.full(num_classes, -1e4)  # a class with no training image is never predicted
    classes = regression.classes_
    if len(classes) == 2 and num_classes >= 2 and regression.coef_.shape[0] == 1:
        coef[classes[1]], intercept[classes[1]] = regression.coef_[0], regression.intercept_[0]
        coef[classes[0]], intercept[classes[0]] = 0.0, 0.0
    else:
        coef[classes], intercept[classes] = regression.coef_, regression.intercept_
    weight = coef / std
    bias = intercept - weight @ mean
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(weight).float())
        model.head.bias.copy_(torch.from_numpy(bias).float())
