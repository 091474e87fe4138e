"""Recipes and the PASS/FAIL decision. Fail-safe: anything missing, failed or late is FAIL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from inspector.domain.inspection import Decision, DefectRegion, ModelOutput, Verdict


@dataclass(frozen=True)
class ModelRule:
    """One model in a recipe; thresholds left None come from the bundle."""

    bundle: str
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    use_image_score: bool = True
    use_regions: bool = True
    reject_classes: tuple[str, ...] = ()


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
class Recipe:
    name: str
    version: int
    models: tuple[ModelRule, ...]
    combine: str = "any"  # any: FAIL when any model fails the part; all: only when every model does
    roi: Roi | None = None
    min_defect_area: int = 0
    deadline_ms: float = 1000.0
    camera_features: dict[str, object] = field(default_factory=dict)


def _model_verdict(
    rule: ModelRule, output: ModelOutput, recipe: Recipe, size: tuple[int, int]
) -> tuple[bool, list[str], list[DefectRegion]]:
    """(fails, reasons, regions) for one model's output."""
    if output.error is not None:
        return True, [f"model {output.model} failed: {output.error}"], []
    if output.score is None:
        return True, [f"model {output.model} gave no score"], []
    reasons: list[str] = []
    width, height = size
    regions = [r for r in output.regions if r.area >= recipe.min_defect_area]
    if recipe.roi is not None:
        regions = [r for r in regions if recipe.roi.contains(r, width, height)]
    threshold = rule.image_threshold if rule.image_threshold is not None else output.image_threshold
    if rule.use_image_score and recipe.roi is None:
        if threshold is None:
            return True, [f"model {output.model} has no image threshold"], regions
        if output.score >= threshold:
            reasons.append(f"anomaly score {output.score:.3g} >= threshold {threshold:.3g}")
    if rule.use_regions and regions:
        largest = max(r.area for r in regions)
        reasons.append(f"{len(regions)} defect region(s), largest {largest} px >= {recipe.min_defect_area} px")
    rejected = [name for name, _ in output.classes if name in rule.reject_classes]
    rejected += [r.class_name for r in regions if r.class_name in rule.reject_classes]
    if rejected:
        reasons.append(f"reject class {sorted(set(rejected))[0]} detected")
    return bool(reasons), reasons, regions


def decide(
    recipe: Recipe,
    outputs: Sequence[ModelOutput | None],
    frame_size: tuple[int, int],
    elapsed_ms: float | None = None,
) -> Decision:
    """Combine model outputs under the recipe. ``frame_size`` is (width, height)."""
    if elapsed_ms is not None and elapsed_ms > recipe.deadline_ms:
        return Decision(Verdict.FAIL, (f"late: {elapsed_ms:.0f} ms > deadline {recipe.deadline_ms:.0f} ms",))
    if not recipe.models:
        return Decision(Verdict.FAIL, (f"recipe {recipe.name} has no models",))
    if len(outputs) != len(recipe.models):
        return Decision(Verdict.FAIL, (f"expected {len(recipe.models)} model results, got {len(outputs)}",))
    fails, reasons, regions = [], [], []
    for rule, output in zip(recipe.models, outputs, strict=True):
        if output is None:
            return Decision(Verdict.FAIL, (f"no result from model {rule.bundle}",))
        failed, why, found = _model_verdict(rule, output, recipe, frame_size)
        if output.error is not None or output.score is None:
            return Decision(Verdict.FAIL, tuple(why))
        fails.append(failed)
        reasons.extend(why)
        regions.extend(found)
    failed = any(fails) if recipe.combine == "any" else all(fails)
    if failed:
        return Decision(Verdict.FAIL, tuple(reasons), tuple(regions))
    return Decision(Verdict.PASS, ("all models within thresholds",), tuple(regions))
