"""Review charts as PNG bytes through matplotlib's Agg canvas (no GUI backend, no global state touched)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from inspector.review.charts_data import Histogram, ParetoBar, YieldBucket

COLOURS = {"unreviewed": "#8a94a6", "good": "#2e8b57", "defect": "#c0392b", "line": "#1f4e79"}


def _figure(width: float = 7.0, height: float = 3.0):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # matplotlib ships with the [train] extra
        raise RuntimeError("the HTML report needs matplotlib (pip install 'inspector[train]')") from exc
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _axes(figure, title: str):
    ax = figure.add_subplot()
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def yield_png(buckets: Sequence[YieldBucket]) -> bytes:
    figure = _figure()
    ax = _axes(figure, "Yield over time")
    x = np.arange(len(buckets))
    ax.bar(x, [b.first_pass_yield * 100 for b in buckets], color="#9db4d0", label="first-pass yield")
    ax.plot(x, [b.reviewed_yield * 100 for b in buckets], color=COLOURS["line"], marker="o", ms=3,
            label="yield after review")
    step = max(1, len(buckets) // 12)
    ax.set_xticks(x[::step], [b.label for b in buckets][::step], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, loc="lower left")
    return _png(figure)


def histogram_png(histogram: Histogram) -> bytes:
    figure = _figure()
    ax = _axes(figure, "Score histogram by review label")
    centres = (histogram.edges[:-1] + histogram.edges[1:]) / 2
    width = float(histogram.edges[1] - histogram.edges[0])
    bottom = np.zeros_like(centres)
    for label, counts in histogram.counts.items():
        ax.bar(centres, counts, width=width * 0.95, bottom=bottom, color=COLOURS[label], label=label)
        bottom = bottom + counts
    if histogram.threshold is not None:
        ax.axvline(histogram.threshold, color="black", ls="--", lw=1, label=f"threshold {histogram.threshold:.3g}")
    ax.set_xlabel("anomaly score")
    ax.legend(fontsize=7)
    return _png(figure)


def pareto_png(bars: Sequence[ParetoBar]) -> bytes:
    figure = _figure()
    ax = _axes(figure, "Defect Pareto")
    x = np.arange(len(bars))
    ax.bar(x, [b.count for b in bars], color=COLOURS["defect"])
    ax.set_xticks(x, [b.name for b in bars], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("defects")
    right = ax.twinx()
    right.plot(x, [b.cumulative * 100 for b in bars], color=COLOURS["line"], marker="o", ms=3)
    right.set_ylim(0, 105)
    right.set_ylabel("cumulative %")
    return _png(figure)
