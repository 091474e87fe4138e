"""Verdicts as JSON lines on standard output, one per part as it leaves the station (for scripts and tests)."""

from __future__ import annotations

import json
import sys
import threading
from typing import TextIO

from inspector.domain.line import LineControl, LineIOStatus, LineState, PartVerdict


class StdoutLine:
    """Writes and flushes one line per released verdict: what reached the pipe has left the station."""

    name = "stdout"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.sent = 0
        self._lock = threading.Lock()

    def start(self, control: LineControl) -> None:
        pass

    def publish(self, verdict: PartVerdict) -> None:
        line = json.dumps(verdict.to_dict(), separators=(",", ":"))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.sent += 1

    def publish_state(self, state: LineState, reason: str | None = None) -> None:
        pass

    def status(self) -> LineIOStatus:
        return LineIOStatus(self.name, True, f"{self.sent:,} verdicts written")

    def close(self) -> None:
        with self._lock:
            self.stream.flush()
