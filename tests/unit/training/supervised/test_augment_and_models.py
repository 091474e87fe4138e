"""Augmentations keep boxes and masks on the defect; split, sampler; model export views and freezing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.bundle.preprocess import Preprocessing
from inspector.inference.supervised import postprocess_detections
from training.supervised.data import LabeledSample
from training.supervised.models import (
    DetectorExport,
    ModelSpec,
    build_model,
    encoder,
    parameter_groups,
    set_encoder_trainable,
)
from training.supervised.tensors import Item, TaskDataset, augmentations, balanced_sampler, split
from training.supervised.train import FitOptions, learning_rates

PRE = Preprocessing(64, 64)


def _item() -> Item:
    image = np.full((64, 64, 3), 40, np.uint8)
    image[10:20, 30:50] = 250  # the defect
    class_map = np.zeros((64, 64), np.int64)
    class_map[10:20, 30:50] = 2
    return Item(image, 1, np.array([[30, 10, 50, 20]], np.float32), np.array([1]), class_map, "x.png")


@pytest.mark.parametrize("seed", range(6))
def test_training_augmentations_move_boxes_and_masks_with_the_image(seed: int) -> None:
    torch.manual_seed(seed)
    image, target = TaskDataset("detection", [_item()], augmentations("detection", PRE, train=True))[0]
    bright = image.mean(dim=0) > image.mean()  # the defect stays the brightest area despite colour jitter
    ys, xs = torch.nonzero(bright, as_tuple=True)
    (x0, y0, x1, y1) = target["boxes"][0].tolist()
    assert target["labels"].tolist() == [1]
    assert abs(xs.min() - x0) <= 2 and abs(xs.max() + 1 - x1) <= 2 and abs(ys.min() - y0) <= 2
    assert abs(ys.max() + 1 - y1) <= 2

    torch.manual_seed(seed)
    image, mask = TaskDataset("segmentation", [_item()], augmentations("segmentation", PRE, train=True))[0]
    bright = image.mean(dim=0) > image.mean()
    assert mask.dtype == torch.long and set(mask.unique().tolist()) <= {0, 2}
    assert (bright == (mask == 2)).float().mean() > 0.98


def test_evaluation_transform_is_the_station_preprocessing() -> None:
    item = _item()
    image, label = TaskDataset("classification", [item], augmentations("classification", PRE, train=False))[0]
    assert label == 1
    np.testing.assert_allclose(image.numpy(), PRE(item.image), atol=1e-6)


def test_split_is_stratified_and_sampler_balances_classes() -> None:
    samples = [LabeledSample(Path(f"{i}.png"), 0) for i in range(40)] + [LabeledSample(Path(f"d{i}.png"), 1)
                                                                         for i in range(10)]
    train, val, test = split(samples)
    assert not set(train) & set(val) and not set(val) & set(test) and len(train + val + test) == 50
    assert Counter(samples[i].label for i in val) == {0: 8, 1: 2}
    labels = [samples[i].label for i in train] * 20
    drawn = Counter(labels[i] for i in balanced_sampler(labels))
    assert 0.4 < drawn[1] / sum(drawn.values()) < 0.6


def test_freeze_then_unfreeze_with_two_learning_rates() -> None:
    model = build_model(ModelSpec("classification", num_classes=3, image_size=64))
    model.train()
    set_encoder_trainable(model, False)
    assert not any(p.requires_grad for p in encoder(model).parameters()) and not encoder(model).training
    assert all(p.requires_grad for p in model.head.parameters())
    set_encoder_trainable(model, True)
    assert all(p.requires_grad for p in model.parameters()) and encoder(model).training
    groups = {g["name"]: g for g in parameter_groups(model, 1e-3, 1e-4)}
    assert len(groups["backbone"]["params"]) == len(list(encoder(model).parameters()))
    options = FitOptions(epochs=8, lr=1e-3, backbone_lr_factor=0.1)
    assert options.frozen_epochs(True) == 2 and options.frozen_epochs(False) == 0
    assert learning_rates(options, 0, 2, True) == (1e-3, 0.0)
    head, backbone = learning_rates(options, 2, 2, True)
    assert head == pytest.approx(1e-3) and backbone == pytest.approx(1e-4)
    assert learning_rates(options, 7, 2, True)[0] < 2e-4


def test_detector_export_decodes_like_torchvision_fcos() -> None:
    model = build_model(ModelSpec("detection", num_classes=3, image_size=64, pretrained=False)).eval()
    images = torch.randn(2, 3, 64, 64)
    view = DetectorExport(model, 64)
    with torch.no_grad():
        reference = model(list(images))
        boxes, scores, labels = view(images)
        out = model.head(list(model.backbone(images).values()))
    assert boxes.shape == (2, 100, 4) and scores.shape == (2, 100) and labels.dtype == torch.int64
    for i in range(2):
        # the padded top-K are torchvision's own candidates: sqrt(sigmoid(cls) * sigmoid(ctr)), its box decoding
        all_scores = torch.sqrt(torch.sigmoid(out["cls_logits"][i]) * torch.sigmoid(out["bbox_ctrness"][i]))
        top, index = all_scores.flatten().topk(100)
        decoded = model.box_coder.decode(out["bbox_regression"][i][index // 3], view.anchors[index // 3])
        np.testing.assert_allclose(scores[i].numpy(), top.numpy(), rtol=1e-6)
        np.testing.assert_allclose(boxes[i].numpy(), decoded.clamp(0, 64).numpy(), atol=1e-4)
        assert labels[i].tolist() == (index % 3).tolist()
        # and the station's NMS keeps torchvision's best detection
        b, s, k = postprocess_detections(boxes[i].numpy(), scores[i].numpy(), labels[i].numpy(),
                                         model.score_thresh, model.nms_thresh)
        np.testing.assert_allclose(s[0], reference[i]["scores"][0].numpy(), rtol=1e-5)
        np.testing.assert_allclose(b[0], reference[i]["boxes"][0].numpy(), atol=1e-3)
        assert k[0] == int(reference[i]["labels"][0])
