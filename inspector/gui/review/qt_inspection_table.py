"""The inspection table: a model over keyset pages (fetchMore), loaded on the worker thread; a keyboard-first view."""

from __future__ import annotations

from dataclasses import replace
from datetime import tzinfo
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from inspector.gui.review.qt_worker import QtDbWorker
from inspector.review.charts_data import local_tz
from inspector.review.context import ReviewContext
from inspector.review.queries import Cursor, InspectionSummary, Page, ReviewFilter, Sort

COLUMNS = ("ID", "Acquired", "Station", "Recipe", "Model bundle", "Verdict", "Score", "Review", "Class", "Part")
SORTABLE = {1: "time", 6: "score"}
STATUS_TEXT = {"unreviewed": "", "confirmed": "confirmed", "false_positive": "false reject",
               "false_negative": "escape", "escalated": "escalated"}
VERDICT_COLOURS = {"PASS": QColor("#1e7b45"), "FAIL": QColor("#b3261e")}
STATUS_COLOURS = {"confirmed": QColor("#fbe3e1"), "false_positive": QColor("#e3f1e8"),
                  "false_negative": QColor("#fff1d6")}
Index = QModelIndex | QPersistentModelIndex


class QtInspectionTableModel(QAbstractTableModel):
    """Rows arrive a page at a time as the view scrolls; never all rows. ``set_query`` starts over."""

    count_changed = Signal(int)
    loading_changed = Signal(bool)
    page_loaded = Signal(int)
    error = Signal(str)

    def __init__(self, ctx: ReviewContext, worker: QtDbWorker, page_size: int = 200, tz: tzinfo | None = None,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx, self.worker, self.page_size, self.tz = ctx, worker, page_size, tz or local_tz()
        self.filters, self.sort_order = ReviewFilter(), Sort()
        self._rows: list[InspectionSummary] = []
        self._row_of: dict[int, int] = {}
        self._next: Cursor | None = None
        self._exhausted = True
        self._loading = False
        self._generation = 0
        self.total: int | None = None
        self._bold = QFont()
        self._bold.setBold(True)

    # -- queries -----------------------------------------------------------------------------------------------
    def set_query(self, filters: ReviewFilter | None = None, sort: Sort | None = None) -> None:
        self.beginResetModel()
        self.filters, self.sort_order = filters or self.filters, sort or self.sort_order
        self._rows, self._row_of, self._next, self._exhausted = [], {}, None, False
        self._generation += 1
        self._loading = False
        self.total = None
        self.endResetModel()
        self._request()  # the page first: the count (a scan on big filters) must not hold it up
        generation, filters_now = self._generation, self.filters
        self.worker.submit(lambda: self.ctx.queries.count(filters_now), lambda n: self._counted(generation, n),
                           self._failed)

    def refresh(self) -> None:
        self.set_query()

    def _request(self) -> None:
        if self._loading or self._exhausted:
            return
        self._set_loading(True)
        generation, filters, sort, after = self._generation, self.filters, self.sort_order, self._next
        self.worker.submit(lambda: self.ctx.queries.page(filters, sort, after, self.page_size),
                           lambda page: self._loaded(generation, page), self._failed)

    def _set_loading(self, loading: bool) -> None:
        if loading != self._loading:
            self._loading = loading
            self.loading_changed.emit(loading)

    def _loaded(self, generation: int, page: Page) -> None:
        if generation != self._generation:
            return  # an answer to an older query
        self._set_loading(False)
        self._next, self._exhausted = page.next, page.next is None
        if page.rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
            for offset, row in enumerate(page.rows):
                self._row_of[row.id] = first + offset
            self._rows.extend(page.rows)
            self.endInsertRows()
        self.page_loaded.emit(len(self._rows))

    def _counted(self, generation: int, total: int) -> None:
        if generation == self._generation:
            self.total = total
            self.count_changed.emit(total)

    def _failed(self, exc: BaseException) -> None:
        self._set_loading(False)
        self._exhausted = True
        self.error.emit(f"query failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    # -- rows --------------------------------------------------------------------------------------------------
    def row(self, index: int) -> InspectionSummary | None:
        return self._rows[index] if 0 <= index < len(self._rows) else None

    def index_of(self, inspection_id: int) -> int | None:
        return self._row_of.get(inspection_id)

    def update_row(self, summary: InspectionSummary) -> None:
        """Show a row's new review status (the row stays where it is until the next query)."""
        at = self._row_of.get(summary.id)
        if at is not None:
            self._rows[at] = summary
            self.dataChanged.emit(self.index(at, 0), self.index(at, len(COLUMNS) - 1))

    def mark(self, inspection_id: int, status: str, review_class: str | None) -> None:
        at = self._row_of.get(inspection_id)
        if at is not None:
            self.update_row(replace(self._rows[at], review_status=status, review_class=review_class))

    # -- Qt model ----------------------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid():
            self._request()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section in SORTABLE:
            return "Click to sort (keyset paging on an index)"
        return None

    def text(self, row: InspectionSummary, column: int) -> str:
        if column == 0:
            return str(row.id)
        if column == 1:
            return row.acquired_at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")
        if column == 2:
            return f"{row.station} · {row.camera}"
        if column == 3:
            return f"{row.recipe} v{row.recipe_version}"
        if column == 4:
            return row.bundle or "—"
        if column == 5:
            return row.verdict
        if column == 6:
            return "—" if row.score is None else f"{row.score:.3f}"
        if column == 7:
            return STATUS_TEXT.get(row.review_status, row.review_status)
        if column == 8:
            return row.defect_class or ""
        return (row.serial or "") + (f" · lot {row.lot}" if row.lot else "")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row(index.row()) if index.isValid() else None
        if row is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        if role == Qt.ItemDataRole.UserRole:
            return row
        if role == Qt.ItemDataRole.ForegroundRole and column == 5:
            return QBrush(VERDICT_COLOURS.get(row.verdict, QColor("black")))
        if role == Qt.ItemDataRole.FontRole and column == 5:
            return self._bold
        if role == Qt.ItemDataRole.BackgroundRole and column == 7 and row.review_status in STATUS_COLOURS:
            return QBrush(STATUS_COLOURS[row.review_status])
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == 8 and row.review_class and row.region_class:
            return f"review: {row.review_class}; model region: {row.region_class}"
        return None


class QtInspectionTable(QTableView):
    """The table with review keys: J/K or arrows move, 1-9 classify, F false reject, E escape, C comment,
    H heatmap on/off, B region boxes on/off."""

    review_key = Signal(str, int)  # "class" (with its digit), "false_reject", "escape", "comment", "heatmap", "boxes"
    sort_requested = Signal(str, bool)  # key, descending

    def __init__(self, model: QtInspectionTableModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(24)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(1, Qt.SortOrder.DescendingOrder)
        header.setSectionsClickable(True)
        header.sectionClicked.connect(self._header_clicked)
        for column, width in enumerate((64, 150, 120, 96, 110, 60, 64, 92)):
            self.setColumnWidth(column, width)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self._fetch_timer = QTimer(self, singleShot=True, interval=0)
        self._fetch_timer.timeout.connect(self._fill)
        self.verticalScrollBar().valueChanged.connect(self._fetch_timer.start)
        self.verticalScrollBar().rangeChanged.connect(self._fetch_timer.start)
        model.page_loaded.connect(self._fetch_timer.start)
        model.modelReset.connect(self._fetch_timer.start)

    def _fill(self) -> None:
        """Ask for the next page while the viewport is not full or is scrolled near the end."""
        model: QtInspectionTableModel = self.model()
        bar = self.verticalScrollBar()
        if model.canFetchMore() and (bar.maximum() == 0 or bar.value() >= bar.maximum() - bar.pageStep()):
            model.fetchMore()

    def _header_clicked(self, column: int) -> None:
        model: QtInspectionTableModel = self.model()
        current = model.sort_order
        if column not in SORTABLE:  # keep the indicator on the column that really sorts
            self.horizontalHeader().setSortIndicator(
                {v: k for k, v in SORTABLE.items()}[current.key],
                Qt.SortOrder.DescendingOrder if current.descending else Qt.SortOrder.AscendingOrder)
            return
        key = SORTABLE[column]
        descending = not current.descending if key == current.key else True
        self.horizontalHeader().setSortIndicator(
            column, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
        self.sort_requested.emit(key, descending)

    def current_row(self) -> int:
        return self.currentIndex().row() if self.currentIndex().isValid() else -1

    def select_row(self, row: int) -> None:
        model = self.model()
        if 0 <= row < model.rowCount():
            self.setCurrentIndex(model.index(row, 0))
            self.scrollTo(model.index(row, 0))

    def step(self, delta: int) -> None:
        row = self.current_row()
        target = 0 if row < 0 else row + delta
        model: QtInspectionTableModel = self.model()
        if target >= model.rowCount() - 5 and model.canFetchMore():
            model.fetchMore()
        self.select_row(max(0, min(target, model.rowCount() - 1)))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, plain = event.key(), not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        if plain and key in (Qt.Key.Key_J, Qt.Key.Key_Down):
            self.step(1)
        elif plain and key in (Qt.Key.Key_K, Qt.Key.Key_Up):
            self.step(-1)
        elif plain and Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            self.review_key.emit("class", key - Qt.Key.Key_0)
        elif plain and key == Qt.Key.Key_F:
            self.review_key.emit("false_reject", 0)
        elif plain and key == Qt.Key.Key_E:
            self.review_key.emit("escape", 0)
        elif plain and key == Qt.Key.Key_C:
            self.review_key.emit("comment", 0)
        elif plain and key == Qt.Key.Key_H:
            self.review_key.emit("heatmap", 0)
        elif plain and key == Qt.Key.Key_B:
            self.review_key.emit("boxes", 0)
        else:
            super().keyPressEvent(event)
