"""Few labeled images: a frozen encoder with a linear head (stable), a warning per class too small to judge, and
intervals on the test figures."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from training.supervised.train import FitOptions

FEW_SHOT_BELOW = 50  # training images in the smallest class below which the encoder stays frozen (a linear probe)
TOO_FEW = 10  # training images per class below which nothing can be judged about that class


def class_counts(labels: Sequence[int], class_names: Sequence[str]) -> dict[str, int]:
    counted = Counter(labels)
    return {name: counted.get(i, 0) for i, name in enumerate(class_names)}


def plan(task: str, fit: FitOptions, counts: dict[str, int]) -> tuple[FitOptions, str, list[str]]:
    """The fit to run, how it trains (in words), and one warning per class with too few training images.

    Classification with fewer than ``FEW_SHOT_BELOW`` images in a class keeps the pretrained encoder frozen for
    every epoch: fine-tuning it on tens of images swings from run to run. ``--freeze-epochs`` overrides this.
    """
    warnings = [f"class {name!r}: {n} training image(s), too few to judge (want at least {TOO_FEW})"
                for name, n in counts.items() if n < TOO_FEW]
    smallest = min(counts.values(), default=0)
    if task == "classification" and fit.freeze_epochs is None and smallest < FEW_SHOT_BELOW:
        mode = (f"frozen encoder + linear head for all {fit.epochs} epochs (few-shot: the smallest class has "
                f"{smallest} training images, fewer than {FEW_SHOT_BELOW})")
        return replace(fit, freeze_epochs=fit.epochs), mode, warnings
    return fit, "frozen head first, then the whole network", warnings


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The 95 % Wilson interval of a proportion (None without trials)."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
