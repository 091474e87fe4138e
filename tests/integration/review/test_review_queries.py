"""Every filter, keyset paging in both sort orders, detail and chart aggregates: SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from inspector.review.context import ReviewContext
from inspector.review.queries import ReviewFilter, Sort
from inspector.storage.records import InspectionRecord
from tests.unit.inspector.review.factories import START, STEP

Filled = tuple[ReviewContext, dict[str, int]]


def at(record: InspectionRecord) -> datetime:
    return datetime.fromtimestamp(record.acquired_at, UTC)


def classes(record: InspectionRecord) -> set[str]:
    return {g.class_name for g in record.regions}


FILTERS = [
    (ReviewFilter(), lambda r: True),
    (ReviewFilter(start=START + STEP * 5, end=START + STEP * 17),
     lambda r: START + STEP * 5 <= at(r) < START + STEP * 17),
    (ReviewFilter(station="line-2"), lambda r: r.station == "line-2"),
    (ReviewFilter(station="nowhere"), lambda r: False),
    (ReviewFilter(recipe="washer"), lambda r: r.recipe == "washer"),
    (ReviewFilter(recipe="pcb"), lambda r: r.recipe == "pcb"),
    (ReviewFilter(bundle="bundle-b"), lambda r: r.bundle_id == "bundle-b"),
    (ReviewFilter(verdict="FAIL"), lambda r: r.verdict == "FAIL"),
    (ReviewFilter(verdict="PASS"), lambda r: r.verdict == "PASS"),
    (ReviewFilter(min_score=0.5), lambda r: r.score is not None and r.score >= 0.5),
    (ReviewFilter(max_score=0.3), lambda r: r.score is not None and r.score <= 0.3),
    (ReviewFilter(min_score=0.3, max_score=0.6), lambda r: r.score is not None and 0.3 <= r.score <= 0.6),
    (ReviewFilter(review_status="unreviewed"), lambda r: True),
    (ReviewFilter(review_status="confirmed"), lambda r: False),
    (ReviewFilter(defect_class="scratch"), lambda r: "scratch" in classes(r)),
    (ReviewFilter(defect_class="anomaly"), lambda r: "anomaly" in classes(r)),
    (ReviewFilter(station="line-1", verdict="FAIL", recipe="washer"),
     lambda r: r.station == "line-1" and r.verdict == "FAIL" and r.recipe == "washer"),
]


def test_every_filter_matches_the_reference(filled: Filled, records: list[InspectionRecord]) -> None:
    ctx, ids = filled
    for filters, predicate in FILTERS:
        expected = sorted((ids[r.uid] for r in records if predicate(r)), reverse=True)
        assert ctx.queries.count(filters) == len(expected), filters
        got = [row.id for row in ctx.queries.iter_rows(filters, batch=7)]
        assert got == expected, filters  # newest first (ids rise with time), across pages of 7


def test_review_status_and_review_class_filters_follow_reviews(filled: Filled, records: list[InspectionRecord]) -> None:
    ctx, ids = filled
    passes = [ids[r.uid] for r in records if r.verdict == "PASS"]
    fails = [ids[r.uid] for r in records if r.verdict == "FAIL" and not r.regions]
    ctx.reviews.confirm(fails[0], "burr")
    ctx.reviews.escape(passes[0], "dent")
    ctx.reviews.false_reject(fails[1])
    assert [r.id for r in ctx.queries.iter_rows(ReviewFilter(defect_class="burr"))] == [fails[0]]
    dents = {r.id for r in ctx.queries.iter_rows(ReviewFilter(defect_class="dent"))}
    assert passes[0] in dents and dents >= {ids[r.uid] for r in records if "dent" in classes(r)}
    assert [r.id for r in ctx.queries.iter_rows(ReviewFilter(review_status="false_positive"))] == [fails[1]]
    assert ctx.queries.count(ReviewFilter(review_status="unreviewed")) == len(records) - 3
    assert "burr" in ctx.queries.options().classes


def test_keyset_paging_is_complete_ordered_and_without_duplicates(filled: Filled,
                                                                  records: list[InspectionRecord]) -> None:
    ctx, ids = filled
    for key, descending in (("time", True), ("time", False), ("score", True), ("score", False)):
        sort = Sort(key, descending)
        seen, after, pages = [], None, 0
        while True:
            page = ctx.queries.page(ReviewFilter(), sort, after, limit=6)
            seen += page.rows
            pages += 1
            if page.next is None:
                break
            after = page.next
        assert pages == 7 and len(seen) == len({r.id for r in seen}) == len(records), sort
        if key == "time":
            expected = sorted(ids.values(), reverse=descending)
        else:
            scored = sorted((r for r in records if r.score is not None), key=lambda r: (r.score, ids[r.uid]),
                            reverse=descending)
            unscored = sorted((ids[r.uid] for r in records if r.score is None), reverse=descending)
            expected = [ids[r.uid] for r in scored] + unscored  # no score: last either way
        assert [r.id for r in seen] == expected, sort


def test_equal_sort_values_page_by_id(filled: Filled) -> None:
    ctx, ids = filled
    rows = ctx.queries.page(ReviewFilter(), Sort("time"), limit=3).rows
    tie = ctx.queries.page(ReviewFilter(), Sort("time"), after=type(rows[0].cursor(Sort()))(rows[1].acquired_at,
                                                                                           rows[1].id + 1), limit=2)
    assert [r.id for r in tie.rows] == [rows[1].id, rows[2].id]


def test_summary_and_detail_carry_everything_the_view_shows(filled: Filled, records: list[InspectionRecord]) -> None:
    ctx, ids = filled
    record = next(r for r in records if r.verdict == "FAIL" and r.regions and r.bundle_id)
    detail = ctx.detail(ids[record.uid])
    assert (detail.station, detail.camera, detail.frame_id, detail.recipe, detail.recipe_version, detail.bundle) == (
        record.station, record.camera, record.frame_id, record.recipe, record.recipe_version, record.bundle_id)
    assert (detail.verdict, detail.score, detail.image_threshold, detail.reasons) == (
        record.verdict, record.score, record.image_threshold, record.reasons)
    assert list(detail.latencies_ms) == ["acquire", "inference", "decision", "total"]
    assert [(g.x, g.y, g.width, g.height, g.class_name) for g in detail.regions] == [
        (g.x, g.y, g.width, g.height, g.class_name) for g in record.regions]
    assert detail.image == record.image.relpath and detail.heatmap == record.heatmap.relpath
    full, pictures = ctx.detail_with_pictures(ids[record.uid])
    assert pictures.error is None and pictures.image.shape == (96, 96, 3) and pictures.heatmap.shape == (96, 96, 3)
    summary = ctx.queries.summary(ids[record.uid])
    assert summary.region_class == record.regions[0].class_name and summary.defect_class == summary.region_class
    assert ctx.detail(10**9) is None and ctx.queries.summary(10**9) is None


def test_chart_aggregates_match_the_records(filled: Filled, records: list[InspectionRecord]) -> None:
    ctx, ids = filled
    fails = [ids[r.uid] for r in records if r.verdict == "FAIL"]
    ctx.reviews.false_reject(fails[0])
    ctx.reviews.confirm(fails[1], "crack")
    data = ctx.charts.all(ReviewFilter())
    assert data.total == len(records) and data.failed == len(fails)
    by_hour = Counter(at(r).replace(minute=0, second=0, microsecond=0) for r in records)
    assert {h.hour: h.total for h in data.hours} == dict(by_hour)
    assert sum(h.false_rejects for h in data.hours) == 1
    assert data.histogram.total == sum(r.score is not None for r in records) and data.threshold == 0.5
    assert data.histogram.counts["good"].sum() == 1 and data.histogram.counts["defect"].sum() == 1
    assert sum(data.defects.values()) == len(fails) - 1 and data.defects["crack"] >= 1
    assert len(data.reviewed.scores) == 2 and sorted(data.reviewed.is_defect) == [False, True]
    narrow = ctx.charts.all(ReviewFilter(station="line-1", start=START + timedelta(hours=6)))
    assert narrow.total == sum(r.station == "line-1" and at(r) >= START + timedelta(hours=6) for r in records)


def test_filter_by_part_serial_and_lot(filled: Filled) -> None:
    ctx, _ = filled
    queries = ctx.queries
    assert queries.count(ReviewFilter(lot="LOT-A")) == 20
    [row] = queries.page(ReviewFilter(serial="S00007")).rows
    assert (row.serial, row.lot) == ("S00007", "LOT-A")
    assert queries.count(ReviewFilter(serial="S00007", lot="LOT-B")) == 0
