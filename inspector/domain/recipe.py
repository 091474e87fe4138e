"""Recipes and the PASS/FAIL decision. Fail-safe: anything missing, failed or late is FAIL."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from inspector.domain.inspection import Decision, DefectRegion, ModelOutput, Reason, ReasonCode, Verdict


@dataclass(frozen=True)
class ModelRule:
    """One model in a recipe; thresholds left None come from the bundle (resolved once, when the model is bound)."""

    bundle: str
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    use_image_score: bool = True
    use_regions: bool = True
    reject_classes: tuple[str, ...] = ()
    override_calibration: bool = False  # a threshold far (over 10x) from the bundle's calibrated one is meant


@dataclass(frozen=True)
class Roi:
    """Rectangle in fractions of the frame (0..1): regions must fall inside to count."""

    x0: float = 0.0
    y0: float = 0.0
    x1: float = 1.0
    y1: float = 1.0

    def contains(self, region: DefectRegion, width: int, height: int) -> bool:
        cx = (region.x + region.width / 2) / max(width, 1)
        cy = (region.y + region.height / 2) / max(height, 1)
        return self.x0 <= cx <= self.x1 and self.y0 <= cy <= self.y1


@dataclass(frozen=True)
class ArchivePolicy:
    """Which pictures the station keeps of an inspection; every part keeps its row (verdict, scores) either way.

    Every FAIL (a hold or not-inspected REJECT included) keeps its image, anomaly map and thumbnail. Of the PASSes,
    one in ``pass_every`` keeps them too (the first, then every ``pass_every``-th; 1 keeps every PASS, 0 none); the
    others keep only a thumbnail when ``pass_thumbnails``, else nothing.
    """

    pass_every: int = 50
    pass_thumbnails: bool = True

    def __post_init__(self) -> None:
        if self.pass_every < 0:
            raise ValueError(f"archive pass_every must be 0 or more, got {self.pass_every}")

    def keeps_images(self, verdict: Verdict | str, passes_before: int) -> bool:
        """True when the inspection keeps its full pictures; ``passes_before``: PASSes already seen under it."""
        if Verdict(verdict) is not Verdict.PASS:
            return True
        return self.pass_every > 0 and passes_before % self.pass_every == 0

    def describe(self) -> str:
        """The policy in words, for a record whose pictures it did not keep."""
        if self.pass_every == 0:
            return "archive policy keeps no PASS images"
        return f"archive policy keeps 1 PASS image in {self.pass_every}"


KEEP_EVERY_IMAGE = ArchivePolicy(pass_every=1)


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    models: tuple[ModelRule, ...]
    combine: str = "any"  # any: FAIL when any model fails the part; all: only when every model does
    roi: Roi | None = None
    min_defect_area: int = 0
    deadline_ms: float = 1000.0
    camera_features: dict[str, object] = field(default_factory=dict)
    id: int | None = None  # what the PLC selects the recipe by
    archive: ArchivePolicy = field(default_factory=ArchivePolicy)  # which pictures are kept (never what decides)


@dataclass(frozen=True)
class _Judged:
    """One model's output judged under its rule."""

    failed: bool
    reasons: tuple[Reason, ...]
    regions: tuple[DefectRegion, ...]
    margin: float  # score relative to its threshold (1.0 at the threshold); how near the model came to failing


def _judge(rule: ModelRule, output: ModelOutput, recipe: Recipe, size: tuple[int, int]) -> _Judged:
    """The verdict of one model's output; its thresholds and minimum area were applied when it was bound."""
    model = output.model
    width, height = size
    regions = output.regions
    if recipe.roi is not None:
        regions = tuple(r for r in regions if recipe.roi.contains(r, width, height))
    reasons: list[Reason] = []
    threshold = output.image_threshold
    margin = 0.0
    if rule.use_image_score and recipe.roi is None:
        if threshold is None:
            return _Judged(True, (Reason(ReasonCode.NO_RESULT, f"model {model} has no image threshold", model),),
                           regions, float("inf"))
        margin = output.score / threshold if threshold > 0 else output.score - threshold + 1.0
        if output.score >= threshold:
            reasons.append(Reason(ReasonCode.SCORE_OVER_THRESHOLD,
                                  f"anomaly score {output.score:.3g} >= threshold {threshold:.3g}", model))
    if rule.use_regions and regions:
        largest = max(r.area for r in regions)
        reasons.append(Reason(ReasonCode.REGION_OVER_THRESHOLD,
                              f"{len(regions)} defect region(s), largest {largest} px >= "
                              f"{recipe.min_defect_area} px", model))
    rejected = [name for name, _ in output.classes if name in rule.reject_classes]
    rejected += [r.class_name for r in regions if r.class_name in rule.reject_classes]
    if rejected:
        reasons.append(Reason(ReasonCode.REJECT_CLASS, f"reject class {sorted(set(rejected))[0]} detected", model))
    return _Judged(bool(reasons), tuple(reasons), regions, margin)


