"""What the poll-friendly PLC interfaces (the OPC UA PLC folder, the Modbus map) share: results one at a time."""

from __future__ import annotations

import threading
from collections import deque

from inspector.domain.line import PartVerdict


class ResultQueue:
    """Verdicts for a PLC that polls: the oldest is shown (ResultValid) until the PLC acknowledges it by clearing
    ResultValid; then the next one. A PLC that never acknowledges keeps the newest ``limit`` only."""

    def __init__(self, limit: int = 1000) -> None:
        self._items: deque[PartVerdict] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def push(self, verdict: PartVerdict) -> bool:
        """Queue a verdict; True when it is the one to show now (nothing was waiting)."""
        with self._lock:
            self._items.append(verdict)
            return len(self._items) == 1

    def head(self) -> PartVerdict | None:
        with self._lock:
            return self._items[0] if self._items else None

    def acknowledge(self) -> PartVerdict | None:
        """The PLC took the shown verdict: the next one to show, if any."""
        with self._lock:
            if self._items:
                self._items.popleft()
            return self._items[0] if self._items else None

    def __len__(self) -> int:
        return len(self._items)


REASON_NUMBERS = {"pass": 0, "score_over_threshold": 1, "region_over_threshold": 2, "reject_class": 3, "late": 4,
                  "model_error": 5, "no_result": 6, "non_finite": 7, "not_inspected": 8, "hold": 9}


def reason_number(verdict: PartVerdict) -> int:
    """The first reason code as a number, for a register (see the README's register map)."""
    return REASON_NUMBERS.get(verdict.reason_codes[0], 99) if verdict.reason_codes else 99
