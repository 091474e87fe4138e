"""The live view and the archive QA sees draw the same frame and model output with the same pixels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from inspector.gui.qt_frames import compose_overlay
from inspector.render import DEFAULT_OPACITY
from inspector.storage.archive import ArtifactStore
from inspector.storage.records import build_record
from tests.unit.inspector.storage.factories import make_inspection


def test_live_view_and_archive_give_identical_overlay_pixels(tmp_path: Path) -> None:
    inspection = make_inspection(3, size=96)  # a random frame, a random map with its pixel threshold (0.4)
    inspection = replace(inspection, decision=replace(inspection.decision, regions=()))  # boxes are drawn live only
    live_bgra = compose_overlay(inspection, heatmap=True, opacity=DEFAULT_OPACITY, size=None)
    live = np.ascontiguousarray(live_bgra[..., 2::-1])
    store = ArtifactStore(tmp_path)
    archived = store.read_png(build_record(inspection, store).heatmap)
    assert archived.shape == live.shape == (96, 96, 3)
    assert np.array_equal(live, archived)
    assert not np.array_equal(archived, inspection.frame.image)  # the heat is there


def test_another_pixel_threshold_gives_another_picture(tmp_path: Path) -> None:
    inspection = make_inspection(3, size=96)
    inspection = replace(inspection, decision=replace(inspection.decision, regions=()))
    stricter = replace(inspection, outputs=(replace(inspection.outputs[0], pixel_threshold=0.9),))
    assert not np.array_equal(compose_overlay(inspection, size=None), compose_overlay(stricter, size=None))
