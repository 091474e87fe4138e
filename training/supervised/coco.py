"""Detection data: COCO JSON boxes (``ROOT/images/*.png`` + ``ROOT/annotations.json``), validated per annotation.

An MVTec-layout folder is read too: one box per connected component of each ground-truth mask, the class
being the defect folder. Images without boxes are kept as negatives.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from training.datasets.images import ImageReadError, read_mask
from training.datasets.model import GOOD, DatasetError, DatasetIssue
from training.supervised.data import (
    Box,
    LabeledDataset,
    LabeledSample,
    decode_all,
    images_in,
    is_mvtec,
    resolve_root,
    subdirs,
)

ANNOTATIONS = "annotations.json"
COCO_LAYOUT = (f"COCO layout: ROOT/images/<image> and ROOT/{ANNOTATIONS} with 'images', 'annotations' "
               "(bbox [x, y, width, height] in pixels) and 'categories'; or an MVTec layout with masks")
EDGE_TOLERANCE = 1.0  # pixels a box may stick out (rounding); it is clipped
MIN_COMPONENT_FRACTION = 1 / 4000  # mask components smaller than this share of the image are not boxes


def _is_coco(folder: Path) -> bool:
    return (folder / ANNOTATIONS).is_file()


def boxes_from_mask(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, width, height) of the 8-connected components of ``mask != 0`` that are not specks."""
    binary = (np.asarray(mask) != 0).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    smallest = max(1.0, binary.size * MIN_COMPONENT_FRACTION)
    return [tuple(int(v) for v in stats[i][:4]) for i in range(1, count) if stats[i][4] >= smallest]


def _read_json(path: Path) -> dict:
    text = path.read_text(encoding="utf-8") if path.stat().st_size else ""
    if not text.strip():
        raise DatasetError(f"{path}: empty annotation file; expected a COCO JSON object with 'images', "
                           "'annotations' and 'categories'")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: missing list {key!r}; expected {COCO_LAYOUT}")
    if not data["images"]:
        raise DatasetError(f"{path}: 'images' is empty; no images to train on")
    if not data["categories"]:
        raise DatasetError(f"{path}: 'categories' is empty; a detector needs at least one class")
    return data


def _box_problem(bbox: object, width: int, height: int) -> str | None:
    """Why ``bbox`` ([x, y, w, h]) is unusable in a ``width`` x ``height`` image, or None."""
    if not (isinstance(bbox, list | tuple) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        return f"bbox {bbox!r} is not [x, y, width, height] numbers"
    x, y, w, h = (float(v) for v in bbox)
    if not np.all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        return f"bbox {list(bbox)} has no area (width and height must be > 0)"
    if x < -EDGE_TOLERANCE or y < -EDGE_TOLERANCE or x + w > width + EDGE_TOLERANCE or y + h > height + EDGE_TOLERANCE:
        return (f"bbox {list(bbox)} lies outside the {width}x{height} image "
                f"(x {x:g}..{x + w:g}, y {y:g}..{y + h:g})")
    return None


def _coco(folder: Path) -> LabeledDataset:
    path = folder / ANNOTATIONS
    data = _read_json(path)
    categories = sorted(data["categories"], key=lambda c: c.get("id", 0) if isinstance(c, dict) else 0)
    names = [str(c.get("name", c.get("id"))) for c in categories if isinstance(c, dict)]
    index = {c["id"]: i for i, c in enumerate(c for c in categories if isinstance(c, dict)) if "id" in c}
    issues: list[DatasetIssue] = []
    images: dict[object, dict] = {}
    for entry in data["images"]:
        if not isinstance(entry, dict) or "id" not in entry or "file_name" not in entry:
            issues.append(DatasetIssue(path, f"image entry {entry!r} needs 'id' and 'file_name'; skipped"))
            continue
        images[entry["id"]] = entry
    samples = decode_all([LabeledSample(_image_path(folder, e["file_name"]), 0) for e in images.values()], issues)
    by_path = {s.path: s for s in samples}
    boxes: dict[object, list[Box]] = defaultdict(list)
    broken: set[object] = set()
    for ann in data["annotations"]:
        ann_id = ann.get("id") if isinstance(ann, dict) else None
        where = f"annotation id {ann_id}"
        image = images.get(ann.get("image_id")) if isinstance(ann, dict) else None
        if image is None:
            value = ann.get("image_id") if isinstance(ann, dict) else ann
            issues.append(DatasetIssue(path, f"{where}: image_id {value!r} is not in 'images'; skipped"))
            continue
        sample = by_path.get(_image_path(folder, image["file_name"]))
        if sample is None:
            continue  # the image itself was reported
        label = index.get(ann.get("category_id"))
        height, width = sample.size
        if label is None:
            known = ", ".join(f"{c['id']} {c.get('name', '')}".strip() for c in categories if "id" in c)
            problem = f"unknown class: category_id {ann.get('category_id')!r} (known: {known})"
        else:
            problem = _box_problem(ann.get("bbox"), width, height)
        if problem is not None:
            issues.append(DatasetIssue(sample.path, f"{path.name} {where}: {problem}; image skipped"))
            broken.add(image["id"])
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        boxes[image["id"]].append(Box(max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h),
                                      label, ann_id))
    kept = []
    for image_id, entry in images.items():
        sample = by_path.get(_image_path(folder, entry["file_name"]))
        if sample is None or image_id in broken:
            continue
        own = tuple(boxes.get(image_id, ()))
        kept.append(LabeledSample(sample.path, own[0].label + 1 if own else 0, own, (), sample.size))
    return _finish(folder, "coco", names, kept, issues)


