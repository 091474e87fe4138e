"""The synthetic generator's supervised labels, and checkpoint/resume of the training loop."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inspector.bundle.preprocess import Preprocessing
from training.supervised.coco import load_detection
from training.supervised.data import load_classification
from training.supervised.models import ModelSpec, build_model
from training.supervised.tasks import make_task
from training.supervised.tensors import Item, TaskDataset, augmentations, collate
from training.supervised.train import CHECKPOINT, FitOptions, ResumeError, fit
from training.synth import generate_dataset


def test_generator_writes_class_folders_and_coco_boxes_from_masks(tmp_path: Path) -> None:
    generate_dataset(tmp_path, seed=2, products=["pcb"], n_train=2, n_test_good=1, n_test_per_defect=2, size=64)
    product = tmp_path / "pcb"
    classes = load_classification(product / "classification")
    assert classes.class_names == ("good", "missing", "print", "scratch", "stain")
    assert classes.counts() == {"good": 3, "missing": 2, "print": 2, "scratch": 2, "stain": 2}
    coco = json.loads((product / "detection" / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {i["id"]: i["file_name"] for i in coco["images"]}
    assert len(coco["images"]) == 11 and coco["annotations"]
    masks: dict[int, np.ndarray] = {}
    covered: dict[int, np.ndarray] = {}
    for ann in coco["annotations"]:  # the class of a box is the defect of its image; the boxes cover its mask
        file_name = files[ann["image_id"]]
        defect = names[ann["category_id"]]
        assert file_name.startswith(f"{defect}_test_")
        mask = cv2.imread(str(product / "ground_truth" / defect / f"{file_name[-7:-4]}_mask.png"), 0) > 0
        masks[ann["image_id"]] = mask
        x, y, w, h = ann["bbox"]
        covered.setdefault(ann["image_id"], np.zeros_like(mask))[y:y + h, x:x + w] = True
    assert len(masks) == 8  # every defect image has boxes, good images none
    for image_id, mask in masks.items():
        assert (mask & covered[image_id]).sum() >= 0.95 * mask.sum()
    assert not load_detection(product / "detection").issues


def test_generator_can_skip_the_labels(tmp_path: Path) -> None:
    generate_dataset(tmp_path, seed=2, products=["washer"], n_train=1, n_test_good=1, n_test_per_defect=1, size=64,
                     labels=False)
    assert not (tmp_path / "washer" / "classification").exists()
    assert not (tmp_path / "washer" / "detection").exists()


def _tiny_run(tmp_path: Path, epochs: int, resume: bool, meta: dict | None = None):
    pre = Preprocessing(32, 32)
    rng = np.random.default_rng(0)
    items = [Item(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), i % 2, np.zeros((0, 4), np.float32),
                  np.zeros(0, np.int64), None, f"{i}.png") for i in range(6)]
    model = build_model(ModelSpec("classification", num_classes=2, image_size=32, pretrained=False))
    task = make_task("classification", ("a", "b"), pre)
    data = TaskDataset("classification", items, augmentations("classification", pre, True))
    return fit(model, task, data, collate("classification"), items[:2], FitOptions(epochs=epochs, batch_size=3),
               torch.device("cpu"), pretrained=True, sampler_factory=lambda e: None, checkpoint_dir=tmp_path,
               resume=resume, meta=meta or {"task": "classification"})


def test_checkpoint_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    with pytest.raises(ResumeError, match="no checkpoint"):
        _tiny_run(tmp_path, 2, resume=True)
    first = _tiny_run(tmp_path, 2, resume=False)
    assert [h["phase"] for h in first.history] == ["head", "all"] and (tmp_path / CHECKPOINT).is_file()
    resumed = _tiny_run(tmp_path, 3, resume=True)
    assert resumed.resumed_from == 1 and [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history[:2] == first.history
    with pytest.raises(ResumeError, match="task='classification'.*task='detection'"):
        _tiny_run(tmp_path, 3, resume=True, meta={"task": "detection"})
