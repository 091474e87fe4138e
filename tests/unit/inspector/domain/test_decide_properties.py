"""Properties of decide(): whatever the outputs, no PASS for a NaN or infinite score or threshold, no traceback."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.domain.inspection import DefectRegion, ModelOutput, ReasonCode, Verdict
from inspector.domain.recipe import ModelRule, Recipe, Roi, decide

anything = st.floats(allow_nan=True, allow_infinity=True) | st.none()
region = st.builds(DefectRegion, x=st.integers(-10, 300), y=st.integers(-10, 300), width=st.integers(0, 300),
                   height=st.integers(0, 300), area=st.integers(0, 10_000),
                   score=st.floats(allow_nan=True, allow_infinity=True),
                   class_name=st.sampled_from(["anomaly", "crack", "scratch"]))
output = st.builds(ModelOutput, model=st.sampled_from(["a", "b"]), score=anything, image_threshold=anything,
                   pixel_threshold=anything, regions=st.tuples(region) | st.just(()),
                   classes=st.just(()) | st.tuples(st.tuples(st.sampled_from(["crack", "good"]), st.floats(0, 1))),
                   error=st.none() | st.just("boom"))
rule = st.builds(ModelRule, bundle=st.just("a"), use_image_score=st.booleans(), use_regions=st.booleans(),
                 reject_classes=st.just(()) | st.just(("crack",)))
recipe = st.builds(Recipe, name=st.just("r"), version=st.just(1), models=st.lists(rule, min_size=0, max_size=3)
                   .map(tuple), combine=st.sampled_from(["any", "all"]),
                   roi=st.none() | st.just(Roi(0.2, 0.2, 0.8, 0.8)), min_defect_area=st.integers(0, 100),
                   deadline_ms=st.floats(1, 5000))


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


@settings(max_examples=400, deadline=None)
@given(recipe, st.lists(output | st.none(), max_size=3), anything)
def test_no_input_passes_a_non_finite_score_or_threshold_and_none_raises(r, outputs, elapsed) -> None:
    decision = decide(r, outputs, (100, 100), elapsed)  # never raises
    assert decision.verdict in (Verdict.PASS, Verdict.FAIL) and decision.reasons
    if decision.verdict is Verdict.PASS:
        assert len(outputs) == len(r.models) > 0
        assert all(o is not None and o.error is None and o.score is not None for o in outputs)
        assert all(_finite(v) for o in outputs for v in (o.score, o.image_threshold, o.pixel_threshold))
        assert elapsed is None or elapsed <= r.deadline_ms  # None: no time given, no deadline to miss


@given(st.sampled_from([math.nan, math.inf, -math.inf]), st.sampled_from(["score", "image_threshold",
                                                                            "pixel_threshold"]))
def test_a_non_finite_number_is_fail_with_its_own_code(value: float, field: str) -> None:
    values = {"score": 0.1, "image_threshold": 0.5, "pixel_threshold": 0.5, field: value}
    decision = decide(Recipe("r", 1, (ModelRule("a"),)), [ModelOutput("a", **values)], (10, 10), 1.0)
    assert decision.verdict is Verdict.FAIL and decision.codes == (ReasonCode.NON_FINITE,)
