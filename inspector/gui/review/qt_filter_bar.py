"""The filter bar: time range (presets and shifts), station, recipe, bundle, verdict, score, review, class."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from PySide6.QtCore import QDateTime, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from inspector.review.charts_data import local_tz, shift_start
from inspector.review.queries import FilterOptions, ReviewFilter

ANY = "Any"
TIME_PRESETS = ("All time", "Last hour", "Last 24 h", "Current shift", "Previous shift", "Today", "Custom")
REVIEW_CHOICES = {"unreviewed": "Unreviewed", "confirmed": "Confirmed defect", "false_positive": "False reject",
                  "false_negative": "Escape"}


def time_range(preset: str, now: datetime, tz: tzinfo) -> tuple[datetime | None, datetime | None]:
    """[start, end) of a time preset relative to ``now`` (None: open)."""
    if preset == "Last hour":
        return now - timedelta(hours=1), None
    if preset == "Last 24 h":
        return now - timedelta(hours=24), None
    if preset in ("Current shift", "Previous shift"):
        start, _ = shift_start(now, tz)
        if preset == "Previous shift":
            return start - timedelta(hours=8), start
        return start, None
    if preset == "Today":
        local = now.astimezone(tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0), None
    return None, None


class QtFilterBar(QWidget):
    """Emits ``changed`` (debounced) with the :class:`ReviewFilter` the controls describe."""

    changed = Signal(object)

    def __init__(self, tz: tzinfo | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.tz = tz or local_tz()
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(lambda: self.changed.emit(self.filters()))
        self.preset = self._combo(TIME_PRESETS, "Time range; shifts are 06-14, 14-22, 22-06 local time")
        self.start_edit, self.end_edit = self._datetime(), self._datetime()
        self.station, self.recipe, self.bundle = (self._combo([ANY]) for _ in range(3))
        self.verdict = self._combo([ANY, "PASS", "FAIL"])
        self.review = self._combo([ANY, *REVIEW_CHOICES.values()])
        self.defect_class = self._combo([ANY], "A model region's class or the reviewer's class")
        self.min_score, self.max_score = self._score("min"), self._score("max")
        self.serial, self.lot = self._text("Part serial from the PLC (exact)"), self._text("Lot (exact)")
        self.reset_button = QPushButton("Reset")
        self.reset_button.clicked.connect(self.reset)
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        score = QHBoxLayout()
        score.setSpacing(4)
        score.addWidget(self.min_score)
        score.addWidget(QLabel("–"))
        score.addWidget(self.max_score)
        row1 = [("Time", self.preset), ("From", self.start_edit), ("To", self.end_edit), ("Verdict", self.verdict),
                ("Review", self.review), ("Serial", self.serial)]
        row2 = [("Station", self.station), ("Recipe", self.recipe), ("Bundle", self.bundle),
                ("Class", self.defect_class), ("Score", score), ("Lot", self.lot)]
        for r, row in enumerate((row1, row2)):
            for c, (label, widget) in enumerate(row):
                grid.addWidget(QLabel(label), r, 2 * c)
                if isinstance(widget, QHBoxLayout):
                    grid.addLayout(widget, r, 2 * c + 1)
                else:
                    grid.addWidget(widget, r, 2 * c + 1)
        grid.addWidget(self.reset_button, 0, 12)
        grid.setColumnStretch(13, 1)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self._preset_changed()
        self._debounce.stop()  # the owner asks for the first filters itself

    def _combo(self, items: Any, tip: str = "") -> QComboBox:
        combo = QComboBox()
        combo.addItems(list(items))
        combo.setMinimumContentsLength(10)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setToolTip(tip)
        combo.currentIndexChanged.connect(self._touched)
        return combo

    def _text(self, tip: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText("any")
        edit.setToolTip(tip)
        edit.setMaximumWidth(150)
        edit.textChanged.connect(self._touched)
        return edit

    def _datetime(self) -> QDateTimeEdit:
        edit = QDateTimeEdit(calendarPopup=True)
        edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        edit.setDateTime(QDateTime.currentDateTime())
        edit.dateTimeChanged.connect(self._touched)
        return edit

    def _score(self, which: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(decimals=3, singleStep=0.05, minimum=-0.001, maximum=1e6)
        spin.setSpecialValueText(which)  # shown at the minimum: no bound
        spin.setValue(-0.001)
        spin.setToolTip(f"Score {'at least' if which == 'min' else 'at most'} (blank: any)")
        spin.valueChanged.connect(self._touched)
        return spin

    def _touched(self, *_args: object) -> None:
        self._debounce.start()

    def _preset_changed(self) -> None:
        custom = self.preset.currentText() == "Custom"
        self.start_edit.setEnabled(custom)
        self.end_edit.setEnabled(custom)
        self._touched()

    @staticmethod
    def _value(combo: QComboBox) -> str | None:
        return None if combo.currentIndex() <= 0 else combo.currentText()

    def filters(self, now: datetime | None = None) -> ReviewFilter:
        preset = self.preset.currentText()
        if preset == "Custom":
            start = self.start_edit.dateTime().toPython().replace(tzinfo=self.tz)  # shown in self.tz
            end = self.end_edit.dateTime().toPython().replace(tzinfo=self.tz)
        else:
            start, end = time_range(preset, now or datetime.now(UTC), self.tz)
        review = {v: k for k, v in REVIEW_CHOICES.items()}.get(self.review.currentText())
        lo, hi = self.min_score, self.max_score
        return ReviewFilter(
            start=start, end=end, station=self._value(self.station), recipe=self._value(self.recipe),
            bundle=self._value(self.bundle), verdict=self._value(self.verdict),
            min_score=None if lo.value() <= lo.minimum() else lo.value(),
            max_score=None if hi.value() <= hi.minimum() else hi.value(),
            review_status=review, defect_class=self._value(self.defect_class),
            serial=self.serial.text().strip() or None, lot=self.lot.text().strip() or None)

    def set_options(self, options: FilterOptions) -> None:
        """Fill the choices, keeping what is selected."""
        for combo, values in ((self.station, options.stations), (self.recipe, options.recipes),
                              (self.bundle, options.bundles), (self.defect_class, options.classes)):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([ANY, *values])
            combo.setCurrentIndex(max(0, combo.findText(current)))
            combo.blockSignals(False)
        if options.first and options.last:
            bounds = ((self.start_edit, options.first), (self.end_edit, options.last + timedelta(minutes=1)))
            for edit, moment in bounds:
                edit.blockSignals(True)
                edit.setDateTime(QDateTime(moment.astimezone(self.tz).replace(tzinfo=None)))
                edit.blockSignals(False)

    def select(self, combo: QComboBox, text: str) -> None:
        """Choose ``text`` in ``combo`` (tests and saved views)."""
        at = combo.findText(text)
        if at < 0:
            raise ValueError(f"{text!r} is not a choice of this filter")
        combo.setCurrentIndex(at)

    def reset(self) -> None:
        for combo in (self.preset, self.station, self.recipe, self.bundle, self.verdict, self.review,
                      self.defect_class):
            combo.setCurrentIndex(0)
        for spin in (self.min_score, self.max_score):
            spin.setValue(spin.minimum())
        for edit in (self.serial, self.lot):
            edit.clear()
        self._touched()
