"""The line I/O port: parts from the PLC, one verdict per part back, station state, results to the MES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from inspector.domain.frame import Part
from inspector.domain.inspection import Inspection, Verdict


class LineState(StrEnum):
    """What the line sees of the station."""

    READY = "ready"  # inspecting; parts may come
    BUSY = "busy"  # parts in flight beyond what the station takes at once
    HOLDING = "holding"  # not ready: every part is rejected
    STOPPED = "stopped"


@dataclass(frozen=True)
class PartVerdict:
    """One verdict as it leaves the station (its record is journaled when ``durable``)."""

    uid: str
    part: Part | None
    frame_id: int
    verdict: Verdict
    reason_codes: tuple[str, ...]
    score: float | None
    models: tuple[tuple[str, float | None], ...]  # (bundle id, score) per model, in recipe order
    recipe: str
    recipe_version: int
    station: str
    acquired_at: float  # seconds since the epoch
    released_at: float
    durable: bool = True

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    @classmethod
    def of(cls, inspection: Inspection, released_at: float, durable: bool = True) -> PartVerdict:
        return cls(inspection.uid, inspection.frame.part, inspection.frame.id, inspection.verdict,
                   tuple(str(c) for c in inspection.decision.codes), inspection.score,
                   tuple((o.model, o.score) for o in inspection.outputs), inspection.recipe,
                   inspection.recipe_version, inspection.station, inspection.frame.timestamp, released_at, durable)

    def to_dict(self) -> dict:
        part = self.part
        return {"uid": self.uid, "part_id": part and part.id, "serial": part and part.serial, "lot": part and part.lot,
                "frame_id": self.frame_id, "verdict": str(self.verdict), "reason_codes": list(self.reason_codes),
                "score": self.score, "models": [{"bundle_id": b, "score": s} for b, s in self.models],
                "recipe": self.recipe, "recipe_version": self.recipe_version, "station": self.station,
                "acquired_at": self.acquired_at, "released_at": self.released_at, "durable": self.durable}


@dataclass(frozen=True)
class LineIOStatus:
    """One adapter as the window's Line I/O light shows it."""

    name: str
    connected: bool
    detail: str
    peer: str | None = None
    heartbeat_age_s: float | None = None


@dataclass(frozen=True)
class LineStatistics:
    """What the PLC may read: verdict counts and cycle times (trigger to verdict) since the last reset."""

    ok: int = 0
    ng: int = 0
    late: int = 0
    errors: int = 0
    cycle_min_ms: float | None = None
    cycle_avg_ms: float | None = None
    cycle_max_ms: float | None = None


@dataclass
class LineControl:
    """What an adapter may ask of the station; the runtime sets the callables (no-ops until then)."""

    trigger: Callable[[Part], bool] = lambda part: False  # a part reached the camera; False: not taken (not ready)
    select_recipe: Callable[[int], str] = lambda recipe_id: "no recipes"  # "" when switched, else why not
    heartbeat: Callable[[], None] = lambda: None  # the PLC is alive
    statistics: Callable[[], LineStatistics] = LineStatistics
    reset_statistics: Callable[[], None] = lambda: None
    deadline_ms: Callable[[], float] = lambda: 0.0  # the active recipe's deadline
    recipe_id: Callable[[], int] = lambda: 0  # the active recipe's id
    alarm: Callable[[str], None] = lambda text: None  # something on the line is wrong


class LineIO(Protocol):
    """One line I/O adapter (OPC UA, Modbus, MQTT, ...)."""

    name: str

    def start(self, control: LineControl) -> None: ...

    def publish(self, verdict: PartVerdict) -> None: ...

    def publish_state(self, state: LineState, reason: str | None = None) -> None: ...

    def status(self) -> LineIOStatus: ...

    def close(self) -> None: ...
