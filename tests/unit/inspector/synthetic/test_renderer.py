"""Tests for inspector.synthetic: API, determinism, defect masks, natural variation of good samples."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from inspector.synthetic import PRODUCTS, SyntheticSample, defect_types, render

SIZE = 128
ALL_DEFECTS = [(product, defect) for product in PRODUCTS for defect in defect_types(product)]


def _rng(*seed: int) -> np.random.Generator:
    return np.random.default_rng(list(seed))


def test_products_and_defect_classes() -> None:
    assert {"washer", "pcb", "fabric"} <= set(PRODUCTS)
    for product in PRODUCTS:
        defects = defect_types(product)
        assert len(defects) >= 3 and len(set(defects)) == len(defects)
    covered = {defect for _, defect in ALL_DEFECTS}
    assert {"scratch", "crack", "stain", "missing", "dent", "print"} <= covered


@pytest.mark.parametrize("product", PRODUCTS)
def test_good_sample_format(product: str) -> None:
    sample = render(product, _rng(1), size=SIZE)
    assert isinstance(sample, SyntheticSample)
    assert sample.image.shape == (SIZE, SIZE, 3) and sample.image.dtype == np.uint8
    assert sample.mask.shape == (SIZE, SIZE) and sample.mask.dtype == np.uint8
    assert not sample.mask.any()
    assert sample.product == product and sample.defect is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.defect = "scratch"  # type: ignore[misc]


@pytest.mark.parametrize("product", PRODUCTS)
def test_same_seed_same_bytes_other_seed_differs(product: str) -> None:
    defect = defect_types(product)[0]
    for kind in (None, defect):
        a, b = render(product, _rng(7), kind, SIZE), render(product, _rng(7), kind, SIZE)
        assert a.image.tobytes() == b.image.tobytes() and a.mask.tobytes() == b.mask.tobytes()
        c = render(product, _rng(8), kind, SIZE)
        assert np.abs(a.image.astype(int) - c.image.astype(int)).mean() > 2.0


def test_generator_is_advanced() -> None:
    rng = _rng(3)
    first, second = render("pcb", rng, size=64), render("pcb", rng, size=64)
    assert first.image.tobytes() != second.image.tobytes()


@pytest.mark.parametrize(("product", "defect"), ALL_DEFECTS)
def test_defect_mask_marks_the_changed_pixels(product: str, defect: str) -> None:
    for seed in (0, 1):
        good = render(product, _rng(seed), None, SIZE)
        bad = render(product, _rng(seed), defect, SIZE)
        assert bad.defect == defect and bad.product == product
        assert set(np.unique(bad.mask)) == {0, 255}
        inside = bad.mask > 0
        assert 0.001 < inside.mean() < 0.12, f"mask covers {inside.mean():.2%} of the image"
        assert inside[2:-2, 2:-2].any(), "mask must lie inside the image, not only on its border"
        changed = np.abs(good.image.astype(int) - bad.image.astype(int)).max(axis=-1) > 12
        near = cv2.dilate(bad.mask, np.ones((7, 7), np.uint8)) > 0
        assert changed.sum() >= 10, "the defect must be visible"
        assert (changed & near).sum() / changed.sum() > 0.8, "pixels changed outside the mask"
        assert (changed & inside).sum() / inside.sum() > 0.15, "mask covers mostly unchanged pixels"


@pytest.mark.parametrize("product", PRODUCTS)
def test_good_samples_vary_in_pose_and_light(product: str) -> None:
    images = np.stack([render(product, _rng(11, i), None, SIZE).image for i in range(6)]).astype(np.float32)
    gray = images.mean(axis=-1)
    assert gray.std(axis=0).mean() > 8.0, "per-pixel spread across good samples is too small"
    assert np.abs(gray - gray.mean(axis=(1, 2), keepdims=True)).mean() > 5.0, "images are flat"
    brightness = gray.mean(axis=(1, 2))
    assert brightness.max() - brightness.min() > 2.0, "lighting does not vary"


def test_other_sizes() -> None:
    for size in (32, 200):
        sample = render("washer", _rng(0), "stain", size)
        assert sample.image.shape == (size, size, 3) and sample.mask.any()


def test_unknown_product_names_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match="bolt") as error:
        render("bolt", _rng(0))
    assert all(product in str(error.value) for product in PRODUCTS)
    with pytest.raises(ValueError, match="bolt"):
        defect_types("bolt")


def test_unknown_defect_names_the_value_and_the_choices() -> None:
    with pytest.raises(ValueError, match="print") as error:
        render("washer", _rng(0), "print")
    assert all(defect in str(error.value) for defect in defect_types("washer"))
    with pytest.raises(ValueError, match="smudge"):
        render("pcb", _rng(0), "smudge")


def test_bad_size() -> None:
    with pytest.raises(ValueError, match="size"):
        render("fabric", _rng(0), size=8)
