"""Ports the station loop depends on; adapters implement them (the camera port is in ``camera.py``)."""

from __future__ import annotations

from typing import Protocol

from inspector.domain.frame import Frame
from inspector.domain.inspection import Inspection, ModelOutput


class InspectionModel(Protocol):
    """A loaded model that scores one frame; failures come back as ``ModelOutput.error``."""

    id: str
    image_threshold: float
    pixel_threshold: float

    def infer(self, frame: Frame, pixel_threshold: float | None = None, image_threshold: float | None = None,
              min_area: int = 1) -> ModelOutput: ...


class InspectionSink(Protocol):
    """Where finished inspections go to be logged (journal first, then the database)."""

    def submit(self, inspection: Inspection, heatmap_vmax: float | None = None) -> None: ...

    def flush(self, timeout: float = 10.0) -> bool: ...

    def close(self, timeout: float = 10.0) -> None: ...
