"""The review's pictures on SQLite and PostgreSQL: the stored anomaly map drawn as the live view drew it, older
overlays as they were stored, and a picture the archive policy did not keep or the quota evicted said so."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import update

from inspector.render import DEFAULT_OPACITY, heatmap_of, overlay
from inspector.review.context import ReviewContext
from inspector.review.export import example_png, write_html_report
from inspector.storage.orm import InspectionRow
from inspector.storage.quota import evict
from inspector.storage.records import build_record, core_record, store_artifacts
from tests.integration.review.conftest import _empty
from tests.unit.inspector.review.factories import fill, make_record
from tests.unit.inspector.storage.factories import make_inspection


@pytest.fixture
def ctx(backend_url: str, tmp_path: Path) -> Iterator[ReviewContext]:
    _empty(backend_url)
    context = ReviewContext(backend_url, "qa", tmp_path / "archive", migrate=False)
    yield context
    context.close()


def _off(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int))


def test_the_review_draws_the_stored_map_as_the_live_view_did_and_old_overlays_as_stored(
        ctx: ReviewContext, tmp_path: Path) -> None:
    inspection = make_inspection(3, size=96)  # a FAIL with a random map and its pixel threshold (0.4)
    record = build_record(inspection, ctx.store)
    old = make_record(3, ctx.store)  # a FAIL from before 0006: its overlay rendered at frame size
    ids = fill(ctx.sessions, [record, old])

    detail, pictures = ctx.detail_with_pictures(ids[record.uid])
    assert (detail.heatmap_kind, detail.artifacts, pictures.error) == ("anomaly_map", "written", None)
    live = overlay(inspection.frame.image, *heatmap_of(inspection.outputs), opacity=DEFAULT_OPACITY)
    off = _off(pictures.heatmap, live)
    assert off.max() <= 3 and (off == 0).mean() > 0.99  # the live picture, up to the map's rounding
    assert _off(pictures.heatmap, inspection.frame.image).max() > 50  # and the heat is there

    detail, pictures = ctx.detail_with_pictures(ids[old.uid])
    assert detail.heatmap_kind == "heatmap" and pictures.error is None
    assert np.array_equal(pictures.heatmap, ctx.store.read_png(old.heatmap))

    with ctx.sessions() as session, session.begin():  # the report's example: the newest record only
        session.execute(update(InspectionRow).where(InspectionRow.uid == old.uid).values(verdict="PASS"))
    summary = write_html_report(ctx, tmp_path / "report.html", examples=3)
    assert summary.examples == 1
    found = re.search(r'alt="inspection \d+" src="data:image/png;base64,([^"]+)"', summary.path.read_text())
    drawn = cv2.cvtColor(cv2.imdecode(np.frombuffer(base64.b64decode(found[1]), np.uint8), cv2.IMREAD_COLOR),
                         cv2.COLOR_BGR2RGB)
    boxes = [(g.x, g.y, g.width, g.height) for g in record.regions]
    expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(example_png(live, boxes), np.uint8), cv2.IMREAD_COLOR),
                            cv2.COLOR_BGR2RGB)
    off = _off(drawn, expected)
    assert off.max() <= 3 and (off == 0).mean() > 0.99


def test_the_review_says_why_a_picture_is_not_there(ctx: ReviewContext) -> None:
    sampled_out = make_inspection(2, size=96)
    not_kept = store_artifacts(core_record(sampled_out), sampled_out, ctx.store, keep_images=False,
                               not_kept_why="archive policy keeps 1 PASS image in 50")
    kept_pass = build_record(make_inspection(4, size=96), ctx.store)
    failed = build_record(make_inspection(5), ctx.store)
    ids = fill(ctx.sessions, [not_kept, kept_pass, failed])

    detail, pictures = ctx.detail_with_pictures(ids[not_kept.uid])
    assert (detail.image, detail.heatmap, detail.artifacts) == (None, None, "not_kept")
    assert pictures.image is None and pictures.error == "image not kept: archive policy keeps 1 PASS image in 50"

    done = evict(ctx.sessions, ctx.store, "line-1", 0)
    assert done.passes == 2 and done.reviewed == 0
    detail, pictures = ctx.detail_with_pictures(ids[kept_pass.uid])
    assert (detail.image, detail.heatmap, detail.artifacts) == (None, None, "evicted")
    assert pictures.image is None and pictures.heatmap is None
    assert pictures.error.startswith("image evicted by quota: evicted by the archive quota at ")
    detail, pictures = ctx.detail_with_pictures(ids[failed.uid])  # an unreviewed FAIL keeps its pictures
    assert detail.artifacts == "written" and pictures.error is None and pictures.heatmap is not None