def _fail(code: ReasonCode, text: str, model: str | None = None, deciding: int | None = None) -> Decision:
    return Decision(Verdict.FAIL, (Reason(code, text, model),), deciding=deciding)


def decide(
    recipe: Recipe,
    outputs: Sequence[ModelOutput | None],
    frame_size: tuple[int, int],
    elapsed_ms: float | None = None,
) -> Decision:
    """Combine the bound models' outputs under the recipe. ``frame_size`` is (width, height).

    Reads the thresholds each output was judged against, never the recipe's overrides (resolved at binding).
    """
    if not recipe.models:
        return _fail(ReasonCode.NO_RESULT, f"recipe {recipe.name} has no models")
    if len(outputs) != len(recipe.models):
        return _fail(ReasonCode.NO_RESULT, f"expected {len(recipe.models)} model results, got {len(outputs)}")
    judged: list[_Judged] = []
    for index, (rule, output) in enumerate(zip(recipe.models, outputs, strict=True)):
        if output is None:
            return _fail(ReasonCode.NO_RESULT, f"no result from model {rule.bundle}", rule.bundle, index)
        if output.error is not None:
            return _fail(ReasonCode.MODEL_ERROR, f"model {output.model} failed: {output.error}", output.model, index)
        if output.score is None:
            return _fail(ReasonCode.NO_RESULT, f"model {output.model} gave no score", output.model, index)
        bad = [f"{name} {value}" for name, value in (("score", output.score), ("image threshold",
               output.image_threshold), ("pixel threshold", output.pixel_threshold))
               if value is not None and not math.isfinite(value)]
        if bad:
            return _fail(ReasonCode.NON_FINITE, f"model {output.model}: {', '.join(bad)} is not a finite number",
                         output.model, index)
        judged.append(_judge(rule, output, recipe, frame_size))
    fails = [j.failed for j in judged]
    failed = any(fails) if recipe.combine == "any" else all(fails)
    regions = tuple(r for j in judged for r in j.regions)
    if failed:
        deciding = fails.index(True)
        reasons = tuple(r for j in judged for r in j.reasons)
    else:
        deciding = max(range(len(judged)), key=lambda i: judged[i].margin)
        reasons = (Reason(ReasonCode.PASS, "all models within thresholds"),)
    if elapsed_ms is not None and not elapsed_ms <= recipe.deadline_ms:  # a NaN time is late too
        late = Reason(ReasonCode.LATE, f"late: {elapsed_ms:.0f} ms > deadline {recipe.deadline_ms:.0f} ms")
        return Decision(Verdict.FAIL, (late, *(r for r in reasons if r.code is not ReasonCode.PASS)), regions,
                        deciding)
    return Decision(Verdict.FAIL if failed else Verdict.PASS, reasons, regions, deciding)


def not_inspected(reason: str) -> Decision:
    """The decision for a part whose frame never reached the models (dropped by back-pressure)."""
    return _fail(ReasonCode.NOT_INSPECTED, f"not inspected: {reason}")


def on_hold(decision: Decision, reason: str) -> Decision:
    """REJECT while the station is on HOLD, whatever the models said (their reasons stay, after the hold)."""
    kept = tuple(r for r in decision.reasons if r.code is not ReasonCode.PASS)
    return Decision(Verdict.FAIL, (Reason(ReasonCode.HOLD, f"station on HOLD: {reason}"), *kept), decision.regions,
                    decision.deciding)
