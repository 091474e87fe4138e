"""Images, boxes and masks at model size in memory; v2 augmentations that move boxes and masks with the image."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, WeightedRandomSampler
from torchvision import tv_tensors
from torchvision.transforms import v2

from inspector.bundle.preprocess import Preprocessing
from training.datasets.images import read_image, read_mask
from training.supervised.data import LabeledSample

Progress = Callable[[int, int], None]


@dataclass
class Item:
    """One sample at model size: uint8 RGB image, boxes (K, 4) xyxy + labels (K,), class map (H, W)."""

    image: np.ndarray
    label: int
    boxes: np.ndarray
    box_labels: np.ndarray
    class_map: np.ndarray | None
    name: str


def load_item(sample: LabeledSample, pre: Preprocessing) -> Item:
    """Read and resize exactly as the station's pre-processing does; boxes and masks follow."""
    image = read_image(sample.path)
    height, width = image.shape[:2]
    resized = _resize(pre, image)
    sx, sy = pre.width / width, pre.height / height
    boxes = np.array([[b.x0 * sx, b.y0 * sy, b.x1 * sx, b.y1 * sy] for b in sample.boxes], np.float32).reshape(-1, 4)
    labels = np.array([b.label for b in sample.boxes], np.int64)
    class_map = None
    if sample.masks or sample.label == 0:
        class_map = np.zeros((pre.height, pre.width), np.int64)
        for mask_path, label in sample.masks:
            mask = read_mask(mask_path, (height, width)).astype(np.uint8)
            small = cv2.resize(mask, (pre.width, pre.height), interpolation=cv2.INTER_NEAREST)
            class_map[small > 0] = label
    return Item(resized, sample.label, boxes, labels, class_map, sample.path.name)


def _resize(pre: Preprocessing, image: np.ndarray) -> np.ndarray:
    if image.shape[:2] == (pre.height, pre.width):
        return image
    interpolation = cv2.INTER_AREA if pre.resize == "area" else cv2.INTER_LINEAR
    return cv2.resize(image, (pre.width, pre.height), interpolation=interpolation)


def load_items(samples: list[LabeledSample], pre: Preprocessing, progress: Progress | None = None) -> list[Item]:
    items = []
    for i, sample in enumerate(samples):
        items.append(load_item(sample, pre))
        if progress:
            progress(i + 1, len(samples))
    return items


def split(samples: list[LabeledSample], fractions: tuple[float, float] = (0.2, 0.2),
          seed: int = 0) -> tuple[list[int], list[int], list[int]]:
    """Stratified by image class: (train, validation, test) indices. Each class keeps at least one training
    image; validation and test get one of a class as soon as it has 3 images."""
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        by_class[sample.label].append(i)
    rng = random.Random(seed)
    train, val, test = [], [], []
    for label in sorted(by_class):
        members = by_class[label][:]
        rng.shuffle(members)
        n = len(members)
        n_val = max(1 if n >= 3 else 0, round(n * fractions[0]))
        n_test = max(1 if n >= 3 else 0, round(n * fractions[1]))
        val += members[:n_val]
        test += members[n_val:n_val + n_test]
        train += members[n_val + n_test:]
    return sorted(train), sorted(val), sorted(test)


def balanced_sampler(labels: list[int], seed: int = 0) -> WeightedRandomSampler:
    """Draw every image class equally often (weights 1 / class count), one epoch = ``len(labels)`` draws."""
    counts = Counter(labels)
    weights = torch.tensor([1.0 / counts[label] for label in labels], dtype=torch.double)
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights, num_samples=len(labels), replacement=True, generator=generator)


def pixel_class_weights(items: list[Item], num_classes: int) -> torch.Tensor:
    """Segmentation loss weights: inverse square root of pixel frequency, mean 1, capped at 50x background."""
    counts = np.ones(num_classes, np.float64)
    for item in items:
        if item.class_map is not None:
            counts += np.bincount(item.class_map.ravel(), minlength=num_classes)[:num_classes]
    weights = 1.0 / np.sqrt(counts / counts.sum())
    weights = np.minimum(weights, weights[0] * 50.0)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


def augmentations(task: str, pre: Preprocessing, train: bool) -> v2.Compose:
    """Geometric and photometric v2 transforms on tv_tensors (boxes and masks move with the image),
    then the bundle's normalisation."""
    ops: list = []
    if train:
        ops += [
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            v2.RandomApply([v2.RandomAffine(degrees=15, translate=(0.05, 0.05), scale=(0.9, 1.1))], p=0.5),
            v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.1),
        ]
        if task == "detection":
            ops.append(v2.SanitizeBoundingBoxes(min_size=2.0))
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(pre.mean), list(pre.std))]
    return v2.Compose(ops)


class TaskDataset(Dataset):
    """(normalised image tensor, target) pairs; target is the class index, a box dict or a class map."""

    def __init__(self, task: str, items: list[Item], transform: v2.Compose) -> None:
        self.task, self.items, self.transform = task, items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[index]
        image = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(item.image.transpose(2, 0, 1))))
        if self.task == "classification":
            return self.transform(image), item.label
        if self.task == "detection":
            size = item.image.shape[:2]
            target = {"boxes": tv_tensors.BoundingBoxes(torch.from_numpy(item.boxes), format="XYXY", canvas_size=size),
                      "labels": torch.from_numpy(item.box_labels)}
            image, target = self.transform(image, target)
            return image, {"boxes": target["boxes"].as_subclass(torch.Tensor).float(), "labels": target["labels"]}
        mask = tv_tensors.Mask(torch.from_numpy(item.class_map))
        image, mask = self.transform(image, mask)
        return image, mask.as_subclass(torch.Tensor).long()


def collate(task: str):
    """Batch images into one tensor; detection keeps a list of per-image target dicts."""

    def fn(batch):
        images = torch.stack([b[0].as_subclass(torch.Tensor) for b in batch])
        if task == "classification":
            return images, torch.tensor([b[1] for b in batch], dtype=torch.long)
        if task == "detection":
            return images, [b[1] for b in batch]
        return images, torch.stack([b[1] for b in batch])

    return fn
