"""Few labeled images: small classes are named, test figures get intervals."""

from __future__ import annotations

import pytest

from training.supervised.few_shot import class_counts, too_few, wilson


def test_each_class_too_small_to_judge_is_named() -> None:
    counts = class_counts([0, 0, 1] + [2] * 12, ["good", "crack", "dent"])
    assert counts == {"good": 2, "crack": 1, "dent": 12}
    warnings = too_few(counts)
    assert len(warnings) == 2 and "'good': 2 training image(s)" in warnings[0] and "'crack'" in warnings[1]


@pytest.mark.parametrize(("k", "n", "low", "high"), [(19, 20, 0.764, 0.991), (0, 10, 0.0, 0.278),
                                                      (50, 100, 0.404, 0.596)])
def test_wilson_intervals(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-3) and hi == pytest.approx(high, abs=1e-3)
    assert wilson(0, 0) is None
