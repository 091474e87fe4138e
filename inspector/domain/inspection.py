"""Results: model outputs, defect regions, verdicts and the logged inspection."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from inspector.domain.frame import Frame


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"


@dataclass(frozen=True)
class DefectRegion:
    """A connected defect area in image pixels."""

    x: int
    y: int
    width: int
    height: int
    area: int
    score: float
    class_name: str = "anomaly"


@dataclass(frozen=True)
class ModelOutput:
    """One model's result for one frame; ``error`` set means the model failed (never a PASS)."""

    model: str  # bundle id
    score: float | None
    anomaly_map: np.ndarray | None = None  # HxW float32 at frame size
    image_threshold: float | None = None
    pixel_threshold: float | None = None
    classes: tuple[tuple[str, float], ...] = ()
    regions: tuple[DefectRegion, ...] = ()
    error: str | None = None
    latency_ms: float = 0.0


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]
    regions: tuple[DefectRegion, ...] = ()


@dataclass(frozen=True)
class Inspection:
    """Everything logged for one inspected frame."""

    frame: Frame
    station: str
    recipe: str
    recipe_version: int
    outputs: tuple[ModelOutput, ...]
    decision: Decision
    latencies_ms: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def score(self) -> float | None:
        scores = [o.score for o in self.outputs if o.score is not None]
        return max(scores) if scores else None
