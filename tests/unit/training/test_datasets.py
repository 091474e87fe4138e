"""Tests for training.datasets: layouts, splits, validation of broken files, fingerprint, image reading."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from training.datasets import (
    DatasetError,
    DatasetIssue,
    ImageReadError,
    MaskError,
    load_anomaly_dataset,
    read_image,
    read_mask,
)

SIZE = 32


def _image(path: Path, seed: int = 0, size: tuple[int, int] = (SIZE, SIZE)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def _mask(path: Path, size: tuple[int, int] = (SIZE, SIZE)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(size, np.uint8)
    mask[4:10, 4:10] = 255
    assert cv2.imwrite(str(path), mask)
    return path


def _mvtec(root: Path, n_train: int = 4, n_good: int = 2, defects: dict[str, int] | None = None) -> Path:
    """Write an MVTec-style category folder at ``root``."""
    defects = {"crack": 2, "scratch": 1} if defects is None else defects
    for i in range(n_train):
        _image(root / "train" / "good" / f"{i:03d}.png", seed=i)
    for i in range(n_good):
        _image(root / "test" / "good" / f"{i:03d}.png", seed=100 + i)
    for kind, count in defects.items():
        for i in range(count):
            _image(root / "test" / kind / f"{i:03d}.png", seed=200 + i)
            _mask(root / "ground_truth" / kind / f"{i:03d}_mask.png")
    return root


def _folder(root: Path, n_good: int = 10) -> Path:
    """Write a plain folder dataset: good/, defect/ (loose and typed) and masks/."""
    for i in range(n_good):
        _image(root / "good" / f"g{i:02d}.png", seed=i)
    _image(root / "defect" / "d0.png", seed=50)
    _image(root / "defect" / "dent" / "d1.png", seed=51)
    _image(root / "defect" / "dent" / "d2.jpg", seed=52)
    _mask(root / "masks" / "d0_mask.png")
    _mask(root / "masks" / "dent" / "d1.png")
    return root


def _issue_for(issues: list[DatasetIssue], path: Path) -> DatasetIssue:
    matches = [issue for issue in issues if issue.path == path]
    assert matches, f"no issue for {path}: {issues}"
    return matches[0]


# --- layouts -------------------------------------------------------------------------------------------


def test_mvtec_layout_counts_labels_and_masks(tmp_path: Path) -> None:
    _mvtec(tmp_path / "bottle")
    (tmp_path / "bottle" / "train" / "good" / "notes.txt").write_text("ignored")
    (tmp_path / "bottle" / "train" / "good" / ".hidden.png").write_bytes(b"junk")
    ds = load_anomaly_dataset(tmp_path, "bottle")

    assert (ds.layout, ds.category, ds.issues) == ("mvtec", "bottle", [])
    assert [s.path.name for s in ds.train] == ["000.png", "001.png", "002.png", "003.png"]
    assert all(s.label == 0 and s.defect_type == "good" and s.mask_path is None for s in ds.train)
    assert [(s.defect_type, s.label) for s in ds.test] == [
        ("crack", 1), ("crack", 1), ("good", 0), ("good", 0), ("scratch", 1)
    ]
    crack = ds.test[0]
    assert crack.mask_path == tmp_path / "bottle" / "ground_truth" / "crack" / "000_mask.png"
    assert "5 test images (2 good, 3 defect: crack 2, scratch 1)" in ds.summary()


def test_category_none_root_is_category_or_single_category(tmp_path: Path) -> None:
    _mvtec(tmp_path / "only")
    direct = load_anomaly_dataset(tmp_path / "only")
    assert direct.category is None and len(direct.train) == 4
    found = load_anomaly_dataset(tmp_path)
    assert found.category == "only" and found.fingerprint() == direct.fingerprint()


def test_multiple_categories_error_lists_them(tmp_path: Path) -> None:
    _mvtec(tmp_path / "bottle", defects={})
    _mvtec(tmp_path / "screw", defects={})
    with pytest.raises(DatasetError, match="bottle, screw"):
        load_anomaly_dataset(tmp_path)
    with pytest.raises(DatasetError, match="category 'cable' does not exist.*bottle, screw"):
        load_anomaly_dataset(tmp_path, "cable")


def test_folder_layout_split_and_masks(tmp_path: Path) -> None:
    _folder(tmp_path)
    ds = load_anomaly_dataset(tmp_path)
    assert ds.layout == "folder" and ds.category is None
    good_test = [s for s in ds.test if s.label == 0]
    assert (len(ds.train), len(good_test)) == (8, 2)
    assert not {s.path for s in ds.train} & {s.path for s in good_test}
    assert ds.train == sorted(ds.train, key=lambda s: s.path)
    defects = {s.path.name: s for s in ds.test if s.label == 1}
    types = {name: sample.defect_type for name, sample in defects.items()}
    assert types == {"d0.png": "defect", "d1.png": "dent", "d2.jpg": "dent"}
    assert defects["d0.png"].mask_path == tmp_path / "masks" / "d0_mask.png"
    assert defects["d1.png"].mask_path == tmp_path / "masks" / "dent" / "d1.png"
    assert defects["d2.jpg"].mask_path is None
    assert [i.path for i in ds.issues] == [tmp_path / "defect" / "dent" / "d2.jpg"]
    assert load_anomaly_dataset(tmp_path).test == ds.test  # deterministic


def test_folder_split_keeps_at_least_one_test_good(tmp_path: Path) -> None:
    for i in range(3):
        _image(tmp_path / "good" / f"g{i}.png", seed=i)
    ds = load_anomaly_dataset(tmp_path)
    assert (len(ds.train), len(ds.test)) == (2, 1)


# --- broken datasets -----------------------------------------------------------------------------------


def test_missing_root_and_required_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_anomaly_dataset(tmp_path / "nope")
    (tmp_path / "cat" / "test" / "good").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"train/good: missing folder.*MVTec layout"):
        load_anomaly_dataset(tmp_path / "cat")
    (tmp_path / "plain" / "defect").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"plain/good: missing folder.*folder layout"):
        load_anomaly_dataset(tmp_path / "plain")
    _image(tmp_path / "noTest" / "train" / "good" / "a.png")
    with pytest.raises(DatasetError, match="noTest/test: missing test folder"):
        load_anomaly_dataset(tmp_path / "noTest")
    assert load_anomaly_dataset(tmp_path / "noTest", require_test=False).test == []


def test_corrupt_images_are_skipped_and_named(tmp_path: Path) -> None:
    root = _mvtec(tmp_path)
    good = root / "train" / "good"
    png = (good / "000.png").read_bytes()
    (good / "truncated.png").write_bytes(png[: len(png) // 2])
    (good / "garbage.png").write_bytes(b"this is not an image at all")
    (good / "empty.png").write_bytes(b"")
    jpg = _image(good / "cut.jpg", seed=9)
    jpg.write_bytes(jpg.read_bytes()[:-2])  # cv2 still half-decodes this one
    ds = load_anomaly_dataset(root)

    assert len(ds.train) == 4
    for name in ("truncated.png", "garbage.png", "empty.png", "cut.jpg"):
        issue = _issue_for(ds.issues, good / name)
        assert "unreadable or corrupt image" in issue.problem
        assert str(issue).startswith(f"{good / name}: ")
    assert "0 bytes" in _issue_for(ds.issues, good / "empty.png").problem
    assert "4 issue(s)" in ds.summary() and "garbage.png" in ds.summary()


def test_mask_size_mismatch_skips_sample(tmp_path: Path) -> None:
    root = _mvtec(tmp_path)
    bad_mask = _mask(root / "ground_truth" / "crack" / "001_mask.png", size=(20, 24))
    ds = load_anomaly_dataset(root)
    assert root / "test" / "crack" / "001.png" not in [s.path for s in ds.test]
    problem = _issue_for(ds.issues, bad_mask).problem
    assert "mask size 24x20 differs from image size 32x32" in problem


def test_corrupt_mask_skips_sample(tmp_path: Path) -> None:
    root = _mvtec(tmp_path)
    bad_mask = root / "ground_truth" / "scratch" / "000_mask.png"
    bad_mask.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    ds = load_anomaly_dataset(root)
    assert all(s.defect_type != "scratch" for s in ds.test)
    assert "unreadable or corrupt mask" in _issue_for(ds.issues, bad_mask).problem


def test_missing_mvtec_mask_keeps_sample(tmp_path: Path) -> None:
    root = _mvtec(tmp_path)
    (root / "ground_truth" / "crack" / "000_mask.png").unlink()
    ds = load_anomaly_dataset(root)
    image = root / "test" / "crack" / "000.png"
    kept = [s for s in ds.test if s.path == image]
    assert kept and kept[0].mask_path is None
    assert "no ground-truth mask" in _issue_for(ds.issues, image).problem


def test_empty_splits_name_folder_and_skipped_files(tmp_path: Path) -> None:
    root = _mvtec(tmp_path / "a", n_train=0)
    (root / "train" / "good").mkdir(parents=True)
    (root / "train" / "good" / "x.png").write_bytes(b"nope")
    with pytest.raises(DatasetError, match=r"train/good: no usable training images") as err:
        load_anomaly_dataset(root)
    assert str(root / "train" / "good" / "x.png") in str(err.value)

    root = _mvtec(tmp_path / "b", n_good=0, defects={})
    (root / "test" / "good").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"b/test: no test images found"):
        load_anomaly_dataset(root)
    assert len(load_anomaly_dataset(root, require_test=False).train) == 4


# --- fingerprint and readers ---------------------------------------------------------------------------


def test_fingerprint_stable_and_content_sensitive(tmp_path: Path) -> None:
    root = _mvtec(tmp_path)
    first = load_anomaly_dataset(root).fingerprint()
    assert first == load_anomaly_dataset(root).fingerprint() and len(first) == 64
    _image(root / "train" / "good" / "001.png", seed=77)
    assert load_anomaly_dataset(root).fingerprint() != first
    _mask(root / "ground_truth" / "crack" / "000_mask.png", size=(SIZE, SIZE))
    second = load_anomaly_dataset(root).fingerprint()
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.imwrite(str(root / "ground_truth" / "crack" / "000_mask.png"), mask)
    assert load_anomaly_dataset(root).fingerprint() != second


def test_read_image_converts_gray_rgba_and_16bit(tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.full((5, 7), 200, np.uint8))
    assert read_image(gray).shape == (5, 7, 3) and read_image(gray).dtype == np.uint8

    rgba = tmp_path / "rgba.png"
    bgra = np.zeros((4, 6, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 255, 10  # red, nearly transparent
    cv2.imwrite(str(rgba), bgra)
    assert read_image(rgba).shape == (4, 6, 3) and tuple(read_image(rgba)[0, 0]) == (255, 0, 0)

    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.array([[0, 65535, 257 * 100]], np.uint16))
    out = read_image(deep)
    assert out.dtype == np.uint8 and out[0, :, 0].tolist() == [0, 255, 100]

    with pytest.raises(ImageReadError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_read_mask_bool_and_size_check(tmp_path: Path) -> None:
    path = _mask(tmp_path / "m.png")
    mask = read_mask(path, (SIZE, SIZE))
    assert mask.dtype == bool and mask.sum() == 36
    with pytest.raises(MaskError, match="differs from image size 16x32"):
        read_mask(path, (32, 16))
