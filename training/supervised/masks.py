"""Segmentation data: the MVTec layout, where ``ground_truth/<type>/<stem>_mask.png`` paints class ``<type>``.

Pixel class 0 is ``background``; good images (train/good, test/good) are all background. A defect image needs its
mask, of the image's size.
"""

from __future__ import annotations

from pathlib import Path

from training.datasets.images import ImageReadError, read_mask
from training.datasets.model import GOOD, DatasetError, DatasetIssue
from training.supervised.data import (
    LabeledDataset,
    LabeledSample,
    decode_all,
    images_in,
    is_mvtec,
    resolve_root,
    subdirs,
)

BACKGROUND = "background"
SEGMENTATION_LAYOUT = ("MVTec layout: train/good/<image>, test/<good or defect type>/<image>, "
                       "ground_truth/<defect type>/<stem>_mask.png (non-zero = defect, same size as the image)")


def load_segmentation(root: Path, category: str | None = None) -> LabeledDataset:
    """Images with per-class masks; missing, unreadable or wrongly sized masks skip their image."""
    folder = resolve_root(root, category, SEGMENTATION_LAYOUT)
    if not is_mvtec(folder):
        raise DatasetError(f"{folder}: not an MVTec-layout folder; expected {SEGMENTATION_LAYOUT}")
    test = folder / "test"
    types = sorted(d.name for d in subdirs(test) if d.name != GOOD) if test.is_dir() else []
    issues: list[DatasetIssue] = []
    candidates = [LabeledSample(p, 0) for p in images_in(folder / "train" / GOOD) + images_in(test / GOOD)]
    for label, kind in enumerate(types, start=1):
        for image in images_in(test / kind):
            mask = folder / "ground_truth" / kind / f"{image.stem}_mask.png"
            if not mask.is_file():
                issues.append(DatasetIssue(image, f"no ground-truth mask (expected {mask}); skipped"))
                continue
            candidates.append(LabeledSample(image, label, masks=((mask, label),)))
    samples = []
    for sample in decode_all(candidates, issues):
        try:
            for mask_path, _ in sample.masks:
                read_mask(mask_path, sample.size)
        except ImageReadError as exc:
            issues.append(DatasetIssue(exc.path, f"{exc.reason}; sample {sample.path.name} skipped"))
            continue
        samples.append(sample)
    if not any(s.masks for s in samples):
        raise DatasetError(f"{folder}: no defect image with a usable mask; expected {SEGMENTATION_LAYOUT}"
                           + "".join(f"\n  - {i}" for i in issues[:5]))
    return LabeledDataset("segmentation", folder, "mvtec", (BACKGROUND, *types), samples, issues,
                          image_classes=(GOOD, *types))


def load_dataset(task: str, root: Path, category: str | None = None) -> LabeledDataset:
    """The loader for ``task``."""
    from training.supervised.coco import load_detection
    from training.supervised.data import load_classification

    loaders = {"classification": load_classification, "detection": load_detection,
               "segmentation": load_segmentation}
    if task not in loaders:
        raise ValueError(f"task {task!r} is not one of {', '.join(loaders)}")
    return loaders[task](root, category)
