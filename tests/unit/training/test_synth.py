"""Tests for training.synth: MVTec AD layout, labels, counts, determinism, progress."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.synthetic import PRODUCTS, defect_types
from training.synth import generate_dataset

SIZE = 64


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_layout_counts_and_labels(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    summary = generate_dataset(
        tmp_path,
        seed=5,
        n_train=2,
        n_test_good=2,
        n_test_per_defect=2,
        size=SIZE,
        progress=lambda phase, done, total: calls.append((phase, done, total)),
    )
    total = sum(4 + 2 * len(defect_types(p)) for p in PRODUCTS)
    assert summary["images"] == total and set(summary["products"]) == set(PRODUCTS)
    assert [c[1] for c in calls] == list(range(1, total + 1)) and {c[2] for c in calls} == {total}
    assert calls[0][0] == f"{PRODUCTS[0]}/train/good"

    for product in PRODUCTS:
        root = tmp_path / product
        counts = summary["products"][product]
        assert counts["train_good"] == 2 and counts["test_good"] == 2
        assert counts["test_defects"] == {d: 2 for d in defect_types(product)}
        assert _names(root / "train" / "good") == ["000.png", "001.png"]
        assert _names(root / "test") == sorted(["good", *defect_types(product)])
        assert _names(root / "ground_truth") == sorted(defect_types(product))
        for defect in defect_types(product):
            assert _names(root / "test" / defect) == ["000.png", "001.png"]
            assert _names(root / "ground_truth" / defect) == ["000_mask.png", "001_mask.png"]
            mask = cv2.imread(str(root / "ground_truth" / defect / "000_mask.png"), cv2.IMREAD_UNCHANGED)
            assert mask.shape == (SIZE, SIZE) and set(np.unique(mask)) == {0, 255}
        image = cv2.imread(str(root / "train" / "good" / "000.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8

        labels = json.loads((root / "labels.json").read_text())
        assert labels["classes"] == ["good", *defect_types(product)]
        entries = {e["image"]: e for e in labels["test"]}
        assert len(entries) == 2 + 2 * len(defect_types(product))
        assert entries["test/good/001.png"] == {"image": "test/good/001.png", "label": "good", "mask": None}
        defect = defect_types(product)[-1]
        assert entries[f"test/{defect}/000.png"]["mask"] == f"ground_truth/{defect}/000_mask.png"
        assert all((root / e["image"]).is_file() for e in entries.values())

    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["seed"] == 5 and meta["size"] == SIZE and meta["products"] == list(PRODUCTS)
    assert meta["n_train"] == 2 and meta["n_test_per_defect"] == 2


def test_deterministic_and_reproducible_per_image(tmp_path: Path) -> None:
    first = tmp_path / "a"
    generate_dataset(
        first, seed=9, products=["pcb", "fabric"], n_train=2, n_test_good=1, n_test_per_defect=1, size=SIZE
    )
    again = tmp_path / "b"
    generate_dataset(
        again, seed=9, products=["fabric"], n_train=1, n_test_good=0, n_test_per_defect=1, size=SIZE
    )
    for relative in ("train/good/000.png", "test/stain/000.png", "ground_truth/stain/000_mask.png"):
        assert (first / "fabric" / relative).read_bytes() == (again / "fabric" / relative).read_bytes()
    other = tmp_path / "c"
    generate_dataset(
        other, seed=10, products=["fabric"], n_train=1, n_test_good=0, n_test_per_defect=0, size=SIZE
    )
    assert (first / "fabric/train/good/000.png").read_bytes() != (
        other / "fabric/train/good/000.png"
    ).read_bytes()
    a = cv2.imread(str(first / "pcb/train/good/000.png"))
    b = cv2.imread(str(first / "pcb/train/good/001.png"))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 2.0


def test_regenerating_replaces_old_images(tmp_path: Path) -> None:
    generate_dataset(
        tmp_path, seed=1, products=["washer"], n_train=3, n_test_good=2, n_test_per_defect=2, size=SIZE
    )
    generate_dataset(
        tmp_path, seed=1, products=["washer"], n_train=1, n_test_good=1, n_test_per_defect=0, size=SIZE
    )
    assert _names(tmp_path / "washer" / "train" / "good") == ["000.png"]
    assert _names(tmp_path / "washer" / "test") == ["good"]
    assert not (tmp_path / "washer" / "ground_truth").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"products": ["washer", "bolt"]}, "bolt"),
        ({"n_train": -1}, "n_train"),
        ({"seed": -3}, "seed"),
        ({"size": 16}, "size"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"seed": 0, "n_train": 1, "n_test_good": 1, "n_test_per_defect": 1, "size": SIZE} | kwargs
    with pytest.raises(ValueError, match=message):
        generate_dataset(tmp_path, **arguments)
    assert not any(tmp_path.iterdir()), "nothing is written when the arguments are invalid"
