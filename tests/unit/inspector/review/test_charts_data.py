"""Chart data: yield by hour, shift and day; histogram; Pareto; what-if threshold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest

from inspector.review.charts_data import (
    HourCount,
    histogram_from_bins,
    pareto,
    review_label,
    score_histogram,
    shift_range,
    shift_start,
    what_if,
    what_if_curve,
    yield_by,
)

CET = timezone(timedelta(hours=1))


def hours(start: datetime, n: int, total: int = 10, failed: int = 1) -> list[HourCount]:
    return [HourCount(start + timedelta(hours=i), total, failed, i % 2, i % 3 == 0) for i in range(n)]


@pytest.mark.parametrize(("local", "expected", "name"), [
    (datetime(2026, 3, 2, 6, 0, tzinfo=CET), datetime(2026, 3, 2, 6, tzinfo=CET), "A"),
    (datetime(2026, 3, 2, 13, 59, tzinfo=CET), datetime(2026, 3, 2, 6, tzinfo=CET), "A"),
    (datetime(2026, 3, 2, 14, 0, tzinfo=CET), datetime(2026, 3, 2, 14, tzinfo=CET), "B"),
    (datetime(2026, 3, 2, 22, 0, tzinfo=CET), datetime(2026, 3, 2, 22, tzinfo=CET), "C"),
    (datetime(2026, 3, 3, 5, 59, tzinfo=CET), datetime(2026, 3, 2, 22, tzinfo=CET), "C"),  # after midnight
])
def test_shift_start_follows_the_three_eight_hour_shifts(local: datetime, expected: datetime, name: str) -> None:
    assert shift_start(local.astimezone(UTC), CET) == (expected, name)


def test_shift_range_and_unknown_shift() -> None:
    start, end = shift_range(date(2026, 3, 2), "C", CET)
    assert (start, end) == (datetime(2026, 3, 2, 22, tzinfo=CET), datetime(2026, 3, 3, 6, tzinfo=CET))
    with pytest.raises(ValueError, match="shift 'D'"):
        shift_range(date(2026, 3, 2), "D", CET)


def test_yield_by_hour_shift_and_day_in_local_time() -> None:
    data = hours(datetime(2026, 3, 2, 4, tzinfo=UTC), 24)  # 05:00 CET on the 2nd .. 04:00 CET on the 3rd
    by_hour = yield_by(data, "hour", CET)
    assert len(by_hour) == 24 and by_hour[0].label == "03-02 05:00"
    assert by_hour[0].first_pass_yield == pytest.approx(0.9)
    by_shift = yield_by(data, "shift", CET)
    assert [b.label for b in by_shift] == ["03-01 C", "03-02 A", "03-02 B", "03-02 C"]
    assert [b.total for b in by_shift] == [10, 80, 80, 70]
    assert sum(b.total for b in by_shift) == sum(h.total for h in data)
    by_day = yield_by(data, "day", CET)
    assert [(b.label, b.total) for b in by_day] == [("2026-03-02", 190), ("2026-03-03", 50)]
    day = by_day[0]
    assert day.passed == 171 and day.reviewed_yield == pytest.approx((171 + day.false_rejects - day.escapes) / 190)
    with pytest.raises(ValueError, match="bucket"):
        yield_by(data, "week")


def test_empty_yield_is_nan_not_an_error() -> None:
    [bucket] = yield_by([HourCount(datetime(2026, 1, 1, tzinfo=UTC), 0, 0)], "day", UTC)
    assert np.isnan(bucket.first_pass_yield) and np.isnan(bucket.reviewed_yield)


def test_histogram_split_by_review_label() -> None:
    assert [review_label(s) for s in ("confirmed", "false_negative", "false_positive", "unreviewed", "escalated")] == [
        "defect", "defect", "good", "unreviewed", "unreviewed"]
    h = score_histogram([0.0, 0.1, 0.55, 0.9, 1.0], ["unreviewed", "false_positive", "confirmed", "confirmed",
                                                      "false_negative"], bins=10, lo=0.0, hi=1.0, threshold=0.5)
    assert h.total == 5 and h.threshold == 0.5 and len(h.edges) == 11
    assert h.counts["defect"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 2]  # 1.0 lands in the last bin
    assert h.counts["good"][1] == 1 and h.counts["unreviewed"][0] == 1
    same = histogram_from_bins([(0, "unreviewed", 1), (1, "false_positive", 1), (5, "confirmed", 1),
                                (9, "confirmed", 1), (10, "false_negative", 1)], 0.0, 1.0, 10, 0.5)
    assert all((same.counts[k] == h.counts[k]).all() for k in h.counts)


def test_pareto_sorts_and_accumulates() -> None:
    bars = pareto({"dent": 2, "scratch": 5, "stain": 2, "none": 0, "crack": 1})
    assert [(b.name, b.count) for b in bars] == [("scratch", 5), ("dent", 2), ("stain", 2), ("crack", 1)]
    assert [round(b.cumulative, 2) for b in bars] == [0.5, 0.7, 0.9, 1.0]
    assert pareto({}) == []


def test_what_if_counts_false_rejects_and_escapes_on_reviewed_records() -> None:
    scores = [0.2, 0.45, 0.55, 0.7, 0.48, 0.9]
    is_defect = [False, False, False, True, True, True]
    recorded = [0.5, 0.5, 0.5, 0.5, 0.5, None]
    now = what_if(scores, is_defect, recorded, 0.5)
    assert (now.reviewed, now.good, now.defect) == (6, 3, 3)
    assert (now.false_rejects_now, now.escapes_now, now.false_rejects, now.escapes) == (1, 1, 1, 1)
    lower = what_if(scores, is_defect, recorded, 0.4)
    assert (lower.false_rejects, lower.escapes, lower.delta_false_rejects, lower.delta_escapes) == (2, 0, 1, -1)
    higher = what_if(scores, is_defect, recorded, 0.6)
    assert (higher.false_rejects, higher.escapes) == (0, 1)
    fr, esc = what_if_curve(scores, is_defect, [0.4, 0.5, 0.6, 1.0])
    assert fr.tolist() == [2, 1, 0, 0] and esc.tolist() == [0, 1, 1, 3]
