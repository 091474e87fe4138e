"""The QA review window: filters, the paged inspection table, the detail view, charts, keyboard review, exports."""

from __future__ import annotations

import os
from datetime import tzinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from inspector.gui.review.qt_charts import QtChartsPanel
from inspector.gui.review.qt_detail_view import QtDetailView
from inspector.gui.review.qt_filter_bar import QtFilterBar
from inspector.gui.review.qt_inspection_table import QtInspectionTable, QtInspectionTableModel
from inspector.gui.review.qt_style import STYLE, light_palette
from inspector.gui.review.qt_worker import QtDbWorker
from inspector.review.charts_data import local_tz
from inspector.review.context import ReviewContext
from inspector.review.dataset_export import export_dataset
from inspector.review.export import describe, write_csv, write_html_report
from inspector.review.queries import FilterOptions, ReviewFilter, Sort
from inspector.review.service import ReviewError, ReviewOutcome, check_review
from inspector.storage.database import mask_url

DEFAULT_CLASSES = ("scratch", "crack", "dent", "stain", "missing", "print")
CLASSES_ENV = "INSPECTOR_REVIEW_CLASSES"
KEYS_HELP = "J/K next/prev · 1-9 class · F false reject · E escape · C comment · H heatmap · B boxes"


def review_classes(known: list[str]) -> list[str]:
    """The classes behind keys 1-9: $INSPECTOR_REVIEW_CLASSES, else classes seen in the data, then the defaults."""
    if os.environ.get(CLASSES_ENV):
        return [c.strip() for c in os.environ[CLASSES_ENV].split(",") if c.strip()][:9]
    seen = [c for c in known if c != "anomaly"]
    return (seen + [c for c in DEFAULT_CLASSES if c not in seen])[:9]


