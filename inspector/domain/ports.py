"""Ports the station loop depends on; adapters implement them (the camera port is in ``camera.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from inspector.domain.frame import Frame
from inspector.domain.inspection import Inspection, ModelOutput


class InspectionModel(Protocol):
    """A loaded model bound once to its resolved thresholds and minimum region area.

    ``infer`` scores one frame; failures come back as ``ModelOutput.error``, never as an exception.
    """

    id: str
    image_threshold: float
    pixel_threshold: float
    min_area: int

    def infer(self, frame: Frame) -> ModelOutput: ...


class InspectionSink(Protocol):
    """Where finished inspections go to be logged (journal first, then the database).

    ``submit`` calls ``on_released(inspection, durable)`` once the record is journaled (``durable``) or could
    not be; only then may the verdict leave the station. ``hold_reason`` says why the station must hold.
    """

    def submit(self, inspection: Inspection, on_released: Callable[[Inspection, bool], None]) -> None: ...

    def hold_reason(self) -> str | None: ...

    def flush(self, timeout: float = 10.0) -> bool: ...

    def close(self, timeout: float = 10.0) -> None: ...
