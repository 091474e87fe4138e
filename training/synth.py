"""Write synthetic datasets in the MVTec AD layout from ``inspector.synthetic``.

Per product::

    <out>/<product>/train/good/000.png
    <out>/<product>/test/good/000.png
    <out>/<product>/test/<defect>/000.png
    <out>/<product>/ground_truth/<defect>/000_mask.png   (0/255)
    <out>/<product>/labels.json                           (class of every test image)

plus ``<out>/dataset.json``. Image ``i`` of a split is rendered from
``np.random.default_rng([seed, product_index, split_index, i])`` (product index in ``PRODUCTS``; split
index 0 = train good, 1 = test good, 2 + k = test images of the k-th defect), so any subset of products
or counts reproduces the same images.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from inspector.synthetic import PRODUCTS, defect_types, render
from training.synth_labels import write_supervised_labels

Progress = Callable[[str, int, int], None]
TRAIN_GOOD, TEST_GOOD, FIRST_DEFECT = 0, 1, 2


def image_rng(seed: int, product: str, split_index: int, i: int) -> np.random.Generator:
    """The generator that renders image ``i`` of a split (see the module docstring)."""
    return np.random.default_rng([seed, PRODUCTS.index(product), split_index, i])


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    if not cv2.imwrite(str(path), data):
        raise OSError(f"could not write {path}")


def _check(seed: int, products: Sequence[str] | None, counts: dict[str, int], size: int) -> tuple[str, ...]:
    if isinstance(products, str):
        products = [products]
    chosen = tuple(dict.fromkeys(PRODUCTS if products is None else products))
    bad = [p for p in chosen if p not in PRODUCTS]
    if bad or not chosen:
        raise ValueError(f"unknown products {bad or chosen!r}; valid products: {', '.join(PRODUCTS)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    for name, value in counts.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if size < 32:
        raise ValueError(f"size must be >= 32, got {size}")
    return chosen


def generate_dataset(
    out: Path,
    seed: int,
    products: Sequence[str] | None = None,
    n_train: int = 60,
    n_test_good: int = 20,
    n_test_per_defect: int = 8,
    size: int = 256,
    progress: Progress | None = None,
    labels: bool = True,
) -> dict:
    """Render and write the dataset; returns a summary with the image counts per product and split.

    ``progress(phase, done, total)`` is called after every image, ``phase`` being
    ``"<product>/<split>/<class>"`` and ``done``/``total`` counting images over the whole call.
    Existing ``train``, ``test`` and ``ground_truth`` folders of the chosen products are replaced.
    ``labels`` also writes the supervised labels (class folders, COCO boxes), see :mod:`training.synth_labels`.
    """
    write_labels = labels  # the name ``labels`` is reused below for the per-product label lists
    out = Path(out)
    chosen = _check(
        seed,
        products,
        dict(n_train=n_train, n_test_good=n_test_good, n_test_per_defect=n_test_per_defect),
        size,
    )
    jobs: list[tuple[str, str, str | None, int, int]] = []  # product, split, defect, split index, count
    for product in chosen:
        jobs.append((product, "train", None, TRAIN_GOOD, n_train))
        jobs.append((product, "test", None, TEST_GOOD, n_test_good))
        for k, defect in enumerate(defect_types(product)):
            jobs.append((product, "test", defect, FIRST_DEFECT + k, n_test_per_defect))
    total, done = sum(job[-1] for job in jobs), 0

    for product in chosen:
        for folder in ("train", "test", "ground_truth"):
            shutil.rmtree(out / product / folder, ignore_errors=True)
    labels: dict[str, list[dict]] = {product: [] for product in chosen}
    summary: dict[str, dict] = {
        product: {
            "train_good": n_train,
            "test_good": n_test_good,
            "test_defects": {d: n_test_per_defect for d in defect_types(product)},
        }
        for product in chosen
    }
    for product, split, defect, split_index, count in jobs:
        name = defect or "good"
        for i in range(count):
            sample = render(product, image_rng(seed, product, split_index, i), defect, size)
            relative = f"{split}/{name}/{i:03d}.png"
            _write_png(out / product / relative, sample.image)
            if split == "test":
                entry = {"image": relative, "label": name, "mask": None}
                if defect is not None:
                    entry["mask"] = f"ground_truth/{name}/{i:03d}_mask.png"
                    _write_png(out / product / entry["mask"], sample.mask)
                labels[product].append(entry)
            done += 1
            if progress:
                progress(f"{product}/{split}/{name}", done, total)

    for product in chosen:
        document = {
            "product": product,
            "classes": ["good", *defect_types(product)],
            "size": size,
            "train_good": n_train,
            "test": labels[product],
        }
        (out / product).mkdir(parents=True, exist_ok=True)
        (out / product / "labels.json").write_text(json.dumps(document, indent=2) + "\n")
        summary[product]["total"] = n_train + n_test_good + n_test_per_defect * len(defect_types(product))
        if write_labels:
            write_supervised_labels(out / product)
    meta = {
        "format": "mvtec_ad",
        "generator": "inspector.synthetic",
        "seed": seed,
        "size": size,
        "products": list(chosen),
        "n_train": n_train,
        "n_test_good": n_test_good,
        "n_test_per_defect": n_test_per_defect,
        "defects": {p: list(defect_types(p)) for p in chosen},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"out": str(out), "seed": seed, "size": size, "images": total, "products": summary}
