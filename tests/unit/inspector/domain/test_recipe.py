"""decide(): thresholds, regions, ROI, combination, and the fail-safe rules."""

from __future__ import annotations

import pytest

from inspector.domain.inspection import DefectRegion, ModelOutput, Verdict
from inspector.domain.recipe import ModelRule, Recipe, Roi, decide

SIZE = (100, 100)


def out(score: float | None = 1.0, threshold: float | None = 5.0, regions=(), error=None, model="m1", classes=()):
    return ModelOutput(model=model, score=score, image_threshold=threshold, regions=tuple(regions), error=error,
                       classes=tuple(classes))


def recipe(**kwargs) -> Recipe:
    defaults = {"name": "r", "version": 1, "models": (ModelRule("m1"),)}
    return Recipe(**{**defaults, **kwargs})


def region(x=10, y=10, area=50, cls="anomaly") -> DefectRegion:
    return DefectRegion(x=x, y=y, width=8, height=8, area=area, score=9.0, class_name=cls)


def test_pass_below_threshold_and_fail_at_it() -> None:
    assert decide(recipe(), [out(4.9)], SIZE).verdict is Verdict.PASS
    decision = decide(recipe(), [out(5.0)], SIZE)
    assert decision.verdict is Verdict.FAIL and "5 >= threshold 5" in decision.reasons[0]


def test_recipe_threshold_overrides_bundle() -> None:
    r = recipe(models=(ModelRule("m1", image_threshold=10.0),))
    assert decide(r, [out(7.0)], SIZE).verdict is Verdict.PASS


@pytest.mark.parametrize("output, word", [(None, "no result"), (out(error="boom"), "boom"),
                                          (out(score=None), "no score"), (out(threshold=None), "no image threshold")])
def test_missing_or_failed_result_is_fail(output, word: str) -> None:
    decision = decide(recipe(), [output], SIZE)
    assert decision.verdict is Verdict.FAIL and word in " ".join(decision.reasons)


def test_late_result_is_fail_even_when_good() -> None:
    decision = decide(recipe(deadline_ms=100), [out(0.1)], SIZE, elapsed_ms=150)
    assert decision.verdict is Verdict.FAIL and "late" in decision.reasons[0]


def test_no_models_or_wrong_count_is_fail() -> None:
    assert decide(recipe(models=()), [], SIZE).verdict is Verdict.FAIL
    assert decide(recipe(), [out(), out()], SIZE).verdict is Verdict.FAIL


def test_small_regions_are_ignored_and_large_ones_fail() -> None:
    r = recipe(min_defect_area=40, models=(ModelRule("m1", use_image_score=False),))
    assert decide(r, [out(regions=[region(area=39)])], SIZE).verdict is Verdict.PASS
    decision = decide(r, [out(regions=[region(area=40)])], SIZE)
    assert decision.verdict is Verdict.FAIL and len(decision.regions) == 1


def test_roi_keeps_only_regions_inside() -> None:
    r = recipe(roi=Roi(0.5, 0.5, 1.0, 1.0))
    assert decide(r, [out(score=99.0, regions=[region(x=10, y=10)])], SIZE).verdict is Verdict.PASS
    assert decide(r, [out(score=0.0, regions=[region(x=70, y=70)])], SIZE).verdict is Verdict.FAIL


def test_combine_any_and_all() -> None:
    rules = (ModelRule("m1"), ModelRule("m2"))
    outputs = [out(9.0, model="m1"), out(1.0, model="m2")]
    assert decide(recipe(models=rules, combine="any"), outputs, SIZE).verdict is Verdict.FAIL
    assert decide(recipe(models=rules, combine="all"), outputs, SIZE).verdict is Verdict.PASS


def test_reject_class_fails() -> None:
    r = recipe(models=(ModelRule("m1", use_image_score=False, use_regions=False, reject_classes=("crack",)),))
    assert decide(r, [out(classes=[("scratch", 0.9)])], SIZE).verdict is Verdict.PASS
    decision = decide(r, [out(classes=[("crack", 0.9)])], SIZE)
    assert decision.verdict is Verdict.FAIL and "crack" in decision.reasons[0]
