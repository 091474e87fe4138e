"""Review charts (pyqtgraph): yield over time, score histogram by review label, defect Pareto, what-if threshold."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QTabWidget, QVBoxLayout, QWidget

from inspector.review.aggregates import ChartsData
from inspector.review.charts_data import WhatIf, local_tz, pareto, what_if, what_if_curve, yield_by

pg.setConfigOptions(antialias=True, background="w", foreground="#1c2430")
COLOURS = {"unreviewed": "#9aa5b8", "good": "#2e8b57", "defect": "#c0392b", "bar": "#9db4d0", "line": "#1f4e79",
           "escape": "#e08a00"}
SLIDER_STEPS = 1000


def _plot(left: str, bottom: str = "") -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.showGrid(y=True, alpha=0.25)
    plot.setLabel("left", left)
    if bottom:
        plot.setLabel("bottom", bottom)
    plot.setMenuEnabled(False)
    plot.getPlotItem().hideButtons()
    for side in ("left", "bottom", "right"):
        plot.getAxis(side).enableAutoSIPrefix(False)
    return plot


def _ticks(plot: pg.PlotWidget, labels: list[str], most: int = 14) -> None:
    step = max(1, int(np.ceil(len(labels) / most)))
    plot.getAxis("bottom").setTicks([[(i, label) for i, label in enumerate(labels) if i % step == 0], []])


class QtChartsPanel(QTabWidget):
    """Call ``set_data`` with fresh :class:`ChartsData`; the panel never queries the database itself."""

    bucket_changed = Signal(str)

    def __init__(self, tz: tzinfo | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.tz = tz or local_tz()
        self.data: ChartsData | None = None
        self.last_what_if: WhatIf | None = None
        self.bucket = QComboBox()
        self.bucket.addItems(["hour", "shift", "day"])
        self.bucket.currentTextChanged.connect(self._draw_yield)
        self.yield_plot = _plot("yield %")
        self.yield_plot.addLegend(offset=(10, 10), brush=pg.mkBrush(255, 255, 255, 230))
        self.histogram_plot = _plot("inspections", "anomaly score")
        self.histogram_plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 230))
        self.pareto_plot = _plot("defects")
        self.what_if_plot = _plot("records", "image threshold")
        self.what_if_plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 230))
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=SLIDER_STEPS)
        self.slider.valueChanged.connect(self._slid)
        self.what_if_label = QLabel("No reviewed records yet.")
        self.what_if_label.setObjectName("whatIf")
        self.what_if_label.setTextFormat(Qt.TextFormat.RichText)
        self._range = (0.0, 1.0)
        self.addTab(self._tab(self.yield_plot, QLabel("Bucket:"), self.bucket), "Yield")
        self.addTab(self._tab(self.histogram_plot), "Score histogram")
        self.addTab(self._tab(self.pareto_plot), "Defect Pareto")
        what = QWidget()
        column = QVBoxLayout(what)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Threshold:"))
        row.addWidget(self.slider, 1)
        column.addLayout(row)
        column.addWidget(self.what_if_label)
        self.addTab(self._tab(self.what_if_plot, what), "What-if threshold")

    @staticmethod
    def _tab(plot: pg.PlotWidget, *extra: QWidget) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(4, 4, 4, 4)
        if extra:
            row = QHBoxLayout()
            for widget in extra:
                row.addWidget(widget, 0 if isinstance(widget, QLabel | QComboBox) else 1)
            if all(isinstance(widget, QLabel | QComboBox) for widget in extra):
                row.addStretch(1)
            layout.addLayout(row)
        layout.addWidget(plot, 1)
        return tab

    def set_data(self, data: ChartsData) -> None:
        self.data = data
        self._draw_yield()
        self._draw_histogram()
        self._draw_pareto()
        self._draw_what_if()

    def _draw_yield(self, *_args: object) -> None:
        plot = self.yield_plot
        plot.clear()
        if self.data is None:
            return
        buckets = yield_by(self.data.hours, self.bucket.currentText(), self.tz)
        x = np.arange(len(buckets))
        plot.addItem(pg.BarGraphItem(x=x, height=[b.first_pass_yield * 100 for b in buckets], width=0.7,
                                     brush=COLOURS["bar"], pen=None, name="first-pass yield"))
        plot.plot(x, [b.reviewed_yield * 100 for b in buckets], pen=pg.mkPen(COLOURS["line"], width=2),
                  symbol="o", symbolSize=5, symbolBrush=COLOURS["line"], name="yield after review")
        _ticks(plot, [b.label for b in buckets])
        plot.setYRange(0, 105, padding=0)
        plot.setXRange(-0.6, max(len(buckets) - 0.4, 0.4), padding=0)

    def _draw_histogram(self) -> None:
        plot = self.histogram_plot
        plot.clear()
        if self.data is None:
            return
        h = self.data.histogram
        centres = (h.edges[:-1] + h.edges[1:]) / 2
        width = float(h.edges[1] - h.edges[0]) * 0.92
        bottom = np.zeros(len(centres))
        names = {"unreviewed": "not reviewed", "good": "reviewed good", "defect": "reviewed defect"}
        for label, counts in h.counts.items():
            plot.addItem(pg.BarGraphItem(x=centres, y0=bottom, height=counts, width=width, brush=COLOURS[label],
                                         pen=None, name=names[label]))
            bottom = bottom + counts
        if h.threshold is not None:
            pen = pg.mkPen("#1c2430", width=2, style=Qt.PenStyle.DashLine)
            plot.addItem(pg.InfiniteLine(h.threshold, angle=90, pen=pen, label=f"threshold {h.threshold:.3g}",
                                         labelOpts={"position": 0.92, "color": "#1c2430"}))

    def _draw_pareto(self) -> None:
        plot = self.pareto_plot
        plot.clear()
        if self.data is None:
            return
        bars = pareto(self.data.defects)
        x = np.arange(len(bars))
        top = max([b.count for b in bars], default=1)
        plot.addItem(pg.BarGraphItem(x=x, height=[b.count for b in bars], width=0.65, brush=COLOURS["defect"],
                                     pen=None))
        plot.plot(x, [b.cumulative * top for b in bars], pen=pg.mkPen(COLOURS["line"], width=2), symbol="o",
                  symbolSize=5, symbolBrush=COLOURS["line"])
        right = plot.getAxis("right")
        plot.showAxis("right")
        right.setTicks([[(top * f, f"{f:.0%}") for f in (0.25, 0.5, 0.75, 1.0)], []])
        right.setLabel("cumulative")
        _ticks(plot, [f"{b.name} ({b.count})" for b in bars])
        plot.setXRange(-0.6, max(len(bars) - 0.4, 0.4), padding=0)

    def _draw_what_if(self) -> None:
        plot = self.what_if_plot
        plot.clear()
        data = self.data
        if data is None or not data.reviewed.scores:
            self.what_if_label.setText("No reviewed records in this filter: review FAILs (confirm or F) and mark "
                                       "escapes (E) to see how a new threshold would change them.")
            self.last_what_if = None
            return
        scores = np.asarray(data.reviewed.scores)
        current = data.threshold if data.threshold is not None else float(np.median(scores))
        lo, hi = float(min(scores.min(), current)), float(max(scores.max(), current))
        pad = (hi - lo) * 0.05 or 0.05
        self._range = (lo - pad, hi + pad)
        grid = np.linspace(*self._range, 200)
        fr, esc = what_if_curve(scores, data.reviewed.is_defect, grid)
        plot.plot(grid, fr, pen=pg.mkPen(COLOURS["defect"], width=2), name="false rejects")
        plot.plot(grid, esc, pen=pg.mkPen(COLOURS["escape"], width=2), name="escapes")
        plot.addItem(pg.InfiniteLine(current, angle=90, pen=pg.mkPen("#7a8391", style=Qt.PenStyle.DashLine),
                                     label="threshold now", labelOpts={"position": 0.9, "color": "#37414f"}))
        self._marker = pg.InfiniteLine(current, angle=90, pen=pg.mkPen("#1c2430", width=2))
        plot.addItem(self._marker)
        self.set_threshold(current)

    def set_threshold(self, threshold: float) -> None:
        lo, hi = self._range
        self.slider.setValue(round((threshold - lo) / (hi - lo) * SLIDER_STEPS) if hi > lo else 0)
        self._update_what_if(threshold)

    def _slid(self, value: int) -> None:
        lo, hi = self._range
        self._update_what_if(lo + (hi - lo) * value / SLIDER_STEPS)

    def _update_what_if(self, threshold: float) -> None:
        data = self.data
        if data is None or not data.reviewed.scores:
            return
        result = what_if(data.reviewed.scores, data.reviewed.is_defect, data.reviewed.thresholds, threshold)
        self.last_what_if = result
        if hasattr(self, "_marker"):
            self._marker.setValue(threshold)

        def delta(n: int) -> str:
            colour = "#1e7b45" if n < 0 else "#b3261e" if n > 0 else "#5b6573"
            return f'<span style="color:{colour}">{n:+d}</span>'

        self.what_if_label.setText(
            f"At threshold <b>{threshold:.3f}</b> on {result.reviewed} reviewed records "
            f"({result.good} good, {result.defect} defect): false rejects <b>{result.false_rejects}</b> "
            f"({delta(result.delta_false_rejects)} vs now {result.false_rejects_now}), escapes "
            f"<b>{result.escapes}</b> ({delta(result.delta_escapes)} vs now {result.escapes_now}).")
