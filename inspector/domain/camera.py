"""The camera port: every camera adapter (GenICam, simulated, replay) implements ``Camera``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from inspector.domain.frame import Frame


class CameraError(Exception):
    """A camera could not be found, opened or configured; the message names it."""


@dataclass
class CameraStats:
    """Counters a camera keeps while it runs."""

    grabbed: int = 0
    incomplete: int = 0
    dropped: int = 0
    timeouts: int = 0
    reconnects: int = 0
    connected: bool = False
    closed: bool = False  # set by close(): the device (or its simulation) was released
    last_error: str | None = None
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class Camera(Protocol):
    """Start, grab frames one at a time, stop; ``grab`` returns None on timeout."""

    name: str

    def start(self) -> None: ...

    def grab(self, timeout: float) -> Frame | None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    @property
    def stats(self) -> CameraStats: ...
