"""A screenshot of the review window over real data: rendered parts, heatmaps, regions, reviews, charts."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from inspector.gui.review.qt_review_window import QtReviewWindow
from inspector.review.context import ReviewContext
from inspector.storage.archive import ArtifactStore
from inspector.storage.database import default_sqlite_url, make_engine, make_session_factory
from inspector.storage.migrate import upgrade
from tests.unit.inspector.review.factories import add_reviewers, fill, make_records


def test_review_window_screenshot(qtbot, tmp_path: Path, test_output: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    records = make_records(store, 72, size=176)
    url = default_sqlite_url(tmp_path)
    upgrade(url)
    engine = make_engine(url)
    ids = fill(make_session_factory(engine), records)
    add_reviewers(make_session_factory(engine))
    engine.dispose()
    ctx = ReviewContext(url, "ana", store.root)
    for r in records[24:]:  # the newest two thirds have been reviewed, with the simulator's truth
        if r.verdict == "FAIL" and r.truth_defective:
            ctx.reviews.confirm(ids[r.uid], r.truth_defect)
        elif r.verdict == "FAIL":
            ctx.reviews.false_reject(ids[r.uid], "reflection on the rim")
        elif r.truth_defective:
            ctx.reviews.escape(ids[r.uid], r.truth_defect)
    window = QtReviewWindow(ctx, tz=UTC)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitUntil(lambda: window.model.rowCount() == 72 and window.worker.idle() and window.slow_worker.idle(),
                    timeout=15_000)
    window.charts.bucket.setCurrentText("shift")
    window.charts.setCurrentIndex(1)
    target = next(i for i in range(window.model.rowCount()) if window.model.row(i).review_status == "confirmed"
                  and window.model.row(i).region_class)
    window.table.select_row(target)
    window.table.setFocus()
    qtbot.waitUntil(lambda: window.detail.detail is not None and window.detail.detail.id == window.model.row(target).id
                    and window.worker.idle(), timeout=10_000)
    qtbot.wait(100)
    path = test_output / "review_window.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 50_000
    window.charts.setCurrentIndex(3)
    qtbot.wait(50)
    assert window.grab().save(str(test_output / "review_window_what_if.png"))
    window.close()
    ctx.close()
