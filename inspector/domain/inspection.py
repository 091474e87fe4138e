"""Results: model outputs, defect regions, reason codes, verdicts and the logged inspection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from inspector.domain.frame import Frame


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"


class ReasonCode(StrEnum):
    """Why a part got its verdict, for machines: counters, alarms, logs and the line read these."""

    PASS = "pass"  # every model within its thresholds
    SCORE_OVER_THRESHOLD = "score_over_threshold"
    REGION_OVER_THRESHOLD = "region_over_threshold"
    REJECT_CLASS = "reject_class"
    LATE = "late"
    MODEL_ERROR = "model_error"
    NO_RESULT = "no_result"
    NON_FINITE = "non_finite"  # a NaN or infinite score or threshold
    NOT_INSPECTED = "not_inspected"  # a part whose frame was dropped before inference (back-pressure)
    HOLD = "hold"  # the station is on HOLD (its records cannot be kept): every part is rejected


@dataclass(frozen=True)
class Reason:
    """One reason: its code, the words for people, and the model it is about (when it is about one)."""

    code: ReasonCode
    text: str
    model: str | None = None

    def __str__(self) -> str:
        return self.text


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
    """One bound model's result for one frame: its score, the thresholds it was judged against, and its regions
    (already over its pixel threshold and minimum area). ``error`` set means the model failed (never a PASS)."""

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
    """The verdict with its reasons; ``deciding`` is the index of the model output that decided it (the one that
    failed the part first, or on a PASS the one nearest its threshold), None when no model result decided."""

    verdict: Verdict
    reasons: tuple[Reason, ...]
    regions: tuple[DefectRegion, ...] = ()
    deciding: int | None = None

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        """The reason codes, each once, in order."""
        return tuple(dict.fromkeys(r.code for r in self.reasons))

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(r.text for r in self.reasons)


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
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)  # the record's key, from decision to database
    recorded: bool = True  # False: released (as REJECT) although the journal could not take its record

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def headline(self) -> ModelOutput | None:
        """The deciding model's output: its score and thresholds are the inspection's headline."""
        index = self.decision.deciding
        return self.outputs[index] if index is not None and 0 <= index < len(self.outputs) else None

    @property
    def score(self) -> float | None:
        """The headline score: the deciding model's raw score, on the scale of its own image threshold."""
        headline = self.headline
        return None if headline is None else headline.score
