"""Few labeled images: a warning per class too small to judge, and intervals on the test figures.

With tens of images per class, classification fits a linear probe on frozen features
(``training.supervised.probe``); benchmarks/fewshot.py measures it against fine-tuning.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

TOO_FEW = 10  # training images per class below which nothing can be judged about that class


def class_counts(labels: Sequence[int], class_names: Sequence[str]) -> dict[str, int]:
    counted = Counter(labels)
    return {name: counted.get(i, 0) for i, name in enumerate(class_names)}


def too_few(counts: dict[str, int]) -> list[str]:
    """One warning per class with fewer than ``TOO_FEW`` training images."""
    return [f"class {name!r}: {n} training image(s), too few to judge (want at least {TOO_FEW})"
            for name, n in counts.items() if n < TOO_FEW]


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The 95 % Wilson interval of a proportion (None without trials)."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
