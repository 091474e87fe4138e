"""Frames as they leave a camera: pixels plus identity, time and (for simulation) ground truth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class GroundTruth:
    """What a simulated or labeled frame really shows."""

    defect: str | None  # None = good
    mask: np.ndarray | None = None  # HxW bool

    @property
    def is_defective(self) -> bool:
        return self.defect is not None


@dataclass(frozen=True)
class Part:
    """One part on the line: an id (from the PLC, or the camera in part mode), its serial and lot when known."""

    id: str
    serial: str | None = None
    lot: str | None = None
    triggered_at: float | None = None  # time.monotonic() of the trigger: the deadline runs from here


@dataclass(frozen=True)
class Frame:
    """One acquired image, copied out of the driver buffer (HxWx3 uint8 RGB)."""

    id: int
    camera: str
    timestamp: float  # wall clock, seconds since the epoch (UTC)
    monotonic: float  # time.monotonic() at acquisition, for latency
    image: np.ndarray
    truth: GroundTruth | None = None
    meta: Mapping[str, object] = field(default_factory=dict)
    part: Part | None = None  # set when each frame is a part (triggered parts, the simulated line's part mode)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
