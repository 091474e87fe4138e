"""Validation of the three labeled formats: errors name the file, the annotation id and the value."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.datasets import DatasetError
from training.supervised.coco import boxes_from_mask, load_detection
from training.supervised.data import load_classification
from training.supervised.masks import load_segmentation


def _png(path: Path, size: tuple[int, int] = (40, 48), value: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def _coco(root: Path, annotations: list[dict], categories=None) -> Path:
    _png(root / "images" / "a.png")
    _png(root / "images" / "b.png")
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 48, "height": 40},
                       {"id": 2, "file_name": "b.png", "width": 48, "height": 40}],
            "annotations": annotations,
            "categories": categories if categories is not None else [{"id": 1, "name": "scratch"},
                                                                     {"id": 2, "name": "dent"}]}
    path = root / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def test_class_folders_and_unknown_class_from_classes_txt(tmp_path: Path) -> None:
    for name in ("good", "scratch", "mystery"):
        _png(tmp_path / name / "0.png")
    (tmp_path / "good" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "classes.txt").write_text("good\nscratch\n")
    data = load_classification(tmp_path)
    assert data.class_names == ("good", "scratch") and data.layout == "class-folders"
    assert [(s.path.name, s.label) for s in data.samples] == [("0.png", 0), ("0.png", 1)]
    problems = [str(i) for i in data.issues]
    assert any("mystery" in p and "unknown class 'mystery'" in p for p in problems), problems
    assert any("broken.png" in p and "skipped" in p for p in problems), problems


def test_one_class_is_not_enough(tmp_path: Path) -> None:
    _png(tmp_path / "good" / "0.png")
    with pytest.raises(DatasetError, match="at least 2"):
        load_classification(tmp_path)


def test_mvtec_layout_reads_as_good_plus_test_types(tmp_path: Path) -> None:
    _png(tmp_path / "washer" / "train" / "good" / "0.png")
    _png(tmp_path / "washer" / "test" / "good" / "0.png")
    _png(tmp_path / "washer" / "test" / "crack" / "0.png")
    data = load_classification(tmp_path)  # the single category is found
    assert data.layout == "mvtec" and data.class_names == ("good", "crack")
    assert sorted(data.counts().items()) == [("crack", 1), ("good", 2)]


def test_coco_boxes_load_with_negatives(tmp_path: Path) -> None:
    _coco(tmp_path, [{"id": 7, "image_id": 1, "category_id": 2, "bbox": [4, 5, 10, 12]}])
    data = load_detection(tmp_path)
    assert data.class_names == ("scratch", "dent") and not data.issues
    boxes = {s.path.name: s.boxes for s in data.samples}
    assert boxes["b.png"] == ()
    (box,) = boxes["a.png"]
    assert (box.x0, box.y0, box.x1, box.y1, box.label, box.annotation_id) == (4, 5, 14, 17, 1, 7)


def test_coco_unknown_class_names_file_annotation_and_value(tmp_path: Path) -> None:
    _coco(tmp_path, [{"id": 7, "image_id": 1, "category_id": 2, "bbox": [4, 5, 10, 12]},
                     {"id": 8, "image_id": 2, "category_id": 9, "bbox": [1, 1, 5, 5]}])
    data = load_detection(tmp_path)
    (issue,) = data.issues
    assert issue.path.name == "b.png"
    assert "annotation id 8" in issue.problem and "category_id 9" in issue.problem and "unknown class" in issue.problem
    assert [s.path.name for s in data.samples] == ["a.png"]


def test_coco_box_outside_the_image(tmp_path: Path) -> None:
    _coco(tmp_path, [{"id": 3, "image_id": 1, "category_id": 1, "bbox": [40, 30, 20, 5]},
                     {"id": 4, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}])
    (issue,) = load_detection(tmp_path).issues
    assert issue.path.name == "a.png" and "annotation id 3" in issue.problem
    assert "[40, 30, 20, 5]" in issue.problem and "outside the 48x40 image" in issue.problem


@pytest.mark.parametrize("content, message", [("", "empty annotation file"), ("{", "not valid JSON"),
                                              ('{"images": []}', "missing list 'annotations'")])
def test_coco_broken_annotation_file(tmp_path: Path, content: str, message: str) -> None:
    _png(tmp_path / "images" / "a.png")
    (tmp_path / "annotations.json").write_text(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_detection(tmp_path)
    assert "annotations.json" in str(info.value)


def test_coco_without_categories_or_boxes(tmp_path: Path) -> None:
    _coco(tmp_path, [], categories=[])
    with pytest.raises(DatasetError, match="'categories' is empty"):
        load_detection(tmp_path)
    _coco(tmp_path, [])
    with pytest.raises(DatasetError, match="no usable boxes"):
        load_detection(tmp_path)


def _mvtec(root: Path, mask_size: tuple[int, int] = (40, 48)) -> Path:
    _png(root / "train" / "good" / "0.png")
    _png(root / "test" / "good" / "0.png")
    _png(root / "test" / "crack" / "000.png")
    _png(root / "test" / "crack" / "001.png")
    mask = np.zeros(mask_size, np.uint8)
    mask[5:15, 10:30] = 255
    (root / "ground_truth" / "crack").mkdir(parents=True)
    cv2.imwrite(str(root / "ground_truth" / "crack" / "000_mask.png"), mask)
    return root


def test_segmentation_mask_of_the_wrong_size_names_the_mask(tmp_path: Path) -> None:
    _mvtec(tmp_path, mask_size=(20, 24))
    with pytest.raises(DatasetError) as info:
        load_segmentation(tmp_path)
    text = str(info.value)
    assert "000_mask.png" in text and "24x20" in text and "48x40" in text
    assert "001.png" in text and "no ground-truth mask" in text


def test_segmentation_and_mvtec_detection(tmp_path: Path) -> None:
    _mvtec(tmp_path)
    seg = load_segmentation(tmp_path)
    assert seg.class_names == ("background", "crack") and len(seg.samples) == 3
    assert any("001.png" in str(i) for i in seg.issues)
    det = load_detection(tmp_path)
    (box,) = next(s for s in det.samples if s.boxes).boxes
    assert (box.x0, box.y0, box.x1, box.y1, det.class_names[box.label]) == (10, 5, 30, 15, "crack")


def test_boxes_from_mask_ignore_specks() -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[10:20, 30:50] = 1
    mask[100, 100] = 1  # 1 px < 200*200/4000 = 10 px
    assert boxes_from_mask(mask) == [(30, 10, 20, 10)]
