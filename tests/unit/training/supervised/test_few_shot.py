"""Few labeled images: the encoder stays frozen, small classes are named, test figures get intervals."""

from __future__ import annotations

import pytest

from training.supervised.few_shot import class_counts, plan, wilson
from training.supervised.train import FitOptions


def test_a_classifier_with_a_small_class_keeps_the_encoder_frozen_for_every_epoch() -> None:
    fit, mode, warnings = plan("classification", FitOptions(epochs=12), {"good": 20, "scratch": 18})
    assert fit.frozen_epochs(pretrained=True) == 12 and "few-shot" in mode and warnings == []


def test_enough_images_or_an_explicit_freeze_fine_tune_as_before() -> None:
    many = {"good": 80, "scratch": 60}
    assert plan("classification", FitOptions(epochs=12), many)[0].frozen_epochs(True) == 3
    assert plan("classification", FitOptions(epochs=12, freeze_epochs=2), {"good": 5})[0].frozen_epochs(True) == 2
    assert plan("detection", FitOptions(epochs=12), {"dent": 8})[0].frozen_epochs(True) == 3


def test_each_class_too_small_to_judge_is_named() -> None:
    counts = class_counts([0, 0, 1] + [2] * 12, ["good", "crack", "dent"])
    assert counts == {"good": 2, "crack": 1, "dent": 12}
    _, _, warnings = plan("classification", FitOptions(), counts)
    assert len(warnings) == 2 and "'good': 2 training image(s)" in warnings[0] and "'crack'" in warnings[1]


@pytest.mark.parametrize(("k", "n", "low", "high"), [(19, 20, 0.764, 0.991), (0, 10, 0.0, 0.278),
                                                      (50, 100, 0.404, 0.596)])
def test_wilson_intervals(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-3) and hi == pytest.approx(high, abs=1e-3)
    assert wilson(0, 0) is None
