"""The review window driven like a QA engineer would: filter, sort, page, review by keyboard, export."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from sqlalchemy import select

from inspector.review.queries import ReviewFilter
from inspector.storage.orm import InspectionRow, ReviewRow


def idle(window) -> bool:
    return window.worker.idle() and window.slow_worker.idle() and not window.model.loading


def rows(window) -> list:
    return [window.model.row(i) for i in range(window.model.rowCount())]


def load_all(qtbot, window) -> None:
    """Scroll to the end until the model has every matching row (each scroll asks for one more page)."""
    model, bar = window.model, window.table.verticalScrollBar()
    qtbot.waitUntil(lambda: idle(window) and model.total is not None)
    while not model.exhausted:
        before = model.rowCount()
        bar.setValue(bar.maximum())
        qtbot.waitUntil(lambda before=before: (model.rowCount() > before or model.exhausted) and idle(window))
    assert model.rowCount() == model.total


def test_table_pages_as_it_scrolls_and_filters_and_sorts(qtbot, make_review_window) -> None:
    window = make_review_window(page_size=5, size=(1400, 700))
    model = window.model
    window.table.setFixedHeight(160)  # a short view: 40 rows are several screens
    model.set_query(ReviewFilter())  # again, now that the view has its final size
    qtbot.waitUntil(lambda: idle(window) and model.total == 40)
    qtbot.wait(50)
    qtbot.waitUntil(lambda: idle(window))
    loaded = model.rowCount()
    assert 5 <= loaded < 40 and loaded % 5 == 0 and model.canFetchMore()  # enough pages to fill the view, no more
    load_all(qtbot, window)
    assert model.rowCount() == 40 and "40 inspections" in window.count_label.text()
    assert [r.acquired_at for r in rows(window)] == sorted((r.acquired_at for r in rows(window)), reverse=True)

    window.filter_bar.select(window.filter_bar.verdict, "FAIL")
    qtbot.waitUntil(lambda: idle(window) and model.filters.verdict == "FAIL" and model.rowCount() > 0)
    load_all(qtbot, window)
    assert {r.verdict for r in rows(window)} == {"FAIL"}
    window.filter_bar.select(window.filter_bar.station, "line-2")
    qtbot.waitUntil(lambda: idle(window) and model.filters.station == "line-2")
    load_all(qtbot, window)
    assert {(r.verdict, r.station) for r in rows(window)} == {("FAIL", "line-2")}

    window.filter_bar.reset()
    qtbot.waitUntil(lambda: idle(window) and model.filters.station is None and model.rowCount() >= 5)
    header = window.table.horizontalHeader()
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(6) + 5, 5))
    qtbot.waitUntil(lambda: idle(window) and model.sort_order.key == "score")
    load_all(qtbot, window)
    scores = [r.score for r in rows(window)]
    scored = [s for s in scores if s is not None]
    assert scored == sorted(scored, reverse=True) and scores[len(scored):] == [None] * (40 - len(scored))
    assert model.sort_order.descending


def test_keyboard_review_stores_reviews_and_keeps_the_verdict(qtbot, make_review_window) -> None:
    window = make_review_window()
    table, model = window.table, window.model
    with window.ctx.sessions() as session:
        before = session.execute(select(InspectionRow.id, InspectionRow.verdict, InspectionRow.score,
                                        InspectionRow.reasons)).all()
    table.setFocus()
    first_fail = next(i for i, r in enumerate(rows(window)) if r.verdict == "FAIL")
    table.select_row(first_fail)
    target = model.row(first_fail)
    qtbot.keyClick(table, Qt.Key.Key_2)  # confirm as the second class
    assert table.current_row() == first_fail + 1  # advanced at once, saved in the background
    qtbot.waitUntil(lambda: idle(window) and model.row(first_fail).review_status == "confirmed")
    assert model.row(first_fail).review_class == window.classes[1]

    table.select_row(first_fail)
    qtbot.keyClick(table, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: idle(window) and model.row(first_fail).review_status == "false_positive")
    pass_row = next(i for i, r in enumerate(rows(window)) if r.verdict == "PASS")
    table.select_row(pass_row)
    qtbot.keyClick(table, Qt.Key.Key_F)  # F on a PASS is refused with a message
    assert "applies to a FAIL" in window.message.text()
    qtbot.keyClick(table, Qt.Key.Key_E)
    qtbot.waitUntil(lambda: idle(window) and model.row(pass_row).review_status == "false_negative")
    table.select_row(first_fail)
    qtbot.keyClick(table, Qt.Key.Key_C)
    assert window.detail.comment_edit.hasFocus()
    qtbot.keyClicks(window.detail.comment_edit, "dust on the lens")
    qtbot.keyClick(window.detail.comment_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: idle(window) and window.detail.detail is not None
                    and len(window.detail.detail.reviews) == 3)
    assert "dust on the lens" in window.detail.history.text() and table.hasFocus()
    qtbot.keyClick(table, Qt.Key.Key_J)
    qtbot.keyClick(table, Qt.Key.Key_K)
    assert table.current_row() == first_fail

    with window.ctx.sessions() as session:
        reviews = session.execute(select(ReviewRow.inspection_id, ReviewRow.action, ReviewRow.class_name,
                                         ReviewRow.comment).order_by(ReviewRow.id)).all()
        after = session.execute(select(InspectionRow.id, InspectionRow.verdict, InspectionRow.score,
                                       InspectionRow.reasons)).all()
    assert [tuple(r) for r in reviews] == [
        (target.id, "confirm", window.classes[1], None), (target.id, "false_reject", None, None),
        (model.row(pass_row).id, "escape", None, None), (target.id, "comment", None, "dust on the lens")]
    assert sorted(after) == sorted(before)


def test_detail_shows_picture_score_and_facts(qtbot, make_review_window) -> None:
    window = make_review_window()
    index = next(i for i, r in enumerate(rows(window)) if r.verdict == "FAIL" and r.region_class)
    window.table.select_row(index)
    row = window.model.row(index)
    qtbot.waitUntil(lambda: window.detail.detail is not None and window.detail.detail.id == row.id)
    detail = window.detail
    assert detail.image_view.image is not None and detail.image_view.regions
    assert (detail.score_bar.score, detail.score_bar.threshold) == (row.score, 0.5)
    assert row.bundle in detail.facts["Model bundle"].text() and "washer v" in detail.facts["Recipe"].text()
    assert "inference" in detail.facts["Latency (ms)"].text() and f"#{row.id}" in detail.title.text()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_H)
    qtbot.keyClick(window.table, Qt.Key.Key_B)
    assert not detail.heatmap_box.isChecked() and not detail.image_view.boxes_visible
    assert detail.image_view.image is not None


def test_charts_and_what_if_follow_reviews(qtbot, make_review_window) -> None:
    window = make_review_window()
    fails = [r for r in rows(window) if r.verdict == "FAIL" and r.score is not None]
    for r in fails[:3]:
        window.ctx.reviews.confirm(r.id, "scratch")
    window.ctx.reviews.false_reject(fails[3].id)
    window.refresh_charts()
    qtbot.waitUntil(lambda: idle(window) and window.charts.last_what_if is not None)
    result = window.charts.last_what_if
    assert (result.reviewed, result.defect, result.good) == (4, 3, 1)
    window.charts.set_threshold(1.5)
    assert window.charts.last_what_if.false_rejects == 0 and window.charts.last_what_if.escapes == 3
    assert "escapes" in window.charts.what_if_label.text()
    window.charts.bucket.setCurrentText("shift")
    assert window.charts.data.total == 40


def test_exports_from_the_window(qtbot, make_review_window, tmp_path: Path) -> None:
    window = make_review_window()
    window.filter_bar.select(window.filter_bar.verdict, "PASS")
    qtbot.waitUntil(lambda: idle(window) and window.model.filters.verdict == "PASS")
    window.export_csv(tmp_path / "pass.csv")
    qtbot.waitUntil(lambda: window.last_export is not None, timeout=10_000)
    with (tmp_path / "pass.csv").open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == window.model.total and {r["verdict"] for r in exported} == {"PASS"}
    window.last_export = None
    window.export_report(tmp_path / "report.html", "PASS report")
    qtbot.waitUntil(lambda: window.last_export is not None, timeout=20_000)
    assert "PASS report" in (tmp_path / "report.html").read_text() and "report written" in window.message.text()


def test_model_fetches_one_page_at_a_time_without_a_view(qtbot, make_review_window) -> None:
    from inspector.gui.review.qt_inspection_table import QtInspectionTableModel
    from inspector.review.queries import ReviewFilter, Sort

    window = make_review_window()
    model = QtInspectionTableModel(window.ctx, window.worker, page_size=15)
    model.set_query(ReviewFilter(verdict="PASS"), Sort("score", descending=False))
    qtbot.waitUntil(lambda: not model.loading and model.rowCount() == 15)
    assert model.canFetchMore()
    model.fetchMore()
    assert not model.canFetchMore()  # one request at a time
    qtbot.waitUntil(lambda: not model.loading and model.total is not None)
    while model.canFetchMore():
        model.fetchMore()
        qtbot.waitUntil(lambda: not model.loading)
    scores = [model.row(i).score for i in range(model.rowCount())]
    assert model.rowCount() == model.total and scores == sorted(scores) and model.exhausted
