"""Inspection records: what the writer journals, built from a domain Inspection, JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path

from inspector.storage.archive import ArtifactStore
from inspector.storage.records import InspectionRecord, build_record
from tests.unit.inspector.storage.factories import EPOCH, make_inspection


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    record = build_record(make_inspection(3, size=200), ArtifactStore(tmp_path))
    assert InspectionRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_record_describes_the_inspection(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    record = build_record(make_inspection(1, size=200), store, heatmap_vmax=1.0)
    assert (record.frame_id, record.camera, record.station, record.recipe, record.recipe_version) == (
        1, "cam0", "line-1", "washer", 3)
    assert (record.acquired_at, record.verdict, record.bundle_id, record.score) == (EPOCH + 1, "FAIL", "bundle-a", 0.9)
    assert (record.truth_defective, record.truth_defect, len(record.regions)) == (True, "scratch", 1)
    assert (record.image.kind, record.heatmap.kind, record.thumbnail.kind) == ("image", "heatmap", "thumbnail")
    assert (record.thumbnail.width, record.heatmap.width) == (128, 200)
    assert all(store.verify(a) for a in (record.image, record.heatmap, record.thumbnail))


def test_no_map_no_heatmap_and_unknown_truth(tmp_path: Path) -> None:
    inspection = make_inspection(2, with_map=False)
    inspection = type(inspection)(**{**inspection.__dict__, "frame": type(inspection.frame)(
        **{**inspection.frame.__dict__, "truth": None})})
    record = build_record(inspection, ArtifactStore(tmp_path))
    assert record.heatmap is None and record.truth_defective is None and record.truth_defect is None
