"""The live view and the review QA sees draw the same frame and model output with the same pixels.

The archive keeps the anomaly map (16 bits per pixel, relative to the pixel threshold), not a rendered overlay; the
review draws it with the live view's renderer. So the pictures agree up to that rounding: a pixel may land one
colour-map step away (a few grey levels at half opacity), and almost every pixel is identical.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from inspector.gui.qt_frames import compose_overlay
from inspector.render import DEFAULT_OPACITY
from inspector.review.detail import load_pictures
from inspector.storage.archive import ArtifactStore
from inspector.storage.records import build_record
from tests.unit.inspector.storage.factories import make_inspection


def test_live_view_and_review_give_the_same_overlay_pixels_within_the_maps_rounding(tmp_path: Path) -> None:
    inspection = make_inspection(3, size=96)  # a random frame, a random map with its pixel threshold (0.4)
    inspection = replace(inspection, decision=replace(inspection.decision, regions=()))  # boxes are drawn live only
    live_bgra = compose_overlay(inspection, heatmap=True, opacity=DEFAULT_OPACITY, size=None)
    live = np.ascontiguousarray(live_bgra[..., 2::-1])
    store = ArtifactStore(tmp_path)
    record = build_record(inspection, store)
    detail = SimpleNamespace(image=record.image.relpath, heatmap=record.heatmap.relpath,
                             heatmap_kind=record.heatmap.kind, artifacts=record.artifacts, artifacts_error=None)
    reviewed = load_pictures(store, detail).heatmap  # what the review's detail view and HTML report show
    assert reviewed.shape == live.shape == (96, 96, 3)
    off = np.abs(live.astype(int) - reviewed)
    assert off.max() <= 3 and (off == 0).mean() > 0.99
    assert np.abs(reviewed.astype(int) - inspection.frame.image).max() > 50  # the heat is there


def test_another_pixel_threshold_gives_another_picture(tmp_path: Path) -> None:
    inspection = make_inspection(3, size=96)
    inspection = replace(inspection, decision=replace(inspection.decision, regions=()))
    stricter = replace(inspection, outputs=(replace(inspection.outputs[0], pixel_threshold=0.9),))
    assert not np.array_equal(compose_overlay(inspection, size=None), compose_overlay(stricter, size=None))