def _image_path(folder: Path, file_name: str) -> Path:
    direct = folder / "images" / file_name
    return direct if direct.exists() or not (folder / file_name).exists() else folder / file_name


def _mvtec(folder: Path) -> LabeledDataset:
    test = folder / "test"
    types = sorted(d.name for d in subdirs(test) if d.name != GOOD) if test.is_dir() else []
    issues: list[DatasetIssue] = []
    candidates = [LabeledSample(p, 0) for p in images_in(folder / "train" / GOOD) + images_in(test / GOOD)]
    for label, kind in enumerate(types):
        for image in images_in(test / kind):
            mask = folder / "ground_truth" / kind / f"{image.stem}_mask.png"
            if not mask.is_file():
                issues.append(DatasetIssue(image, f"no ground-truth mask (expected {mask}); skipped"))
                continue
            candidates.append(LabeledSample(image, label + 1, masks=((mask, label),)))
    kept = []
    for sample in decode_all(candidates, issues):
        boxes = []
        for mask_path, label in sample.masks:
            try:
                mask = read_mask(mask_path, sample.size)
            except ImageReadError as exc:
                issues.append(DatasetIssue(mask_path, f"{exc.reason}; sample {sample.path.name} skipped"))
                break
            boxes += [Box(x, y, x + w, y + h, label, f"{mask_path.name}#{i}")
                      for i, (x, y, w, h) in enumerate(boxes_from_mask(mask))]
        else:
            kept.append(LabeledSample(sample.path, sample.label, tuple(boxes), (), sample.size))
    return _finish(folder, "mvtec", types, kept, issues)


def _finish(folder: Path, layout: str, names: list[str], samples: list[LabeledSample],
            issues: list[DatasetIssue]) -> LabeledDataset:
    if not any(s.boxes for s in samples):
        raise DatasetError(f"{folder}: no usable boxes in {len(samples)} image(s); expected {COCO_LAYOUT}"
                           + "".join(f"\n  - {i}" for i in issues[:5]))
    return LabeledDataset("detection", folder, layout, tuple(names), samples, issues,
                          image_classes=(GOOD, *names))


def load_detection(root: Path, category: str | None = None) -> LabeledDataset:
    """COCO boxes, or boxes from the masks of an MVTec-layout folder."""
    folder = resolve_root(root, category, COCO_LAYOUT, marker=lambda d: _is_coco(d) or is_mvtec(d))
    if _is_coco(folder):
        return _coco(folder)
    if is_mvtec(folder):
        return _mvtec(folder)
    if (folder / "images").is_dir():
        raise DatasetError(f"{folder / ANNOTATIONS}: missing; expected {COCO_LAYOUT}")
    raise DatasetError(f"{folder}: no detection dataset found; expected {COCO_LAYOUT}")
