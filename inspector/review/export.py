"""Exports of the QA review: CSV of the filtered rows, and a self-contained HTML report with charts and examples."""

from __future__ import annotations

import base64
import csv
import html
from dataclasses import dataclass, fields
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import cv2
import numpy as np

from inspector.review.charts_data import local_tz, pareto, yield_by
from inspector.review.context import ReviewContext
from inspector.review.detail import load_pictures
from inspector.review.queries import ReviewFilter, Sort
from inspector.review.report_charts import histogram_png, pareto_png, yield_png

CSV_COLUMNS = ("id", "acquired_at", "station", "recipe", "recipe_version", "bundle", "camera", "frame_id", "serial",
               "lot", "verdict", "score", "image_threshold", "review_status", "review_class", "region_class")


def write_csv(ctx: ReviewContext, path: str | Path, filters: ReviewFilter | None = None,
              sort: Sort | None = None) -> int:
    """Every row matching ``filters`` (streamed page by page); returns the number of rows written."""
    written = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(CSV_COLUMNS)
        for row in ctx.queries.iter_rows(filters, sort):
            values = {f.name: getattr(row, f.name) for f in fields(row)}
            values["acquired_at"] = row.acquired_at.isoformat()
            out.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
            written += 1
    return written


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    total: int
    failed: int
    false_rejects: int
    escapes: int
    examples: int

    @property
    def yield_(self) -> float:
        return (self.total - self.failed) / self.total if self.total else float("nan")


def describe(filters: ReviewFilter, tz: tzinfo) -> str:
    parts = []
    if filters.start or filters.end:
        fmt = "%Y-%m-%d %H:%M"
        start = filters.start.astimezone(tz).strftime(fmt) if filters.start else "…"
        end = filters.end.astimezone(tz).strftime(fmt) if filters.end else "…"
        parts.append(f"{start} – {end}")
    for f in fields(filters):
        value = getattr(filters, f.name)
        if value is not None and f.name not in ("start", "end"):
            parts.append(f"{f.name.replace('_', ' ')} = {value}")
    return "; ".join(parts) or "all inspections"


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def example_png(picture: np.ndarray, boxes: list[tuple[int, int, int, int]], side: int = 240) -> bytes:
    rgb = picture if picture.ndim == 3 else cv2.cvtColor(picture, cv2.COLOR_GRAY2RGB)
    rgb = np.ascontiguousarray(rgb)
    thickness = max(1, round(max(rgb.shape[:2]) / 200))
    for x, y, w, h in boxes:
        cv2.rectangle(rgb, (x, y), (x + w - 1, y + h - 1), (255, 40, 40), thickness)
    scale = side / max(rgb.shape[:2])
    if scale < 1:
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _examples(ctx: ReviewContext, filters: ReviewFilter, n: int, tz: tzinfo) -> list[str]:
    cards = []
    for row in ctx.queries.page(filters.with_(verdict="FAIL"), Sort("score", True), limit=n).rows:
        detail = ctx.detail(row.id)
        pictures = load_pictures(ctx.store, detail) if detail else None
        picture = pictures and (pictures.heatmap if pictures.heatmap is not None else pictures.image)
        if detail is None or picture is None:
            continue
        boxes = [(g.x, g.y, g.width, g.height) for g in detail.regions]
        caption = (f"#{row.id} · {row.acquired_at.astimezone(tz):%m-%d %H:%M} · score {row.score:.3f}<br>"
                   f"{html.escape(row.defect_class or '—')} · {html.escape(row.review_status.replace('_', ' '))}")
        cards.append(f'<figure>{_img(example_png(picture, boxes), f"inspection {row.id}")}'
                     f"<figcaption>{caption}</figcaption></figure>")
    return cards


STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:24px 32px;color:#1c2430;background:#fff}
h1{font-size:22px;margin:0}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d6dbe3;padding-bottom:4px}
.meta{color:#5b6573}.tiles{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}
.tile{border:1px solid #d6dbe3;border-radius:6px;padding:8px 14px;min-width:110px}
.tile b{display:block;font-size:20px}.tile span{color:#5b6573;font-size:12px}
.charts img{max-width:100%;display:block;margin:8px 0}.grid{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;border:1px solid #d6dbe3;border-radius:6px;padding:6px;font-size:12px}
table{border-collapse:collapse}td,th{border-bottom:1px solid #e3e7ee;padding:3px 12px;text-align:right}
td:first-child,th:first-child{text-align:left}"""


def write_html_report(ctx: ReviewContext, path: str | Path, filters: ReviewFilter | None = None, *,
                      title: str = "Inspection report", by: str = "hour", tz: tzinfo | None = None,
                      examples: int = 6) -> ReportSummary:
    """One self-contained HTML file: counts, yield, charts (PNG, base64) and example FAIL images."""
    filters, tz = filters or ReviewFilter(), tz or local_tz()
    data = ctx.charts.all(filters)
    buckets = yield_by(data.hours, by, tz)
    bars = pareto(data.defects)
    total, failed = data.total, data.failed
    fr, esc = sum(h.false_rejects for h in data.hours), sum(h.escapes for h in data.hours)
    pct = (lambda v: f"{v:.1%}") if total else (lambda v: "—")
    tiles = [("inspected", f"{total:,}"), ("pass", f"{total - failed:,}"), ("fail", f"{failed:,}"),
             ("first-pass yield", pct((total - failed) / max(total, 1))), ("false rejects", f"{fr:,}"),
             ("escapes", f"{esc:,}"), ("yield after review", pct((total - failed + fr - esc) / max(total, 1)))]
    cards = _examples(ctx, filters, examples, tz)
    charts = []
    if buckets:
        charts.append(_img(yield_png(buckets), "yield over time"))
    if data.histogram.total:
        charts.append(_img(histogram_png(data.histogram), "score histogram"))
    if bars:
        charts.append(_img(pareto_png(bars), "defect Pareto"))
    rows = "".join(f"<tr><td>{html.escape(b.name)}</td><td>{b.count:,}</td><td>{b.cumulative:.0%}</td></tr>"
                   for b in bars)
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="meta">{html.escape(describe(filters, tz))} · generated {datetime.now(UTC).astimezone(tz):%Y-%m-%d %H:%M}
by {html.escape(ctx.reviewer)}</div>
<div class="tiles">{"".join(f'<div class="tile"><b>{v}</b><span>{k}</span></div>' for k, v in tiles)}</div>
<h2>Charts</h2><div class="charts">{"".join(charts) or "<p>No data.</p>"}</div>
<h2>Defects by class</h2><table><tr><th>class</th><th>count</th><th>cumulative</th></tr>{rows}</table>
<h2>Example FAIL images (highest scores)</h2><div class="grid">{"".join(cards) or "<p>None.</p>"}</div>
</body></html>
"""
    Path(path).write_text(body, encoding="utf-8")
    return ReportSummary(Path(path), total, failed, fr, esc, len(cards))