class QtReviewWindow(QMainWindow):
    """Every database call goes through a worker thread; the GUI thread only paints and reacts."""

    def __init__(self, ctx: ReviewContext, tz: tzinfo | None = None, page_size: int = 200,
                 parent: Any = None) -> None:
        super().__init__(parent)
        # Light theme whatever the application's palette (the station window sets a dark one and opens this).
        self.setPalette(light_palette())
        self.ctx, self.tz = ctx, tz or local_tz()
        self.classes: list[str] = review_classes([])
        self.worker = QtDbWorker(self)  # table pages, details, reviews: quick and in order
        self.slow_worker = QtDbWorker(self)  # charts and exports
        self.model = QtInspectionTableModel(ctx, self.worker, page_size, self.tz, self)
        self.filter_bar = QtFilterBar(self.tz)
        self.filter_bar.setObjectName("filterBar")
        self.table = QtInspectionTable(self.model)
        self.detail = QtDetailView(self.tz)
        self.detail.setObjectName("detail")
        self.charts = QtChartsPanel(self.tz)
        self.count_label, self.message = QLabel(""), QLabel("")
        self._detail_timer = QTimer(self, singleShot=True, interval=60, timeout=self._load_detail)
        self._charts_timer = QTimer(self, singleShot=True, interval=1200, timeout=self.refresh_charts)
        self._detail_id: int | None = None
        self._charts_running = self._charts_dirty = False
        self.last_export: Any = None
        self._build()
        self._connect()
        self.setWindowTitle(f"Inspection review — {mask_url(ctx.url)}")
        self.setStyleSheet(STYLE)
        self.detail.set_classes(self.classes)
        self.slow_worker.submit(ctx.queries.options, self._options)
        self.apply_filters(self.filter_bar.filters())

    def _build(self) -> None:
        tools = QToolBar("Review")
        tools.setMovable(False)
        self.addToolBar(tools)
        for text, shortcut, slot in (("Refresh", QKeySequence.StandardKey.Refresh, self.refresh),
                                     ("Export CSV…", None, self._ask_csv), ("HTML report…", None, self._ask_report),
                                     ("Export dataset…", None, self._ask_dataset)):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            tools.addAction(action)
        central = QWidget()
        central.setObjectName("central")
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.filter_bar)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.table)
        top.addWidget(self.detail)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([900, 600])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        body.addWidget(self.charts)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        body.setSizes([600, 300])
        body.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(body, 1)
        self.setCentralWidget(central)
        status = self.statusBar()
        status.addWidget(self.count_label)
        status.addWidget(self.message, 1)
        status.addPermanentWidget(QLabel(f"reviewer {self.ctx.reviewer} · {KEYS_HELP}"))

    def _connect(self) -> None:
        self.filter_bar.changed.connect(self.apply_filters)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.table.review_key.connect(self._review_key)
        self.table.sort_requested.connect(lambda key, desc: self.model.set_query(sort=Sort(key, desc)))
        self.detail.review_requested.connect(self._detail_review)
        self.model.count_changed.connect(self._show_counts)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.error.connect(self.say)
        self.worker.failed.connect(self.say)
        self.slow_worker.failed.connect(self.say)

    # -- data flow ---------------------------------------------------------------------------------------------
    def _options(self, options: FilterOptions) -> None:
        self.filter_bar.set_options(options)
        self.classes = review_classes(options.classes)
        self.detail.set_classes(self.classes)

    def apply_filters(self, filters: ReviewFilter) -> None:
        self._detail_id = None
        self.model.set_query(filters)
        self.count_label.setText("counting…")
        self.refresh_charts()

    def refresh(self) -> None:
        self.slow_worker.submit(self.ctx.queries.options, self._options)
        self.apply_filters(self.filter_bar.filters())

    def refresh_charts(self) -> None:
        """Recompute the charts; requests made while one runs collapse into one rerun with the newest filters."""
        if self._charts_running:
            self._charts_dirty = True
            return
        self._charts_running, self._charts_dirty = True, False
        filters = self.model.filters
        self.slow_worker.submit(lambda: self.ctx.charts.all(filters), self._charts_done, self._charts_failed)

    def _charts_done(self, data: Any) -> None:
        self._charts_running = False
        if self._charts_dirty:
            self.refresh_charts()
        else:
            self.charts.set_data(data)

    def _charts_failed(self, exc: BaseException) -> None:
        self._charts_running = False
        self.say(f"charts failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")

    def _show_counts(self, total: int) -> None:
        self.count_label.setText(f"{total:,} inspections · {self.model.rowCount():,} loaded")

    def _page_loaded(self, loaded: int) -> None:
        if self.model.total is not None:
            self._show_counts(self.model.total)
        if self.table.current_row() < 0 and loaded:
            self.table.select_row(0)

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row(current.row())
        self._detail_id = None if row is None else row.id
        self._detail_timer.start()

    def _load_detail(self) -> None:
        wanted = self._detail_id
        if wanted is None:
            self.detail.show_detail(None, None)
            return
        self.worker.submit(lambda: self.ctx.detail_with_pictures(wanted),
                           lambda result: self._detail_loaded(wanted, result))

    def _detail_loaded(self, inspection_id: int, result: tuple) -> None:
        if inspection_id == self._detail_id:
            self.detail.show_detail(*result)

    def say(self, text: str) -> None:
        self.message.setText(text)

    # -- reviews -----------------------------------------------------------------------------------------------
    def _review_key(self, action: str, digit: int) -> None:
        if action == "comment":
            self.detail.comment_edit.setFocus()
            return
        if action in ("heatmap", "boxes"):
            box = self.detail.heatmap_box if action == "heatmap" else self.detail.boxes_box
            box.setChecked(not box.isChecked())
            return
        if action == "class":
            if digit > len(self.classes):
                self.say(f"no class on key {digit}")
                return
            self.review("class", self.classes[digit - 1], advance=True)
        else:
            self.review(action, advance=True)

    def _detail_review(self, action: str, class_name: str | None, comment: str | None) -> None:
        self.review(action, class_name, comment, advance=action != "comment")
        self.table.setFocus()

    def review(self, action: str, class_name: str | None = None, comment: str | None = None,
               advance: bool = False) -> None:
        """Review the current row: "class" confirms a FAIL as ``class_name`` or marks a PASS an escape of it."""
        row = self.model.row(self.table.current_row())
        if row is None:
            self.say("select an inspection first")
            return
        if action == "class":
            action = "confirm" if row.verdict == "FAIL" else "escape"
        try:
            check_review(row.verdict, action, class_name, comment)
        except ReviewError as exc:
            self.say(f"#{row.id}: {exc}")
            return
        inspection_id = row.id

        def job() -> tuple[ReviewOutcome, Any]:
            return self.ctx.reviews.record(inspection_id, action, class_name, comment), \
                self.ctx.queries.summary(inspection_id)

        self.worker.submit(job, self._reviewed, lambda exc: self.say(f"#{inspection_id}: review not saved: {exc}"))
        if advance:
            self.table.step(1)

    def _reviewed(self, result: tuple[ReviewOutcome, Any]) -> None:
        outcome, summary = result
        if summary is not None:
            self.model.update_row(summary)
        what = outcome.entry.action.replace("_", " ")
        self.say(f"#{outcome.inspection_id}: {what}" + (f" ({outcome.entry.class_name})" if outcome.entry.class_name
                                                         else "") + " saved")
        if outcome.inspection_id == self._detail_id:
            self._load_detail()
        self._charts_timer.start()

    # -- exports -----------------------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> None:
        filters, sort = self.model.filters, self.model.sort_order
        self.say(f"exporting CSV to {path}…")
        self.slow_worker.submit(lambda: write_csv(self.ctx, path, filters, sort), lambda n: self._exported(
            n, f"wrote {n:,} rows to {path}"))

    def export_report(self, path: str | Path, title: str | None = None) -> None:
        filters = self.model.filters
        title = title or f"Inspection report — {describe(filters, self.tz)}"
        self.say(f"writing report {path}…")
        self.slow_worker.submit(lambda: write_html_report(self.ctx, path, filters, title=title, tz=self.tz,
                                                          by=self.charts.bucket.currentText()),
                                lambda s: self._exported(s, f"report written: {path} ({s.total:,} inspections)"))

    def export_dataset(self, folder: str | Path) -> None:
        filters = self.model.filters
        self.slow_worker.submit(lambda: export_dataset(self.ctx.queries, self.ctx.store, folder, filters=filters,
                                                       source=mask_url(self.ctx.url)),
                                lambda s: self._exported(s, f"dataset written: {folder} ({s.written} images)"))

    def _exported(self, result: Any, text: str) -> None:
        self.last_export = result
        self.say(text)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "inspections.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _ask_report(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "HTML report", "inspection-report.html", "HTML (*.html)")
        if path:
            self.export_report(path)

    def _ask_dataset(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Empty folder for the dataset")
        if folder:
            self.export_dataset(folder)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.worker.shutdown(wait=True)
        self.slow_worker.shutdown(wait=True)
        super().closeEvent(event)
