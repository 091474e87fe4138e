"""Reviews are stored with an audit entry and move review_status; the machine's record is never overwritten."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from inspector.review.context import ReviewContext
from inspector.review.service import ReviewError
from inspector.storage.migrate import downgrade, upgrade
from inspector.storage.orm import AuditRow, InspectionRow, ReviewRow
from inspector.storage.records import InspectionRecord

Filled = tuple[ReviewContext, dict[str, int]]


def machine_record(ctx: ReviewContext) -> dict[int, tuple]:
    with ctx.sessions() as session:
        rows = session.execute(select(InspectionRow.id, InspectionRow.verdict, InspectionRow.score,
                                      InspectionRow.reasons, InspectionRow.image_threshold,
                                      InspectionRow.truth_defect, InspectionRow.acquired_at)).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_reviews_are_stored_audited_and_never_touch_the_verdict(filled: Filled,
                                                                records: list[InspectionRecord]) -> None:
    ctx, ids = filled
    before = machine_record(ctx)
    fail = next(ids[r.uid] for r in records if r.verdict == "FAIL" and r.score)
    other_fail = next(ids[r.uid] for r in records if r.verdict == "FAIL" and ids[r.uid] != fail)
    passed = next(ids[r.uid] for r in records if r.verdict == "PASS")
    first = ctx.reviews.confirm(fail, "scratch", "deep, near the rim")
    assert (first.previous_status, first.review_status, first.review_class) == ("unreviewed", "confirmed", "scratch")
    again = ctx.reviews.false_reject(fail, "on second look: dust")
    assert (again.previous_status, again.review_status, again.review_class) == ("confirmed", "false_positive", None)
    note = ctx.reviews.comment(fail, "ask the line about dust")
    assert note.review_status == "false_positive"  # a comment leaves the status as the latest verdict review
    escape = ctx.reviews.escape(passed, "dent")
    assert (escape.review_status, escape.review_class) == ("false_negative", "dent")
    ctx.reviews.confirm(other_fail, "crack")

    with ctx.sessions() as session:
        reviews = session.scalars(select(ReviewRow).where(ReviewRow.inspection_id == fail).order_by(ReviewRow.id)).all()
        assert [(r.action, r.class_name, r.comment, r.user.name) for r in reviews] == [
            ("confirm", "scratch", "deep, near the rim", "ana"), ("false_reject", None, "on second look: dust", "ana"),
            ("comment", None, "ask the line about dust", "ana")]
        assert all(r.at.tzinfo is not None and r.at <= datetime.now(UTC) for r in reviews)
        audit = session.scalars(select(AuditRow).where(AuditRow.entity == "inspection", AuditRow.entity_id == str(fail))
                                .order_by(AuditRow.id)).all()
        assert [a.action for a in audit] == ["review.confirm", "review.false_reject", "review.comment"]
        assert audit[1].detail["previous_status"] == "confirmed" and audit[1].detail["review_id"] == reviews[1].id
        statuses = dict(session.execute(select(InspectionRow.id, InspectionRow.review_status)).all())
    assert (statuses[fail], statuses[passed], statuses[other_fail]) == ("false_positive", "false_negative", "confirmed")
    assert machine_record(ctx) == before  # verdict, score, reasons, thresholds, truth, time: all as logged
    detail = ctx.detail(fail)
    assert [r.action for r in detail.reviews] == ["confirm", "false_reject", "comment"]
    assert detail.verdict == before[fail][0] and detail.review_status == "false_positive"


def test_wrong_reviews_are_refused_and_leave_nothing(filled: Filled, records: list[InspectionRecord]) -> None:
    ctx, ids = filled
    passed = next(ids[r.uid] for r in records if r.verdict == "PASS")
    fail = next(ids[r.uid] for r in records if r.verdict == "FAIL")
    with pytest.raises(ReviewError, match="applies to a FAIL"):
        ctx.reviews.confirm(passed, "scratch")
    with pytest.raises(ReviewError, match="PASS that was bad"):
        ctx.reviews.escape(fail)
    with pytest.raises(ReviewError, match="no inspection"):
        ctx.reviews.comment(10**9, "hello")
    with ctx.sessions() as session:
        assert session.scalars(select(ReviewRow)).all() == [] and session.scalars(select(AuditRow)).all() == []


def test_migration_0002_keeps_existing_inspections(filled: Filled) -> None:
    ctx, ids = filled
    before = machine_record(ctx)
    ctx.reviews.confirm(next(iter(before)), "scratch")
    ctx.engine.dispose()
    downgrade(ctx.url, "0001")
    upgrade(ctx.url)
    assert machine_record(ctx) == before
    assert ctx.queries.count() == len(ids)
