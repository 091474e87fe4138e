"""Labeled datasets for supervised training: records, the class-folder format and the MVTec classification view.

Formats:

* classification: ``ROOT/<class>/<image>`` (an optional ``ROOT/classes.txt`` lists the allowed classes), or an
  MVTec-layout folder read as classes ``good`` (train/good and test/good) plus every ``test/<type>``;
* detection: ``ROOT/images/<image>`` + ``ROOT/annotations.json`` (COCO boxes), see :mod:`.coco`;
* segmentation: the MVTec layout with ``ground_truth/<type>/<stem>_mask.png``, see :mod:`.masks`.

Fatal problems raise :class:`DatasetError`; a broken item is skipped and listed in ``issues``.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from training.datasets.images import ImageReadError, is_image_file, read_image
from training.datasets.model import GOOD, DatasetError, DatasetIssue, format_issues

CLASS_FOLDERS = "class folders: ROOT/<class>/<image> (optional ROOT/classes.txt, one class per line)"
MVTEC_VIEW = "MVTec layout: train/good/<image>, test/<good or defect type>/<image>"


@dataclass(frozen=True)
class Box:
    """One labeled box in image pixels (x0, y0, x1, y1), its class index and its annotation id."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: int
    annotation_id: int | str | None = None


@dataclass(frozen=True)
class LabeledSample:
    """One image: its image-level class index, boxes (detection) and class masks (segmentation)."""

    path: Path
    label: int
    boxes: tuple[Box, ...] = ()
    masks: tuple[tuple[Path, int], ...] = ()  # (mask file, class index), any non-zero pixel is that class
    size: tuple[int, int] | None = None  # (height, width) as decoded


@dataclass
class LabeledDataset:
    """A validated dataset for one task; ``class_names`` index the labels of boxes, masks and images."""

    task: str
    root: Path
    layout: str
    class_names: tuple[str, ...]
    samples: list[LabeledSample]
    issues: list[DatasetIssue] = field(default_factory=list)
    image_classes: tuple[str, ...] = ()  # names of ``LabeledSample.label`` (defaults to ``class_names``)

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.image_classes or self.class_names

    def counts(self) -> Counter:
        """Images per image-level class name."""
        return Counter(self.label_names[s.label] for s in self.samples)

    def fingerprint(self) -> str:
        """SHA-256 over relative path and content of every used image and mask, and the class names."""
        digest = hashlib.sha256(f"task={self.task}\nclasses={','.join(self.class_names)}\n".encode())
        for sample in self.samples:
            for path in (sample.path, *(m for m, _ in sample.masks)):
                with path.open("rb") as handle:
                    content = hashlib.file_digest(handle, "sha256").hexdigest()
                digest.update(f"{_relative(path, self.root)}\t{content}\n".encode())
        for extra in ("annotations.json", "classes.txt"):
            if (self.root / extra).is_file():
                digest.update((self.root / extra).read_bytes())
        return digest.hexdigest()

    def summary(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in sorted(self.counts().items()))
        boxes = sum(len(s.boxes) for s in self.samples)
        text = f"{self.task} dataset {self.root} ({self.layout}): {len(self.samples)} images ({counts})"
        text += f", {boxes} boxes" if self.task == "detection" else ""
        text += f"; classes {', '.join(self.class_names)}."
        if self.issues:
            text += f" {len(self.issues)} item(s) skipped:\n{format_issues(self.issues)}"
        return text


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()


def subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p)) if folder.is_dir() else []


def is_mvtec(folder: Path) -> bool:
    return (folder / "train").is_dir() or (folder / "test").is_dir()


def resolve_root(root: Path, category: str | None, expected: str, marker=is_mvtec) -> Path:
    """``root/category`` when given; else ``root``, or its single sub-folder that looks like a dataset."""
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetError(f"{root}: dataset root {what}; expected {expected}")
    if category is not None:
        folder = root / category
        if not folder.is_dir():
            known = ", ".join(d.name for d in subdirs(root) if marker(d)) or "none found"
            raise DatasetError(f"{folder}: category '{category}' does not exist; available: {known}")
        return folder
    if marker(root):
        return root
    candidates = [d for d in subdirs(root) if marker(d)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise DatasetError(f"{root}: holds several categories ({', '.join(d.name for d in candidates)}); "
                           "pass --category to choose one")
    return root


def decode_all(samples: list[LabeledSample], issues: list[DatasetIssue]) -> list[LabeledSample]:
    """Decode every image once (threads, order kept); unreadable ones are skipped into ``issues``."""

    def check(sample: LabeledSample) -> tuple[LabeledSample | None, DatasetIssue | None]:
        try:
            image = read_image(sample.path)
        except ImageReadError as exc:
            return None, DatasetIssue(sample.path, f"unreadable or corrupt image ({exc.reason}); skipped")
        return LabeledSample(sample.path, sample.label, sample.boxes, sample.masks, image.shape[:2]), None

    workers = max(1, min(8, os.cpu_count() or 1, len(samples)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(check, samples))
    issues.extend(issue for _, issue in results if issue is not None)
    return [sample for sample, _ in results if sample is not None]


def _allowed_classes(folder: Path) -> list[str] | None:
    path = folder / "classes.txt"
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise DatasetError(f"{path}: empty class list; write one class name per line")
    duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
    if duplicates:
        raise DatasetError(f"{path}: class {duplicates[0]!r} is listed twice")
    return names


def _mvtec_classification(folder: Path) -> tuple[list[str], list[tuple[Path, str]]]:
    items = [(p, GOOD) for p in images_in(folder / "train" / GOOD)]
    test = folder / "test"
    types = [d.name for d in subdirs(test)] if test.is_dir() else []
    for kind in types:
        items += [(p, kind) for p in images_in(test / kind)]
    return [GOOD, *sorted(t for t in types if t != GOOD)], items


def load_classification(root: Path, category: str | None = None, min_classes: int = 2) -> LabeledDataset:
    """Class folders, or the classification view of an MVTec-layout folder (classes: good + test types)."""
    folder = resolve_root(root, category, f"{CLASS_FOLDERS}, or {MVTEC_VIEW}")
    issues: list[DatasetIssue] = []
    if is_mvtec(folder):
        layout, expected = "mvtec", MVTEC_VIEW
        names, items = _mvtec_classification(folder)
    else:
        layout, expected = "class-folders", CLASS_FOLDERS
        allowed = _allowed_classes(folder)
        found = [d.name for d in subdirs(folder) if images_in(d)]
        names = allowed if allowed is not None else found
        for unknown in (n for n in found if n not in names):
            issues.append(DatasetIssue(folder / unknown, f"unknown class {unknown!r} (not in classes.txt: "
                                                         f"{', '.join(names)}); its images are skipped"))
        items = [(p, n) for n in names for p in images_in(folder / n)]
    for path in sorted({p.parent for p in folder.iterdir() if is_image_file(p)}):
        issues.append(DatasetIssue(path, f"images directly in {path} are ignored; expected {expected}"))
    index = {n: i for i, n in enumerate(names)}
    samples = decode_all([LabeledSample(p, index[n]) for p, n in items], issues)
    present = sorted({names[s.label] for s in samples})
    if len(present) < min_classes:
        raise DatasetError(f"{folder}: {len(present)} class(es) with usable images ({', '.join(present) or 'none'}); "
                           f"a classifier needs at least {min_classes}; expected {expected}"
                           + (f"\n{format_issues(issues)}" if issues else ""))
    return LabeledDataset("classification", folder, layout, tuple(names), samples, issues)
