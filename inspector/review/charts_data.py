"""Chart data of the QA review, Qt-free: yield by hour/shift/day, score histogram, defect Pareto, what-if threshold."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import numpy as np

BUCKETS = ("hour", "shift", "day")
SHIFTS = ((6, "A"), (14, "B"), (22, "C"))  # 3 x 8 h: 06-14, 14-22, 22-06 local time
SHIFT_HOURS = 8
LABELS = ("unreviewed", "good", "defect")  # histogram series: not reviewed, reviewed good, reviewed defect
DEFECT_STATUSES = ("confirmed", "false_negative")
GOOD_STATUSES = ("false_positive",)


def local_tz() -> tzinfo:
    tz = datetime.now().astimezone().tzinfo
    return tz if tz is not None else UTC


@dataclass(frozen=True)
class HourCount:
    """Inspections acquired in one UTC hour; reviewed outcomes alongside the machine verdicts."""

    hour: datetime  # start of the hour, timezone-aware
    total: int
    failed: int
    false_rejects: int = 0
    escapes: int = 0


@dataclass(frozen=True)
class YieldBucket:
    start: datetime  # local time
    label: str
    total: int
    failed: int
    false_rejects: int
    escapes: int

    @property
    def passed(self) -> int:
        return self.total - self.failed

    @property
    def first_pass_yield(self) -> float:
        """Share of PASS verdicts, as the machine decided."""
        return self.passed / self.total if self.total else float("nan")

    @property
    def reviewed_yield(self) -> float:
        """Yield after review: false rejects count as good, escapes as bad."""
        return (self.passed + self.false_rejects - self.escapes) / self.total if self.total else float("nan")


def shift_start(moment: datetime, tz: tzinfo | None = None) -> tuple[datetime, str]:
    """The start (local time) and name of the shift holding ``moment``; shift C runs past midnight."""
    local = moment.astimezone(tz or local_tz())
    day = local.date()
    if local.hour < SHIFTS[0][0]:
        day -= timedelta(days=1)
        hour, name = SHIFTS[-1]
    else:
        hour, name = next((h, n) for h, n in reversed(SHIFTS) if local.hour >= h)
    return datetime.combine(day, time(hour), local.tzinfo), name


def shift_range(day: date, name: str, tz: tzinfo | None = None) -> tuple[datetime, datetime]:
    """[start, end) of shift ``name`` (A, B or C) that starts on ``day``, as aware datetimes."""
    hours = dict((n, h) for h, n in SHIFTS)
    if name not in hours:
        raise ValueError(f"shift {name!r}: expected one of {', '.join(hours)}")
    start = datetime.combine(day, time(hours[name]), tz or local_tz())
    return start, start + timedelta(hours=SHIFT_HOURS)


def _bucket(hour: datetime, by: str, tz: tzinfo) -> tuple[datetime, str]:
    local = hour.astimezone(tz)
    if by == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        return start, start.strftime("%m-%d %H:00")
    if by == "shift":
        start, name = shift_start(local, tz)
        return start, f"{start:%m-%d} {name}"
    start = datetime.combine(local.date(), time(0), tz)
    return start, f"{start:%Y-%m-%d}"


def yield_by(hours: Iterable[HourCount], by: str = "hour", tz: tzinfo | None = None) -> list[YieldBucket]:
    """Hourly counts regrouped by local hour, shift or day, oldest first (empty buckets left out)."""
    if by not in BUCKETS:
        raise ValueError(f"bucket {by!r}: expected one of {', '.join(BUCKETS)}")
    tz = tz or local_tz()
    sums: dict[datetime, list] = {}
    for h in hours:
        start, label = _bucket(h.hour, by, tz)
        acc = sums.setdefault(start, [label, 0, 0, 0, 0])
        acc[1] += h.total
        acc[2] += h.failed
        acc[3] += h.false_rejects
        acc[4] += h.escapes
    return [YieldBucket(start, *values) for start, values in sorted(sums.items())]


def review_label(review_status: str) -> str:
    """The histogram series of a review status."""
    if review_status in DEFECT_STATUSES:
        return "defect"
    if review_status in GOOD_STATUSES:
        return "good"
    return "unreviewed"


@dataclass(frozen=True)
class Histogram:
    edges: np.ndarray  # bins + 1 values
    counts: dict[str, np.ndarray]  # label -> counts per bin
    threshold: float | None

    @property
    def total(self) -> int:
        return int(sum(int(c.sum()) for c in self.counts.values()))


def histogram_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        lo, hi = (0.0, 1.0) if not np.isfinite(lo) else (lo, lo + 1.0)
    return np.linspace(lo, hi, bins + 1)


def histogram_from_bins(binned: Iterable[tuple[int, str, int]], lo: float, hi: float, bins: int,
                        threshold: float | None = None) -> Histogram:
    """A histogram from (bin index, review status, count) rows as the database groups them."""
    counts = {label: np.zeros(bins, dtype=np.int64) for label in LABELS}
    for index, status, n in binned:
        counts[review_label(status)][min(max(int(index), 0), bins - 1)] += int(n)
    return Histogram(histogram_edges(lo, hi, bins), counts, threshold)


def score_histogram(scores: Sequence[float], statuses: Sequence[str], bins: int = 40, lo: float | None = None,
                    hi: float | None = None, threshold: float | None = None) -> Histogram:
    """The same histogram from raw scores (scores equal to ``hi`` fall in the last bin)."""
    values = np.asarray(scores, dtype=np.float64)
    lo = float(values.min()) if lo is None and values.size else (lo or 0.0)
    hi = float(values.max()) if hi is None and values.size else (hi if hi is not None else 1.0)
    edges = histogram_edges(lo, hi, bins)
    index = np.clip(np.floor((values - edges[0]) / (edges[-1] - edges[0]) * bins), 0, bins - 1).astype(int)
    return histogram_from_bins(((int(i), s, 1) for i, s in zip(index, statuses, strict=True)), edges[0], edges[-1],
                               bins, threshold)


@dataclass(frozen=True)
class ParetoBar:
    name: str
    count: int
    cumulative: float  # share of all defects up to and including this class, 0..1


def pareto(counts: Mapping[str, int]) -> list[ParetoBar]:
    """Classes by count, largest first (ties by name), with the cumulative share."""
    total = sum(counts.values())
    bars, running = [], 0
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n <= 0:
            continue
        running += n
        bars.append(ParetoBar(name, int(n), running / total))
    return bars


@dataclass(frozen=True)
class WhatIf:
    """False rejects and escapes among reviewed records at the recorded thresholds and at ``threshold``."""

    threshold: float
    reviewed: int
    good: int
    defect: int
    false_rejects_now: int
    escapes_now: int
    false_rejects: int
    escapes: int

    @property
    def delta_false_rejects(self) -> int:
        return self.false_rejects - self.false_rejects_now

    @property
    def delta_escapes(self) -> int:
        return self.escapes - self.escapes_now


def what_if(scores: Sequence[float], is_defect: Sequence[bool], recorded_thresholds: Sequence[float | None],
            threshold: float) -> WhatIf:
    """What a single image threshold would do to the reviewed records (FAIL when score >= threshold)."""
    s = np.asarray(scores, dtype=np.float64)
    bad = np.asarray(is_defect, dtype=bool)
    t0 = np.array([np.nan if t is None else t for t in recorded_thresholds], dtype=np.float64)
    t0 = np.where(np.isnan(t0), threshold, t0)
    return WhatIf(float(threshold), int(s.size), int((~bad).sum()), int(bad.sum()),
                  int(((s >= t0) & ~bad).sum()), int(((s < t0) & bad).sum()),
                  int(((s >= threshold) & ~bad).sum()), int(((s < threshold) & bad).sum()))


def what_if_curve(scores: Sequence[float], is_defect: Sequence[bool],
                  thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """False rejects and escapes at each threshold (for the what-if plot)."""
    s = np.sort(np.asarray(scores, dtype=np.float64)[~np.asarray(is_defect, dtype=bool)])
    d = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(is_defect, dtype=bool)])
    t = np.asarray(thresholds, dtype=np.float64)
    return s.size - np.searchsorted(s, t, side="left"), np.searchsorted(d, t, side="left")
