"""Supervised labels for a synthetic product folder (written by :mod:`training.synth`).

From ``<product>/labels.json`` and the MVTec ground truth it writes::

    <product>/classification/<class>/<split>_<stem>.png   class folders (good = train/good + test/good)
    <product>/detection/images/<class>_<split>_<stem>.png  every image, good ones as negatives
    <product>/detection/annotations.json                   COCO: one box per mask component, class = defect

Segmentation needs nothing more: the MVTec ``ground_truth`` masks are its labels. Image files are hard links to
the MVTec images where the file system allows it, copies otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2

from training.supervised.coco import ANNOTATIONS, boxes_from_mask

CLASSIFICATION_DIR = "classification"
DETECTION_DIR = "detection"


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_supervised_labels(product_dir: Path) -> dict:
    """Write the class folders and the COCO detection set of one product; returns counts."""
    product_dir = Path(product_dir)
    document = json.loads((product_dir / "labels.json").read_text(encoding="utf-8"))
    defects = [c for c in document["classes"] if c != "good"]
    category = {name: k + 1 for k, name in enumerate(defects)}
    entries = [{"image": p.relative_to(product_dir).as_posix(), "label": "good", "mask": None}
               for p in sorted((product_dir / "train" / "good").glob("*.png"))] + list(document["test"])
    for folder in (CLASSIFICATION_DIR, DETECTION_DIR):
        shutil.rmtree(product_dir / folder, ignore_errors=True)
    images, annotations = [], []
    for image_id, entry in enumerate(entries, start=1):
        source = product_dir / entry["image"]
        split, label, stem = source.parts[-3], entry["label"], source.stem
        _link(source, product_dir / CLASSIFICATION_DIR / label / f"{split}_{stem}.png")
        file_name = f"{label}_{split}_{stem}.png"
        _link(source, product_dir / DETECTION_DIR / "images" / file_name)
        height, width = cv2.imread(str(source), cv2.IMREAD_UNCHANGED).shape[:2]
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        if entry["mask"] is None:
            continue
        mask = cv2.imread(str(product_dir / entry["mask"]), cv2.IMREAD_GRAYSCALE)
        for x, y, w, h in boxes_from_mask(mask):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category[label],
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    coco = {
        "info": {"description": f"synthetic {document.get('product', product_dir.name)}, boxes from mask components"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k, "name": name} for name, k in category.items()],
    }
    (product_dir / DETECTION_DIR / ANNOTATIONS).write_text(json.dumps(coco, indent=1) + "\n", encoding="utf-8")
    return {"images": len(images), "boxes": len(annotations), "classes": ["good", *defects]}
