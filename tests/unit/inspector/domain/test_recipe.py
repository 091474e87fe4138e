"""decide(): the bound models' outputs under the recipe; reason codes; the deciding model; the fail-safe rules."""

from __future__ import annotations

import pytest

from inspector.domain.inspection import DefectRegion, ModelOutput, ReasonCode, Verdict
from inspector.domain.recipe import ModelRule, Recipe, Roi, decide

SIZE = (100, 100)
C = ReasonCode


def out(score: float | None = 1.0, threshold: float | None = 5.0, regions=(), error=None, model="m1", classes=()):
    return ModelOutput(model=model, score=score, image_threshold=threshold, regions=tuple(regions), error=error,
                       classes=tuple(classes))


def recipe(**kwargs) -> Recipe:
    defaults = {"name": "r", "version": 1, "models": (ModelRule("m1"),)}
    return Recipe(**{**defaults, **kwargs})


def region(x=10, y=10, area=50, cls="anomaly") -> DefectRegion:
    return DefectRegion(x=x, y=y, width=8, height=8, area=area, score=9.0, class_name=cls)


def test_pass_below_threshold_and_fail_at_it() -> None:
    passed = decide(recipe(), [out(4.9)], SIZE)
    assert passed.verdict is Verdict.PASS and passed.codes == (C.PASS,) and passed.deciding == 0
    decision = decide(recipe(), [out(5.0)], SIZE)
    assert decision.verdict is Verdict.FAIL and decision.codes == (C.SCORE_OVER_THRESHOLD,)
    assert "5 >= threshold 5" in decision.texts[0] and decision.reasons[0].model == "m1"


def test_the_threshold_is_the_one_the_output_was_judged_against_never_the_rules() -> None:
    """Recipe overrides are resolved when a model is bound (inference/bundle_model); decide reads the output."""
    r = recipe(models=(ModelRule("m1", image_threshold=10.0),))
    assert decide(r, [out(7.0, threshold=5.0)], SIZE).verdict is Verdict.FAIL
    assert decide(r, [out(7.0, threshold=10.0)], SIZE).verdict is Verdict.PASS


@pytest.mark.parametrize("output, code, word", [
    (None, C.NO_RESULT, "no result"), (out(error="boom"), C.MODEL_ERROR, "boom"),
    (out(score=None), C.NO_RESULT, "no score"), (out(threshold=None), C.NO_RESULT, "no image threshold")])
def test_missing_or_failed_result_is_fail(output, code: ReasonCode, word: str) -> None:
    decision = decide(recipe(), [output], SIZE)
    assert decision.verdict is Verdict.FAIL and decision.codes == (code,) and word in " ".join(decision.texts)


def test_late_result_is_fail_even_when_good() -> None:
    decision = decide(recipe(deadline_ms=100), [out(0.1)], SIZE, elapsed_ms=150)
    assert decision.verdict is Verdict.FAIL and decision.codes == (C.LATE,) and "late" in decision.texts[0]
    late_and_bad = decide(recipe(deadline_ms=100), [out(9.0)], SIZE, elapsed_ms=150)
    assert late_and_bad.codes == (C.LATE, C.SCORE_OVER_THRESHOLD)


def test_no_models_or_wrong_count_is_fail() -> None:
    assert decide(recipe(models=()), [], SIZE).codes == (C.NO_RESULT,)
    assert decide(recipe(), [out(), out()], SIZE).verdict is Verdict.FAIL


def test_regions_the_model_reports_fail_the_part() -> None:
    """The model reports only regions over its pixel threshold and the minimum area (it was bound to them)."""
    r = recipe(min_defect_area=40, models=(ModelRule("m1", use_image_score=False),))
    assert decide(r, [out(regions=[])], SIZE).verdict is Verdict.PASS
    decision = decide(r, [out(regions=[region(area=40)])], SIZE)
    assert decision.verdict is Verdict.FAIL and len(decision.regions) == 1
    assert decision.codes == (C.REGION_OVER_THRESHOLD,)


def test_roi_keeps_only_regions_inside() -> None:
    r = recipe(roi=Roi(0.5, 0.5, 1.0, 1.0))
    outside = decide(r, [out(score=99.0, regions=[region(x=10, y=10)])], SIZE)
    assert outside.verdict is Verdict.PASS and outside.regions == ()
    assert decide(r, [out(score=0.0, regions=[region(x=70, y=70)])], SIZE).verdict is Verdict.FAIL


def test_combine_any_and_all() -> None:
    rules = (ModelRule("m1"), ModelRule("m2"))
    outputs = [out(9.0, model="m1"), out(1.0, model="m2")]
    assert decide(recipe(models=rules, combine="any"), outputs, SIZE).verdict is Verdict.FAIL
    assert decide(recipe(models=rules, combine="all"), outputs, SIZE).verdict is Verdict.PASS


def test_the_deciding_model_is_the_first_that_failed_or_the_nearest_to_its_threshold() -> None:
    rules = (ModelRule("m1"), ModelRule("m2"))
    first_fails = decide(recipe(models=rules), [out(1.0, model="m1"), out(9.0, model="m2")], SIZE)
    assert first_fails.deciding == 1
    both_pass = decide(recipe(models=rules), [out(1.0, 5.0, model="m1"), out(0.4, 0.5, model="m2")], SIZE)
    assert both_pass.verdict is Verdict.PASS and both_pass.deciding == 1  # 0.8 of its threshold against 0.2
    error = decide(recipe(models=rules), [out(1.0, model="m1"), out(error="x", model="m2")], SIZE)
    assert error.deciding == 1 and error.codes == (C.MODEL_ERROR,)


def test_reject_class_fails() -> None:
    r = recipe(models=(ModelRule("m1", use_image_score=False, use_regions=False, reject_classes=("crack",)),))
    assert decide(r, [out(classes=[("scratch", 0.9)])], SIZE).verdict is Verdict.PASS
    decision = decide(r, [out(classes=[("crack", 0.9)])], SIZE)
    assert decision.verdict is Verdict.FAIL and "crack" in decision.texts[0] and decision.codes == (C.REJECT_CLASS,)


def test_the_archive_policy_keeps_every_fail_and_one_pass_in_n() -> None:
    from inspector.domain.recipe import KEEP_EVERY_IMAGE, ArchivePolicy

    policy = ArchivePolicy()  # the default: every FAIL, 1 PASS in 50
    assert [n for n in range(200) if policy.keeps_images(Verdict.PASS, n)] == [0, 50, 100, 150]
    assert all(policy.keeps_images("FAIL", n) for n in range(200))
    assert all(KEEP_EVERY_IMAGE.keeps_images("PASS", n) for n in range(10))
    none = ArchivePolicy(pass_every=0)
    assert not any(none.keeps_images("PASS", n) for n in range(10)) and none.keeps_images("FAIL", 3)
    assert "1 PASS image in 50" in policy.describe()
    with pytest.raises(ValueError, match="pass_every"):
        ArchivePolicy(pass_every=-2)
