"""Station counters: frames grabbed, inspected, dropped (with why), verdicts and latencies."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from inspector.domain.inspection import Decision, ReasonCode, Verdict


@dataclass(frozen=True)
class CounterSnapshot:
    grabbed: int
    inspected: int
    passed: int
    failed: int
    dropped: dict[str, int]
    model_errors: int
    late: int
    elapsed_s: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    fail_reasons: dict[str, int] = field(default_factory=dict)  # FAIL inspections by reason code
    truth_known: int = 0
    truth_agree: int = 0
    escapes: int = 0  # truly defective but PASS
    false_rejects: int = 0  # truly good but FAIL
    unrecorded: int = 0  # verdicts released REJECT without a record (the journal could not take it)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def rate(self) -> float:
        return self.inspected / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def agreement(self) -> float | None:
        """Share of frames with known ground truth whose verdict matched it."""
        return self.truth_agree / self.truth_known if self.truth_known else None

    @property
    def yield_percent(self) -> float | None:
        return 100.0 * self.passed / self.inspected if self.inspected else None


class StationCounters:
    """Thread-safe counters shared by the pipeline threads."""

    def __init__(self, latency_window: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.grabbed = self.inspected = self.passed = self.failed = self.model_errors = self.late = 0
        self.truth_known = self.truth_agree = self.escapes = self.false_rejects = self.unrecorded = 0
        self._dropped: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=latency_window)

    def reset(self) -> None:
        with self._lock:
            self.__init__(self._latencies.maxlen or 10_000)

    def frame_grabbed(self) -> None:
        with self._lock:
            self.grabbed += 1

    def frame_dropped(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] += count

    def unrecorded_one(self) -> None:
        with self._lock:
            self.unrecorded += 1

    def inspected_one(self, decision: Decision, total_ms: float, truly_defective: bool | None = None) -> None:
        """Count one inspection by its verdict and reason codes."""
        passed = decision.verdict is Verdict.PASS
        codes = decision.codes
        with self._lock:
            if truly_defective is not None:
                self.truth_known += 1
                self.truth_agree += int(passed != truly_defective)
                self.escapes += int(passed and truly_defective)
                self.false_rejects += int(not passed and not truly_defective)
            self.inspected += 1
            self.passed += int(passed)
            self.failed += int(not passed)
            self.model_errors += int(ReasonCode.MODEL_ERROR in codes)
            self.late += int(ReasonCode.LATE in codes)
            self._latencies.append(total_ms)
            if not passed:
                self._reasons.update(str(code) for code in codes)

    def snapshot(self) -> CounterSnapshot:
        with self._lock:
            lat = np.asarray(self._latencies, dtype=np.float64)
            return CounterSnapshot(
                grabbed=self.grabbed, inspected=self.inspected, passed=self.passed, failed=self.failed,
                dropped=dict(self._dropped), model_errors=self.model_errors, late=self.late,
                elapsed_s=time.monotonic() - self._started,
                latency_p50_ms=float(np.percentile(lat, 50)) if len(lat) else None,
                latency_p99_ms=float(np.percentile(lat, 99)) if len(lat) else None,
                fail_reasons=dict(self._reasons), truth_known=self.truth_known, truth_agree=self.truth_agree,
                escapes=self.escapes, false_rejects=self.false_rejects, unrecorded=self.unrecorded,
            )
