"""Part tracking: triggers open parts, a FIFO gives each frame the oldest open part, stale parts expire.

Parts and frames can disagree (a missed trigger, a double exposure): a frame with no open part, or a part whose
frame never came within ``frame_timeout_s``. Either way the FIFO resyncs, counts it, and the caller raises an
alarm; an expired part still gets its verdict (REJECT, not inspected) from the caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from inspector.domain.frame import Frame, Part


class PartTracker:
    """Thread-safe: ``open`` from the line's thread, ``match`` and ``expire`` from the acquisition thread."""

    def __init__(self, frame_timeout_s: float = 2.0, on_resync: Callable[[str], None] | None = None,
                 frame_latency_s: float = 0.5) -> None:
        """``frame_latency_s``: the longest a frame may be acquired after its part's trigger; an open part older
        than that when a newer frame arrives missed its frame (the FIFO resyncs instead of shifting every
        later part onto the wrong frame)."""
        self.frame_timeout_s = frame_timeout_s
        self.frame_latency_s = frame_latency_s
        self.on_resync = on_resync or (lambda text: None)
        self._open: deque[Part] = deque()
        self._lock = threading.Lock()
        self.opened = self.matched = self.expired = self.stray_frames = 0
        self.in_flight = 0  # opened parts whose verdict has not been released yet

    @property
    def resyncs(self) -> int:
        return self.expired + self.stray_frames

    def open(self, part: Part) -> Part:
        """A trigger: the part is waiting for its frame (its trigger time starts the deadline)."""
        if part.triggered_at is None:
            part = replace(part, triggered_at=time.monotonic())
        with self._lock:
            self._open.append(part)
            self.opened += 1
            self.in_flight += 1
        return part

    def match(self, frame: Frame) -> tuple[Frame, list[Part]]:
        """The frame with the oldest open part triggered in time for it, and the parts that missed their frame
        (out of the FIFO, for the caller to reject). A frame with no part is a stray, kept partless."""
        missed: list[Part] = []
        with self._lock:
            while self._open and (self._open[0].triggered_at or frame.monotonic) < frame.monotonic - \
                    self.frame_latency_s:
                missed.append(self._open.popleft())
            self.expired += len(missed)
            part = None
            if self._open and (self._open[0].triggered_at or 0.0) <= frame.monotonic + 0.001:
                part = self._open.popleft()
                self.matched += 1
            else:
                self.stray_frames += 1
        for lost in missed:
            self.on_resync(f"part {lost.id} missed its frame (frame {frame.id} is newer): the part FIFO resynced")
        if part is None:
            self.on_resync(f"frame {frame.id} came with no part waiting: the part FIFO resynced")
            return frame, missed
        return replace(frame, part=part), missed

    def expire(self, now: float | None = None) -> list[Part]:
        """Open parts whose frame is overdue: out of the FIFO, for the caller to reject."""
        now = time.monotonic() if now is None else now
        gone = []
        with self._lock:
            while self._open and now - (self._open[0].triggered_at or now) > self.frame_timeout_s:
                gone.append(self._open.popleft())
            self.expired += len(gone)
        for part in gone:
            self.on_resync(f"part {part.id} got no frame within {self.frame_timeout_s:g} s: the part FIFO resynced")
        return gone

    def released(self, part: Part | None) -> None:
        if part is not None:
            with self._lock:
                self.in_flight = max(0, self.in_flight - 1)

    def waiting(self) -> int:
        with self._lock:
            return len(self._open)
